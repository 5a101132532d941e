/**
 * Every member of a group, a page of LIMITS.maxPageSize at a time (`members {conv, after, limit}`):
 * what the mention picker offers when the list named the group's first members only (version 3;
 * PROTOCOL.md, Conversation list).
 */
import { LIMITS, type ClientFrameOf, type ConvId, type ServerFrame, type ServerFrameOf, type User } from '@chat/shared'

/** How a page is asked: ChatClient.sendRequest. */
export type SendMembers = (frame: Omit<ClientFrameOf<'members'>, 'rid'>) => Promise<ServerFrame>

/**
 * Ask `conv`'s pages in turn; `onPage` gets the members so far after each. Stops once `cancelled()`
 * (the picker closed); rejects with the first failure.
 */
export async function loadAllMembers(send: SendMembers, conv: ConvId, onPage: (members: readonly User[]) => void, cancelled: () => boolean = () => false): Promise<void> {
  let members: readonly User[] = []
  let after: number | undefined = 0
  while (after !== undefined && !cancelled()) {
    const f = (await send({ type: 'members', conv, after, limit: LIMITS.maxPageSize })) as ServerFrameOf<'members'>
    if (cancelled()) return
    members = [...members, ...f.items.map((m) => m.user)]
    onPage(members)
    // A cursor that does not move on ends it: never a loop of requests.
    after = f.next !== undefined && f.next > after ? f.next : undefined
  }
}
