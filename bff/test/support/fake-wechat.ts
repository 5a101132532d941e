/**
 * A local fake of the WeChat server APIs the BFF uses (stable_token, msg_sec_check,
 * subscribe/send), on a port from 0. Each endpoint answers from a script of queued answers, then
 * from its default; every request is recorded (path, query, body) so a test asserts what was sent.
 * Tokens are issued as T1, T2, ...; an API call with a token not issued, or one `expire`d, gets
 * 40001, as WeChat answers.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** The request bodies the tests read, per API, with the fields WeChat's API documentation gives them. */
export interface WxRequestBodies {
  '/cgi-bin/stable_token': { grant_type: string; appid: string; secret: string; force_refresh: boolean }
  '/wxa/msg_sec_check': { version: number; openid: string; scene: number; content: string }
  '/wxa/media_check_async': { media_url: string; media_type: number; version: number; scene: number; openid: string }
  // data: the fields of the new-message template the tests configure.
  '/cgi-bin/message/subscribe/send': { touser: string; template_id: string; page: string; miniprogram_state: string; data: Record<'thing1' | 'thing2' | 'time3', { value: string }> }
}

/** GET /admin/flags and /admin/reports: the list asked for, each entry as the BFF recorded it. */
export interface AdminLists {
  flags: Record<string, unknown>[]
  reports: Record<string, unknown>[]
}

/** A body as `of(path)` types it: the API's own when the tests read it, otherwise unknown. */
export type BodyOf<P extends string> = P extends keyof WxRequestBodies ? WxRequestBodies[P] : unknown

export interface FakeCall<B = unknown> {
  readonly path: string
  readonly query: Record<string, string>
  readonly body: B
  /** The caller's port: which of its connections the call came on. */
  readonly port: number
}

const UNTOKENED = new Set(['/cgi-bin/stable_token', '/sns/jscode2session'])

type Answer = Record<string, unknown> | ((call: FakeCall) => Record<string, unknown> | Promise<Record<string, unknown>>)

export class FakeWeChat {
  readonly calls: FakeCall[] = []
  readonly valid = new Set<string>()
  private issued = 0
  private readonly scripts = new Map<string, Answer[]>()
  private readonly defaults = new Map<string, Answer>()
  /** expires_in of the next tokens, seconds. */
  expiresIn = 7200
  url = ''
  private readonly server = createServer((req, res) => {
    let raw = ''
    req.on('data', (c: Buffer) => (raw += c.toString()))
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x')
      const call: FakeCall = { path: u.pathname, query: Object.fromEntries(u.searchParams), body: raw ? (JSON.parse(raw) as unknown) : undefined, port: req.socket.remotePort ?? 0 }
      this.calls.push(call)
      void this.answer(call).then((json) => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(json))
      })
    })
  })

  constructor() {
    this.defaults.set('/cgi-bin/stable_token', () => this.issue())
    this.defaults.set('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'pass', label: 100 } })
    this.defaults.set('/cgi-bin/message/subscribe/send', { errcode: 0, errmsg: 'ok' })
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((r) => this.server.close(r))
  }

  /** Queue answers for `path`, used once each before its default. */
  script(path: string, ...answers: Answer[]): void {
    this.scripts.set(path, [...(this.scripts.get(path) ?? []), ...answers])
  }

  setDefault(path: string, answer: Answer): void {
    this.defaults.set(path, answer)
  }

  /** A new token, as stable_token answers. */
  issue(): Record<string, unknown> {
    const token = `T${++this.issued}`
    this.valid.add(token)
    return { access_token: token, expires_in: this.expiresIn }
  }

  /** WeChat forgets `token`: calls with it get 40001. */
  expire(token: string): void {
    this.valid.delete(token)
  }

  of<P extends string>(path: P): FakeCall<BodyOf<P>>[] {
    return this.calls.filter((c) => c.path === path) as FakeCall<BodyOf<P>>[]
  }

  private async answer(call: FakeCall): Promise<Record<string, unknown>> {
    // stable_token and code2session are called with the app's id and secret, every other API with a token.
    if (!UNTOKENED.has(call.path) && !this.valid.has(call.query.access_token ?? '')) {
      return { errcode: 40001, errmsg: 'invalid credential, access_token is invalid or not latest' }
    }
    const queued = this.scripts.get(call.path)
    const a = queued?.shift() ?? this.defaults.get(call.path)
    if (!a) return { errcode: 404, errmsg: 'no such api in the fake' }
    return typeof a === 'function' ? a(call) : a
  }
}
