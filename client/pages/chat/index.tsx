/**
 * A conversation: header line (presence / typing, in its own CustomWrapper so it never re-renders
 * the list), the virtualized message list, and the composer (Composer.tsx; the weapp "notify me"
 * banner is SubscribeBanner.tsx).
 */
import { CustomWrapper, Text, View } from '@tarojs/components'
import Taro, { useDidHide, useDidShow, useRouter } from '@tarojs/taro'
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import type { ConvId, FileBody } from '@chat/shared'
import { MessageRow } from '../../components/MessageRow'
import { openFile, previewImages } from '../../components/media'
import { goBack, goTo } from '../../components/nav'
import { ConnectionBanner } from '../../components/StatusBar'
import { chatTime, fitName, fitTitle, lastSeen } from '../../format'
import { errorText, setPageTitle, t } from '../../i18n'
import { usePageGate } from '../../hooks'
import { ChatList, type ChatListHandle } from '../../list/ChatList'
import { estimateRow, previousShown, showTime, type EstimateContext } from '../../list/estimate'
import type { ListView } from '../../list/virtual-list'
import { client, moderation, store } from '../../services'
import { chooseAction } from '../../components/dialog'
import { reportMessageFromMenu } from '../../components/report'
import { GateProvider, useGate, useShallow, useStore } from '../../store/react'
import { convTitle, displayStatus, hasOlder, inPlace, memberCountOf, otherMember, systemText, typingUsers } from '../../store/selectors'
import type { ChatMessage } from '../../store/types'
import { localQuote } from '../../store/reply'
import { setReply } from '../../store/compose'
import { Composer } from './Composer'
import { SubscribeBanner } from './SubscribeBanner'
import { ForwardSheet, canForward } from './ForwardSheet'
import { quoteProps, useQuoteJump } from './quotes'
import './index.css'

const EMPTY: readonly ChatMessage[] = []
/** "Jump to first unread" pages back at most this many history pages to find it. */
const JUMP_MAX_PAGES = 40
const isH5 = process.env.TARO_ENV === 'h5'
const NO_LINE = { text: '', typing: false }

export default function ChatPage() {
  const gate = usePageGate()
  const conv = decodeURIComponent(useRouter().params.conv ?? '')
  // The message being forwarded: the sheet that picks where to is open while it is set.
  const [forwarding, setForwarding] = useState<ChatMessage | undefined>(undefined)
  const openForward = useCallback((m: ChatMessage) => {
    // weapp: a focused textarea is drawn natively, above every view (the sheet too); unfocused it is not.
    if (!isH5) Taro.hideKeyboard().catch(() => undefined)
    setForwarding(m)
  }, [])
  const closeForward = useCallback(() => setForwarding(undefined), [])
  return (
    <GateProvider gate={gate}>
      <View className='cp-page'>
        <CustomWrapper>
          <ConnectionBanner />
          <ChatHeader conv={conv} />
        </CustomWrapper>
        {moderation.available ? <SubscribeBanner /> : null}
        <Messages conv={conv} onForward={openForward} />
        <Composer conv={conv} />
        {forwarding ? <ForwardSheet m={forwarding} onClose={closeForward} /> : null}
      </View>
    </GateProvider>
  )
}

/**
 * The title and the line under it: presence or typing of the others. The page title is set through
 * the navigation bar (no setData); h5 has no native bar, so the title is in the header there.
 */
