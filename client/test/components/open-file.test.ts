import { describe, expect, it } from 'vitest'
import { openFileWith, type OpenFileApi } from '../../components/open-file'

function fakeApi(h5: boolean, download: { statusCode: number; tempFilePath: string } | Error = { statusCode: 200, tempFilePath: 'wxfile://tmp/1.pdf' }) {
  const calls: string[] = []
  const api: OpenFileApi = {
    h5,
    openTab: (url) => void calls.push(`tab ${url}`),
    downloadFile: async (url) => {
      calls.push(`download ${url}`)
      if (download instanceof Error) throw download
      return download
    },
    openDocument: async (path, type) => void calls.push(`open ${path} ${type}`),
    toast: (t) => void calls.push(`toast ${t}`),
    busy: (on) => void calls.push(`busy ${on}`),
  }
  return { api, calls }
}

const URL_ = 'https://bff.test/files/abc'

describe('opening a file message', () => {
  it('h5: opens the URL in a new tab at once (the browser shows a PDF in its viewer)', async () => {
    const { api, calls } = fakeApi(true)
    expect(await openFileWith(api, URL_, { name: 'minutes.pdf', mime: 'application/pdf' })).toBe('tab')
    expect(calls).toEqual([`tab ${URL_}`])
  })

  it('weapp: downloads, then openDocument with the type the server found in the content', async () => {
    const { api, calls } = fakeApi(false)
    expect(await openFileWith(api, URL_, { name: 'looks-like.docx', mime: 'application/pdf' })).toBe('opened')
    expect(calls).toEqual(['busy true', `download ${URL_}`, 'open wxfile://tmp/1.pdf pdf', 'busy false'])
  })

  it('weapp: a type openDocument cannot show is named, not downloaded', async () => {
    const { api, calls } = fakeApi(false)
    expect(await openFileWith(api, URL_, { name: 'notes.txt', mime: 'text/plain' })).toBe('unsupported')
    expect(calls).toEqual(['toast Cannot open this file type here'])
  })

  it('weapp: a failed download says so and ends the busy state', async () => {
    for (const res of [{ statusCode: 404, tempFilePath: '' }, new Error('downloadFile:fail')]) {
      const { api, calls } = fakeApi(false, res)
      expect(await openFileWith(api, URL_, { name: 'a.pdf', mime: 'application/pdf' })).toBe('failed')
      expect(calls).toEqual(['busy true', `download ${URL_}`, 'toast Could not open the file', 'busy false'])
    }
  })
})
