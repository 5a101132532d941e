/**
 * One row of the chat list: an optional time separator, then the bubble with avatar and, for our
 * own messages, the send state. Few nodes and short class names: each row's subtree is what a
 * scroll step sends through setData.
 */
import { Image, Text, View } from '@tarojs/components'
import Taro from '@tarojs/taro'
import { memo } from 'react'
import type { FileBody } from '@chat/shared'
import { fileSize, textDirection } from '../format'
import { refusalText, t } from '../i18n'
import { imageBox } from '../list/estimate'
import { recallNotice, uploadRefused } from '../store/selectors'
import type { ChatMessage, DisplayStatus } from '../store/types'
import { Avatar } from './Avatar'
import { imageSrc } from './media'
import { VoiceBubble } from './VoiceBubble'
import './chat.css'

export interface RowProps {
  readonly m: ChatMessage
  readonly own: boolean
  /** Time separator text, if one is shown above. */
  readonly time?: string
  /** Sender's name (groups, others only). */
  readonly name?: string
  readonly senderName: string
  readonly status?: DisplayStatus
  readonly onRetry: (m: ChatMessage) => void
  /** Remove a refused upload's message (a refusal is final: nothing to retry). */
  readonly onDismiss: (m: ChatMessage) => void
  readonly onImage: (m: ChatMessage) => void
  readonly onFile: (m: ChatMessage) => void
  /** Long press on the bubble: the message's actions (recall one's own, report others'). */
  readonly onLongPress?: (m: ChatMessage) => void
  /** A `system` message's line ("A added B"): shown centred and small, no bubble. */
  readonly system?: string
  /** A reply's quote line (store/reply.ts, quoteLine), shown under the bubble; a tap goes to the original. */
  readonly quote?: string
  readonly onQuote?: (m: ChatMessage) => void
  /** Briefly highlighted: the original a quote was tapped for. */
  readonly hl?: boolean
}

/** A row without a bubble: a recall event (nothing: the message it names shows the notice) or the notice itself. */
/** The time separator above a row, when the row starts a new stretch of time. */
function TimeLine({ time }: { time: string | undefined }) {
  return time ? (
    <View className='tm'>
      <Text>{time}</Text>
    </View>
  ) : null
}

function NoticeRow(p: RowProps) {
  const { m } = p
  if (m.kind === 'recall') return <View className='r0' />
  return (
    <View className='r'>
      <TimeLine time={p.time} />
      <View className='rc'>
        <Text>{recallNotice(m, t, p.own ? m.from : undefined, () => p.senderName)}</Text>
      </View>
    </View>
  )
}

const GLYPH: Record<DisplayStatus, string> = {
  sending: '',
  failed: '!',
  sent: '✓',
  delivered: '✓✓',
  read: '',
}

/** The status mark: a glyph, or for "read" the word (已读 / Read), and its label for screen readers. */
function statusText(s: DisplayStatus): string {
  return s === 'read' ? t('chat.read') : GLYPH[s]
}

function statusLabel(s: DisplayStatus): string | undefined {
  if (s === 'failed') return t('a11y.retrySend')
  if (s === 'sent' || s === 'delivered' || s === 'read') return t(`a11y.status.${s}`)
  return undefined
}

export const MessageRow = memo(function MessageRow(p: RowProps) {
  const { m, own } = p
  // Deleted for oneself: the row keeps its place in the list (seqs stay gap-free) and shows nothing.
  if (m.kind === 'hidden') return <View className='r0' />
  if (m.kind === 'system') {
    return (
      <View className='r'>
        <TimeLine time={p.time} />
        <View className='sy'>
          <Text>{p.system ?? ''}</Text>
        </View>
      </View>
    )
  }
  if (m.kind === 'recall' || m.kind === 'recalled') return <NoticeRow {...p} />
  const refused = own && uploadRefused(m)
  return (
    <View className={p.hl ? 'r hl' : 'r'}>
      <TimeLine time={p.time} />
      <View className={own ? 'ln me' : 'ln'}>
        <Avatar id={m.from} name={p.senderName} />
        <View className='col'>
          {p.name ? <Text className='nm'>{p.name}</Text> : null}
          <View className='bx' onLongPress={p.onLongPress && m.seq !== undefined ? () => p.onLongPress!(m) : undefined} {...contextMenu(p, m)}>
            {own && p.status && !refused ? (
              <View
                className={`st st-${p.status}`}
                role={p.status === 'failed' ? 'button' : undefined}
                aria-label={statusLabel(p.status)}
                onClick={p.status === 'failed' ? () => p.onRetry(m) : undefined}
              >
                {statusText(p.status)}
              </View>
            ) : null}
            <Bubble m={m} own={own} onImage={p.onImage} onFile={p.onFile} />
          </View>
          {p.quote !== undefined ? <QuoteLine {...p} quote={p.quote} /> : null}
          {own && m.status === 'failed' && m.error === 'CONTENT_RISKY' ? (
            // WeChat's content security refused the text: it was stored nowhere; resending the same
            // text would be refused again, so the row offers only its removal.
            <View className='rf'>
              <Text>{t('chat.notSent', { reason: t('chat.contentRisky') })}</Text>
              <Text className='rf-x' onClick={() => p.onDismiss(m)}>
                {t('chat.remove')}
              </Text>
            </View>
          ) : null}
          {own && m.status === 'failed' && (m.error === 'BLOCKED' || m.error === 'NOT_CONTACT') ? (
            // The other's relations refused it (blocked, or contacts only): a resend is refused the same way.
            <View className='rf'>
              <Text>{t('chat.notSent', { reason: t(`err.${m.error}`) })}</Text>
              <Text className='rf-x' onClick={() => p.onDismiss(m)}>
                {t('chat.remove')}
              </Text>
            </View>
          ) : null}
          {refused ? (
            // The server's reason names the limit (the maximum size, or the accepted types); a
            // refusal is final, so there is nothing to retry.
            <View className='rf'>
              <Text>{t('chat.notSent', { reason: m.upload?.failure ? refusalText(m.upload.failure) : '' })}</Text>
              <Text className='rf-x' onClick={() => p.onDismiss(m)}>
                {t('chat.remove')}
              </Text>
            </View>
          ) : null}
        </View>
      </View>
    </View>
  )
})