function ChatHeader({ conv }: { conv: ConvId }) {
  const gate = useGate()
  const title = useStore(gate, (s) => (s.convs[conv] ? convTitle(s.convs[conv], s.me?.id, t) : ''))
  const kind = useStore(gate, (s) => s.convs[conv]?.kind)
  const isGroup = kind === 'group'
  /** A group we are no longer in: no member count, and no way into an info page the server refuses. */
  const ended = useStore(gate, (s) => s.ended?.[conv] !== undefined)
  // A group's title carries its member count, as WeChat's does: "周末爬山(4)", in every language.
  const count = useStore(gate, (s) => (s.convs[conv]?.kind === 'group' && !s.ended?.[conv] ? `(${memberCountOf(s.convs[conv])})` : ''))
  const openDirect = () => goTo(`/pages/dm/index?conv=${encodeURIComponent(conv)}`)
  const openGroup = () => goTo(`/pages/group/index?conv=${encodeURIComponent(conv)}`)
  useEffect(() => {
    // weapp's bar cuts a long title at its end, the count with it: the name is cut here instead.
    if (title) void Taro.setNavigationBarTitle({ title: isH5 ? title + count : fitTitle(title, count, navTitleWidthPx(), NAV_TITLE_FONT_PX) })
    else setPageTitle('title.chat')
  }, [title, count])
  const line = useStore(gate, useShallow((s): { text: string; typing: boolean } => {
    const c = s.convs[conv]
    if (!c) return NO_LINE
    const typing = typingUsers(s, conv, Date.now()).filter((u) => u !== s.me?.id)
    if (typing.length > 0) {
      if (c.kind === 'direct') return { text: t('chat.typing'), typing: true }
      return { text: t('chat.groupTyping', { names: typing.map((u) => s.users[u]?.name ?? u).join(t('chat.listSep')) }), typing: true }
    }
    // A group's count is in its title: no line of its own, as in WeChat.
    if (c.kind === 'group') return NO_LINE
    const other = otherMember(c, s.me?.id)
    const p = other ? s.presence[other.id] : undefined
    // Offline, what we knew of the peer is stale: say nothing rather than something untrue.
    if (!p || s.conn.state !== 'connected') return NO_LINE
    return { text: p.online ? t('chat.online') : lastSeen(p.lastSeen, Date.now(), t), typing: false }
  }))
  // A chat's info page (a group's members, roles, add, remove, leave...; a 1:1's person, mute, pin,
  // report) opens from "⋯" on h5. weapp has a native navigation bar with no room for it: the line
  // under it is the way in there, so it says so when there is nothing else to show.
  const info = isGroup ? (ended ? undefined : { id: 'group-info', label: t('group.info'), open: openGroup }) : kind === 'direct' ? { id: 'dm-info', label: t('dm.info'), open: openDirect } : undefined
  const text = !isH5 && info && !line.text ? info.label : line.text
  const lineLink = isH5 ? undefined : info
  const row = useRef<unknown>(null)
  const name = useFittedName(row, title, count)
  if (!isH5 && !text) return null
  return (
    <View className={isH5 ? 'ch ch-h5' : 'ch'}>
      {isH5 ? (
        <View className='ch-row' ref={row}>
          <View className='ch-back' role='button' aria-label={t('a11y.back')} onClick={goBack}>
            ‹
          </View>
          {/* The name gives way to a long title; the count stays whole beside it. */}
          <Text className='ch-title'>{name}</Text>
          {count ? <Text className='ch-count'>{count}</Text> : null}
          {info ? (
            <View className='ch-more' id={info.id} role='button' aria-label={info.label} onClick={info.open}>
              ⋯
            </View>
          ) : null}
        </View>
      ) : null}
      {text ? (
        <View id={lineLink?.id} role={lineLink ? 'link' : undefined} aria-label={lineLink?.label} onClick={lineLink?.open}>
          <Text className={line.typing ? 'ch-t ch-typing' : 'ch-t'}>{text}</Text>
        </View>
      ) : null}
    </View>
  )
}

