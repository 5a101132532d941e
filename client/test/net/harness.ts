/**
 * A chat client over the fake platform (platform/fake.ts), signed in as Alice, for the tests that
 * drive its socket frame by frame as the server would.
 */
import { createFakePlatform, type FakeSocket } from '../../platform/fake'
import { createChatStore } from '../../store/store'
import { ALICE, authResponse, welcome } from '../fixtures'
import { Auth, AUTH_STORAGE_KEY } from '../../net/auth'
import { ChatClient } from '../../net/chat-client'

/** Let what the client awaits (storage, timers at 0) run. */
export const settle = () => new Promise<void>((r) => setTimeout(r, 0))

export type SignedIn = ReturnType<typeof signedIn>

/** A client with Alice's session in storage, not started. */
export function signedIn() {
  const p = createFakePlatform()
  p.storage.set(AUTH_STORAGE_KEY, { session: authResponse(ALICE, p.timers.now()), issuedAt: p.timers.now() })
  const store = createChatStore()
  const auth = new Auth({ baseUrl: 'http://bff.test', http: p.http, storage: p.storage, timers: p.timers, renewMarginMs: 60_000 })
  const client = new ChatClient({ platform: p, store, auth, baseUrl: 'http://bff.test', random: () => 0.5 })
  return { p, store, client, auth }
}

/** The client's next socket, opened and welcomed: its first (started here), or the one after `previous` drops. */
export async function welcomed(h: SignedIn, previous?: FakeSocket): Promise<FakeSocket> {
  if (previous) {
    previous.drop(1006)
    h.p.timers.advance(10_000)
  } else h.client.start()
  await settle()
  const s = h.p.transport.last
  s.open()
  s.push(welcome())
  return s
}