/** A reply's quote, under its bubble (as WeChat shows it): one grey line; a tap scrolls to the original. */
function QuoteLine(p: RowProps & { quote: string }) {
  return (
    <View className='qt' role='link' onClick={p.onQuote ? () => p.onQuote!(p.m) : undefined}>
      <Text className='qt-t'>{p.quote}</Text>
    </View>
  )
}

function Bubble(p: { m: ChatMessage; own: boolean; onImage: (m: ChatMessage) => void; onFile: (m: ChatMessage) => void }) {
  const { m } = p
  if (m.kind === 'text') {
    const text = 'text' in m.body ? m.body.text : ''
    return (
      <View className={p.own ? 'b b-me' : 'b'}>
        {/* dir="auto": the browser lays Arabic and Hebrew out right to left (h5); the mini-program's
            <text> has no dir attribute, so the same decision (the first strong letter) is a class. */}
        <Text className={textDirection(text) === 'rtl' ? 'bt bt-rtl' : 'bt'} userSelect {...DIR_AUTO}>
          {text}
        </Text>
      </View>
    )
  }
  if (m.kind === 'voice') return <VoiceBubble m={m} own={p.own} />
  // A file that failed shows no progress track (nothing is being sent): a refused one only the reason
  // below it, a failed one the red "!" to retry beside it, as WeChat draws a failed file.
  const progress = m.upload && !m.upload.done && !(m.kind === 'file' && m.upload.failure) ? Math.floor((100 * m.upload.sentBytes) / Math.max(1, m.upload.totalBytes)) : undefined
  if (m.kind === 'image') {
    const b = m.body as { width?: number; height?: number }
    const box = imageBox(b.width, b.height, designScale())
    return (
      <View className='im' style={`width:${Taro_px(box.w)};height:${Taro_px(box.h)}`} onClick={() => p.onImage(m)}>
        <Image className='im-i' src={imageSrc(m)} mode='aspectFill' lazyLoad />
        {progress !== undefined ? (
          <View className='im-p'>
            <Text>{m.upload?.failure ? (uploadRefused(m) ? t('chat.imgNotSent') : t('chat.imgFailed')) : `${progress}%`}</Text>
          </View>
        ) : null}
      </View>
    )
  }
  const body = m.body as Partial<FileBody> & { name: string; size: number }
  const ext = (body.name.split('.').pop() ?? '').slice(0, 4).toUpperCase() || 'FILE'
  return (
    <View className='fc' onClick={() => p.onFile(m)}>
      <View className='fc-t'>
        <Text className='fc-n'>{body.name}</Text>
        <Text className='fc-s'>{fileSize(body.size)}</Text>
      </View>
      <View className='fc-i'>
        <Text>{ext}</Text>
      </View>
      {progress !== undefined ? (
        <View className='fc-p'>
          <View className='fc-pb' style={`width:${progress}%`} />
        </View>
      ) : null}
    </View>
  )
}

let scaleCache: number | undefined
/**
 * px per design px (750 wide). h5: Taro's root font size is 40 px per 750 design px, clamped to
 * 20-40 px (its index.html script), so a 320 px window has 0.5, not 320/750; weapp: rpx, the
 * window width over 750.
 */
function designScale(): number {
  if (process.env.TARO_ENV === 'h5') {
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize)
    if (rem > 0) return rem / 40
  }
  if (scaleCache === undefined) {
    let width = 375
    try {
      width = Taro.getSystemInfoSync().windowWidth
    } catch {
      // keep the default
    }
    scaleCache = width / 750
  }
  return scaleCache
}

const DIR_AUTO = { dir: 'auto' } as Record<string, string>

/**
 * h5: a right click (or a long press where the browser makes it a context menu) opens the same
 * actions as WeChat's long press; Taro's h5 view turns only touches into `longpress`.
 */
function contextMenu(p: RowProps, m: ChatMessage): Record<string, unknown> {
  if (process.env.TARO_ENV !== 'h5' || !p.onLongPress || m.seq === undefined) return {}
  return {
    onContextMenu: (e: { preventDefault(): void }) => {
      e.preventDefault()
      p.onLongPress!(m)
    },
  }
}

/** Design px (750 wide) as an inline style length: rpx on weapp, rem on h5 (as the CSS gets). */
function Taro_px(designPx: number): string {
  return Taro.pxTransform(designPx)
}