function Messages({ conv, onForward }: { conv: ConvId; onForward: (m: ChatMessage) => void }) {
  const gate = useGate()
  const held = useStore(gate, (s) => s.messages[conv] ?? EMPTY)
  // As shown: a message that failed for good keeps its place while newer ones arrive below it.
  const messages = useMemo(() => inPlace(held), [held])
  const me = useStore(gate, (s) => s.me?.id)
  const c = useStore(gate, (s) => s.convs[conv])
  // A group's marks are the highest seq any one member reached (store.ts applyReceipt): "已读" there
  // would say the group read what one member opened. Groups show sent, as WeChat's do; 1:1 chats the
  // other member's delivered and read marks.
  const peers = useStore(gate, (s) => (s.convs[conv]?.kind === 'group' ? undefined : s.peers[conv]))
  const users = useStore(gate, (s) => s.users)
  const older = useStore(gate, (s) => s.older[conv] ?? 'idle')
  const connected = useStore(gate, (s) => s.conn.state === 'connected')
  /** We are no longer in this group: what is held is all there is (the server refuses more). */
  const ended = useStore(gate, (s) => s.ended?.[conv] !== undefined)
  const list = useRef<ChatListHandle>(null)
  const [view, setView] = useState<ListView | undefined>(undefined)

  // ---- what the user sees: read marks, "N new" pill, first unread, paging back
  // What was unread when the chat opened: (readSeq, lastSeq] at that moment. Messages arriving
  // while the chat is open are not "unread above"; they are the "N new" below.
  const unreadAtOpen = useRef<{ after: number; upTo: number; count: number } | undefined>(undefined)
  if (unreadAtOpen.current === undefined && c) unreadAtOpen.current = { after: c.readSeq, upTo: c.lastSeq, count: c.unread }
  /** The first unread message was on screen once: the "unread above" pill is done. */
  const unreadSeen = useRef(false)
  const lastSeenKey = useRef<string | undefined>(undefined)
  const visible = useRef(true)

  const messagesRef = useRef(messages)
  messagesRef.current = messages
  /** The highest seq whose row has been on screen while the page was visible: what is read. */
  const seen = useRef(0)
  const noteSeen = useCallback(
    (v: ListView) => {
      // Only where the list reported itself (not where a write was asked for), only while visible.
      if (!visible.current || !v.confirmed || v.firstVisible < 0) return
      // Only others' messages are read (one's own are read by sending them, on the server too).
      const held = messagesRef.current
      const me = store.getState().me?.id
      let top = seen.current
      for (let i = v.firstVisible; i <= v.lastVisible && i < held.length; i++) {
        const m = held[i]!
        if (m.seq !== undefined && m.seq > top && m.from !== me) top = m.seq
      }
      if (top === seen.current) return
      seen.current = top
      client.setViewing({ conv, seenSeq: top })
    },
    [conv],
  )
  const report = useCallback(
    (v: ListView) => {
      setView(v)
      noteSeen(v)
    },
    [noteSeen],
  )
  useDidShow(() => {
    visible.current = true
    if (seen.current > 0) client.setViewing({ conv, seenSeq: seen.current })
    if (view) noteSeen(view)
  })
  useDidHide(() => {
    visible.current = false
    client.setViewing(undefined)
  })
  useEffect(() => () => client.setViewing(undefined), [])

  const keyOf = (m: ChatMessage) => `${m.from}:${m.cid}`
  if (view?.atEnd && messages.length) lastSeenKey.current = keyOf(messages[messages.length - 1]!)
  const newCount = useMemo(() => {
    if (!view || view.atEnd) return 0
    let n = 0
    for (let i = messages.length - 1; i > view.lastVisible; i--) {
      const m = messages[i]!
      if (keyOf(m) === lastSeenKey.current) break
      if (m.from !== me) n++
    }
    return n
  }, [messages, view, me])

  const firstUnread = useMemo(() => {
    const u = unreadAtOpen.current
    if (!u || u.upTo <= u.after) return -1
    return messages.findIndex((m) => m.seq !== undefined && m.seq > u.after && m.seq <= u.upTo && m.from !== me)
  }, [messages, me])
  if (view && firstUnread >= 0 && view.firstVisible >= 0 && view.firstVisible <= firstUnread) unreadSeen.current = true
  // The first unread message is not held yet (more were unread than the sync brought): page back.
  const unreadNotLoaded =
    firstUnread < 0 && (unreadAtOpen.current?.count ?? 0) > 0 && hasOlder(held, c) && (held[0]?.seq ?? 0) > (unreadAtOpen.current?.after ?? 0) + 1
  // A fixed count (what was unread at open): the pill does not re-render as rows go by.
  const unreadAbove =
    !unreadSeen.current && view && (unreadNotLoaded || (firstUnread >= 0 && firstUnread < view.firstVisible)) ? unreadAtOpen.current?.count ?? 0 : 0
  const [jumping, setJumping] = useState(false)
  const jumpToFirstUnread = () => {
    if (firstUnread >= 0) {
      list.current?.scrollToIndex(firstUnread)
      return
    }
    // Load older pages until it is held (at most JUMP_MAX_PAGES), then the effect below jumps.
    setJumping(true)
    const after = unreadAtOpen.current?.after ?? 0
    const step = (left: number): Promise<void> => {
      const held = store.getState().messages[conv]
      if (left === 0 || !hasOlder(held) || (held?.[0]?.seq ?? 0) <= after + 1) return Promise.resolve()
      return client.loadOlder(conv).then(() => step(left - 1))
    }
    step(JUMP_MAX_PAGES).catch(() => setJumping(false))
  }
  useEffect(() => {
    if (!jumping || firstUnread < 0) return
    setJumping(false)
    list.current?.scrollToIndex(firstUnread)
  }, [jumping, firstUnread])

  // ---- quotes: a tapped one scrolls to its original (quotes.ts); one's own new message shows at the end
  const { recalled, onQuote, highlight } = useQuoteJump(conv, messages, list, me)

  const canLoadOlder = hasOlder(held, c) && connected && !ended
  useEffect(() => {
    if (!view || older === 'loading' || !canLoadOlder) return
    if (view.firstVisible >= 0 && view.firstVisible < 8) client.loadOlder(conv).catch(() => undefined)
    if (messages.length === 0) client.loadOlder(conv).catch(() => undefined)
  }, [view, older, canLoadOlder, conv, messages.length])

  // ---- rows
  const ctx = useMemo<EstimateContext>(
    () => ({ scale: windowScale(), group: c?.kind === 'group', me }),
    [c?.kind, me],
  )
  const estimate = useCallback((i: number) => estimateRow(messages[i]!, previousShown(messages, i), ctx), [messages, ctx])
  const key = useCallback((i: number) => keyOf(messages[i]!), [messages])
  const onRetry = useCallback((m: ChatMessage) => client.retry(conv, m.cid), [conv])
  const onDismiss = useCallback((m: ChatMessage) => client.dismiss(conv, m.cid), [conv])
  const onImage = useCallback((m: ChatMessage) => previewImages(messagesRef.current, m), [])
  const onLongPress = useCallback(
    (m: ChatMessage) => {
      void messageActions(m, onForward)
    },
    [onForward],
  )
  const onFile = useCallback((m: ChatMessage) => {
    if (m.kind === 'file' && 'url' in m.body) openFile(m.body as FileBody).catch(() => undefined)
  }, [])
  const now = Date.now()
  const renderRow = (i: number) => {
    const m = messages[i]!
    const own = m.from === me
    const prev = previousShown(messages, i)
    return (
      <MessageRow
        m={m}
        own={own}
        time={showTime(m, prev) ? chatTime(m.ts, now, t) : undefined}
        name={c?.kind === 'group' && !own ? users[m.from]?.name ?? m.from : undefined}
        senderName={users[m.from]?.name ?? m.from}
        status={own ? displayStatus(m, peers) : undefined}
        onRetry={onRetry}
        onDismiss={onDismiss}
        onImage={onImage}
        onFile={onFile}
        onLongPress={onLongPress}
        system={m.kind === 'system' ? systemText(m, t, (id) => users[id]?.name ?? id, me) : undefined}
        {...quoteProps(m, recalled, (id) => users[id]?.name ?? id, onQuote, highlight)}
      />
    )
  }

  return (
    <View className='ml'>
      {messages.length === 0 ? (
        <View className='ml-empty'>
          <Text>{older === 'loading' ? t('chat.loading') : c && c.lastSeq > 0 && !ended ? (connected ? t('chat.loading') : t('chat.backOnline')) : t('chat.empty')}</Text>
        </View>
      ) : null}
      <ChatList
        ref={list}
        id='msgs'
        count={messages.length}
        version={messages}
        keyOf={key}
        estimate={estimate}
        renderRow={renderRow}
        onView={report}
        viewportGuess={Math.round(windowHeight() * 0.8)}
      />
      {older === 'loading' && messages.length > 0 ? (
        <View className='ml-top'>
          <View className='ml-spin' />
        </View>
      ) : null}
      {older === 'error' ? (
        <View className='ml-top' role='button' onClick={() => void client.loadOlder(conv).catch(() => undefined)}>
          <Text className='ml-err'>{t('chat.olderFailed')}</Text>
        </View>
      ) : null}
      {unreadAbove > 0 ? (
        <View className='pill pill-up' id='unread-pill' role='button' onClick={jumpToFirstUnread}>
          <Text>{t('chat.unreadAbove', { n: unreadAbove })}</Text>
        </View>
      ) : null}
      {newCount > 0 ? (
        <View className='pill pill-new' id='new-pill' role='button' onClick={() => list.current?.scrollToEnd()}>
          <Text>{newCount > 1 ? t('chat.newMany', { n: newCount }) : t('chat.newOne')}</Text>
        </View>
      ) : null}
    </View>
  )
}

