/**
 * The contacts page of the built mini-program under the fake host, against a real BFF: Bob (a
 * plain WebSocket peer) sends Alice a request with a note, Alice accepts it on her contacts page
 * and sees Bob online; she reports him from his row (the reason sheet, the notice, the report the
 * BFF stores); she chooses "contacts only", and a stranger's 1:1 is refused NOT_CONTACT while Bob's
 * is not.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { randomId } from '@chat/shared'
import type { ServerFrame } from '@chat/shared'
import { startBff, type TestBff } from './bff'
import { hostFor, waitFor } from './harness'
import { devLogin } from '../../bff/test/support/client'
import { Peer } from './peer'
import { en } from '../../client/i18n/messages'
import { REPORT_REASONS } from '../../client/net/moderation'
import type { MiniHost } from './weapp-host'

/** The admin API's credential of this BFF (reports are read through it). */
const ADMIN = 'e2e-admin-token-0123456789'

let bff: TestBff
let host: MiniHost | undefined
const peers: Peer[] = []

beforeAll(async () => {
  bff = await startBff({ ADMIN_TOKEN: ADMIN })
})
afterEach(() => {
  host?.close()
  host = undefined
  for (const p of peers.splice(0)) p.close()
})
afterAll(async () => {
  await bff?.close()
})

async function openDirect(peer: Peer, other: string): Promise<ServerFrame> {
  const rid = randomId(10)
  peer.raw({ type: 'conv.create', rid, kind: 'direct', members: [other] })
  return peer.next((f) => (f.type === 'conv' || f.type === 'error') && (f as { rid?: string }).rid === rid)
}

describe('weapp contacts page under the fake host, real BFF', () => {
  it('accepts a request with its note, shows the contact online, and keeps strangers out when contacts only', async () => {
    const auth = await devLogin(bff.url, 'wca', 'Alice')
    const bob = await Peer.connect(bff.url, 'wcb', 'Bob')
    const stranger = await Peer.connect(bff.url, 'wcs', 'Sam')
    peers.push(bob, stranger)
    bob.raw({ type: 'relation', rid: 'r1', op: 'request', user: 'wca', note: 'Bob from accounting' })
    await bob.next((f) => f.type === 'relation' && f.rid === 'r1')

    const h = (host = hostFor(bff.url, auth))
    h.launch()
    h.open('pages/index/index')
    await waitFor(() => h.byId('open-contacts'), 'the contacts button')
    h.tap('open-contacts')
    await waitFor(() => h.top?.route === 'pages/contacts/index' && h.text().includes('Bob from accounting'), 'the request with its note')
    h.tap('accept-wcb')
    const told = await bob.next((f) => f.type === 'relation' && f.rid === undefined && f.entry.state === 'contact')
    expect(told.type === 'relation' && told.entry.user.id).toBe('wca')
    await waitFor(() => h.byId('rel-wcb') && h.text(h.byId('rel-wcb')).includes('online') && !h.byId('requests'), 'Bob among the contacts, online')

    // Report on Bob's row: WeChat's action sheet with the message report's reasons, then the notice.
    h.sheetTaps.push(REPORT_REASONS.indexOf('fraud'))
    h.tap('report-wcb')
    await waitFor(() => h.toasts.includes(en['report.done']), 'the report notice')
    expect(h.sheets.at(-1)).toEqual(REPORT_REASONS.map((r) => en[`report.reason.${r}`]))
    const listed = await fetch(`${bff.url}/admin/reports`, { headers: { authorization: `Bearer ${ADMIN}` } })
    expect(((await listed.json()) as { reports: unknown[] }).reports).toMatchObject([{ reporter: 'wca', target: 'user', user: 'wcb', reason: 'fraud' }])

    // The switch shows the setting the server answered with, so once it is on, the setting is stored.
    // (The weapp template names a Switch's `checked` p0.)
    expect(h.byId('contacts-only')?.p0).toBe(false)
    h.fire('contacts-only', 'change', { value: true })
    await waitFor(() => h.byId('contacts-only')?.p0 === true, 'the switch on')
    expect(await openDirect(stranger, 'wca')).toMatchObject({ type: 'error', code: 'NOT_CONTACT' })
    expect(await openDirect(bob, 'wca')).toMatchObject({ type: 'conv' })
  })
})