/**
 * A long press on a stored message: Copy (a text), Forward (a text, image or file: `forward` opens
 * the sheet), Reply (a message that can be quoted), Recall for one's own while the server's
 * RECALL_WINDOW_MS lasts (the server decides: a refusal is said in a toast), Delete (for oneself,
 * on all of one's devices), and Report for others'. WeChat's order: 复制, 转发, ... 引用, 撤回, 删除.
 */
async function messageActions(m: ChatMessage, forward: (m: ChatMessage) => void): Promise<void> {
  const me = store.getState().me?.id
  if (m.seq === undefined || m.kind === 'recall' || m.kind === 'hidden') return
  const seq = m.seq
  const own = m.from === me
  const quote = localQuote(m)
  // The window is the server's (welcome.limits.recallWindowMs), never a built-in one.
  const canRecall = client.canRecall(m, Date.now())
  // WeChat's first item for a text: 复制 (its toast is the platform's, 内容已复制, on both builds).
  const text = m.kind === 'text' && 'text' in m.body && typeof m.body.text === 'string' ? m.body.text : undefined
  const actions: Array<'copy' | 'forward' | 'reply' | 'recall' | 'delete' | 'report'> = [
    ...(text ? ['copy' as const] : []),
    ...(canForward(m) ? ['forward' as const] : []),
    ...(quote ? ['reply' as const] : []),
    ...(canRecall ? ['recall' as const] : []),
    'delete',
    ...(own ? [] : ['report' as const]),
  ]
  const label = { copy: t('chat.copy'), forward: t('chat.forward'), reply: t('chat.reply'), recall: t('chat.recall'), delete: t('chat.deleteForMe'), report: t('chat.report') }
  const tapped = await chooseAction(actions.map((a) => label[a]))
  const picked = tapped === undefined ? undefined : actions[tapped]
  if (picked === 'copy' && text !== undefined) return void (await Taro.setClipboardData({ data: text }).catch(() => undefined))
  if (picked === 'forward') return forward(m)
  if (picked === 'reply' && quote) return setReply(m.conv, quote)
  if (picked === 'report') return void (await reportMessageFromMenu(m))
  if (picked === 'delete') {
    await client.hideMessage(m.conv, seq).catch((err: unknown) => Taro.showToast({ title: errorText(err, 'chat.deleteFailed'), icon: 'none' }))
    return
  }
  if (picked !== 'recall') return
  await client.recall(m.conv, seq).catch((err: unknown) => Taro.showToast({ title: errorText(err, 'chat.recallFailed'), icon: 'none' }))
}

function windowInfo(): { windowWidth: number; windowHeight: number } {
  try {
    return Taro.getSystemInfoSync()
  } catch {
    return { windowWidth: 375, windowHeight: 667 }
  }
}

/** The weapp navigation bar title's font size, px (WeChat's). */
const NAV_TITLE_FONT_PX = 17
/** Kept clear between the navigation bar's title and WeChat's capsule, px. */
const NAV_TITLE_GAP_PX = 8

/**
 * How wide the weapp navigation bar's title may be, px: it is centred in the window, so it may reach
 * as far left of the centre as right of it, where WeChat's capsule (the menu button) begins.
 */
function navTitleWidthPx(): number {
  const { windowWidth } = windowInfo()
  // iOS's capsule, 87 px wide and 7 px from the edge, where the base library cannot say.
  let capsuleLeft = windowWidth - 94
  try {
    capsuleLeft = Taro.getMenuButtonBoundingClientRect().left
  } catch {
    // keep the estimate
  }
  return 2 * (capsuleLeft - NAV_TITLE_GAP_PX - windowWidth / 2)
}

/**
 * h5: a group's name as its header shows it before the member count, cut in code to the room the
 * header row leaves, measured in the title's own font, so that "…" meets "(3)" (the CSS ellipsis
 * behind it cuts at a glyph inside a wider box and leaves a gap up to a character wide). Fitted
 * again when the header row changes size (the window resized; the page shown again after a resize
 * made while it was hidden, when there was no width to measure) or a font loads. Without a count,
 * or on weapp, the name as it is.
 */
function useFittedName(row: { current: unknown }, title: string, count: string): string {
  const [fitted, setFitted] = useState<{ title: string; count: string; name: string }>()
  useLayoutEffect(() => {
    if (!isH5 || !count) return
    const fit = () => {
      const el = row.current
      const name = el instanceof HTMLElement ? el.querySelector('.ch-title') : null
      if (!(el instanceof HTMLElement) || !(name instanceof HTMLElement)) return
      const style = getComputedStyle(el)
      const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)
      if (!(room > 0)) return
      const font = getComputedStyle(name).font
      const widthOf = (text: string) => textWidth(text, font)
      const next = fitName(title, count, room, widthOf)
      // The same cut keeps the state as it is: no render (and no new size for the observer below).
      setFitted((was) => (was && was.title === title && was.count === count && was.name === next ? was : { title, count, name: next }))
    }
    fit()
    void document.fonts?.ready.then(fit)
    // The row's own size, not the window's: a resize while another page covers this one (the row
    // hidden, 0 wide) is fitted when the row shows again.
    const el = row.current
    if (typeof ResizeObserver === 'function' && el instanceof HTMLElement) {
      const watch = new ResizeObserver(fit)
      watch.observe(el)
      return () => watch.disconnect()
    }
    window.addEventListener('resize', fit)
    return () => window.removeEventListener('resize', fit)
  }, [row, title, count])
  return fitted && fitted.title === title && fitted.count === count ? fitted.name : title
}

let measuring: CanvasRenderingContext2D | null | undefined
/** `text`'s width in px in CSS font `font` (h5), as the page draws it. */
function textWidth(text: string, font: string): number {
  measuring ??= document.createElement('canvas').getContext('2d')
  if (!measuring) return 0
  measuring.font = font
  return measuring.measureText(text).width
}

/** px per design px (750 wide). On a wide h5 window Taro caps the root size; so do we. */
function windowScale(): number {
  return Math.min(windowInfo().windowWidth, 750) / 750
}

function windowHeight(): number {
  return windowInfo().windowHeight
}
