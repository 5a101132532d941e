/**
 * The chat page's composer: an uncontrolled text area that grows with its text up to
 * four lines, then scrolls, as WeChat's (typing costs no setData), Send, the "+" panel
 * for photos and files, the voice mode (VoiceInput.tsx), and the draft kept per conversation (the
 * store's `drafts`, which the list shows as "[草稿] ..." and persist.ts keeps in storage across restarts).
 */
import { Text, Textarea, View } from '@tarojs/components'
import Taro, { useDidHide } from '@tarojs/taro'
import { memo, useCallback, useEffect, useRef, useState } from 'react'
import type { ConvId } from '@chat/shared'
import { CLIENT_DEFAULTS } from '../../config'
import { errorText, t } from '../../i18n'
import { client, platform, store } from '../../services'
import { useGate, useStore } from '../../store/react'
import { VoiceInput } from './VoiceInput'
import { viewportChanged } from '../../list/viewport-signal'
import '../../components/voice.css'
import { setReply } from '../../store/compose'
import { MentionPicker, ReplyBar, typedAt, useMentions, useReply } from './ComposeExtras'

export function Composer({ conv }: { conv: ConvId }) {
  // Uncontrolled input: typing costs no setData; only "empty <-> not empty" re-renders. What was
  // typed and not sent outlives the page (a session that ended, a reload): the store's draft of the
  // conversation, set DRAFT_DELAY_MS after the typing pauses (not per keystroke: the list page
  // below renders it), and at once when the page goes away or is hidden.
  const me = useRef(store.getState().me?.id)
  const [initial, setInitial] = useState(() => loadDraft(me.current, conv))
  const text = useRef(initial)
  const [hasText, setHasText] = useState(initial.trim() !== '')
  const [inputKey, setInputKey] = useState(0)
  const draftTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const keepDraft = useCallback(() => {
    clearTimeout(draftTimer.current)
    draftTimer.current = undefined
    client.setDraft(conv, text.current)
  }, [conv])
  useEffect(() => {
    // A draft moved from its old key is in the store from now on (a no-op for the store's own).
    keepDraft()
    return keepDraft
  }, [keepDraft])
  useDidHide(keepDraft)
  const [panel, setPanel] = useState(false)
  /** Voice mode: the hold-to-talk button in place of the input (VoiceInput.tsx). */
  const [voice, setVoice] = useState(false)
  const gate = useGate()
  const known = useStore(gate, (s) => s.convs[conv] !== undefined)
  // A group we are no longer in (removed, left, dissolved): the reason instead of a composer.
  const ended = useStore(gate, (s) => s.ended?.[conv]?.reason)
  /** When Send was last tapped: "+" takes its place under the finger (CLIENT_DEFAULTS.sendTapGuardMs). */
  const sentAt = useRef(-Infinity)
  // Reply and mentions (ComposeExtras.tsx).
  const reply = useReply(conv)
  const mentions = useMentions()
  const [picker, setPicker] = useState(false)
  const [focus, setFocus] = useState(false)
  const pickMention = (id: string, name: string) => {
    mentions.pick(id, name)
    setPicker(false)
    text.current = `${text.current}${name} `
    setHasText(true)
    // h5: the text goes into the input as it is, the caret after it (a new input mounted with the
    // text could take its focus with the caret at the start, and typing went before the name).
    const input = isH5 ? h5TextArea() : null
    if (input) {
      input.value = text.current
      fitH5()
      input.focus()
      input.setSelectionRange(text.current.length, text.current.length)
      return
    }
    // weapp: the input is uncontrolled; it takes the new text by being mounted again with it, focused.
    setInitial(text.current)
    setFocus(true)
    setInputKey((k) => k + 1)
  }

  const send = () => {
    const t = text.current.trim()
    if (!t) return
    sentAt.current = Date.now()
    const extras = mentions.extras(t, reply)
    if (extras) client.sendText(conv, t, extras)
    else client.sendText(conv, t)
    if (reply) setReply(conv, undefined)
    setPicker(false)
    text.current = ''
    keepDraft()
    setInitial('')
    setHasText(false)
    setInputKey((k) => k + 1)
  }
  // Stable handlers for the memoized input, calling this render's functions.
  const latest = useRef({ send, conv, keepDraft })
  latest.current = { send, conv, keepDraft }
  const onConfirm = useCallback(() => latest.current.send(), [])
  const onInput = useCallback((value: string) => {
    if (typedAt(latest.current.conv, text.current, value)) setPicker(true)
    text.current = value
    // Same value: React renders nothing.
    setHasText(value.trim() !== '')
    // Into the store once typing pauses (DRAFT_DELAY_MS), not on every key.
    clearTimeout(draftTimer.current)
    draftTimer.current = setTimeout(() => latest.current.keepDraft(), DRAFT_DELAY_MS)
    client.typing(latest.current.conv)
  }, [])
  const pick = (kind: 'image' | 'file') => {
    setPanel(false)
    client.pickAndSend(conv, kind).catch((err: unknown) => Taro.showToast({ title: errorText(err, 'chat.pickFailed'), icon: 'none' }))
  }
  // weapp: the message list above does not see the composer's height change by itself (a reply bar,
  // the panel, the voice button, a line more or less: onLineChange below).
  useEffect(() => {
    if (!isH5) viewportChanged()
  }, [panel, voice, picker, reply, hasText])
  if (ended) {
    return (
      <View className='cp'>
        <View className='cp-bar cp-ended' id='composer-ended' aria-disabled='true'>
          <Text>{t(`chat.ended.${ended}`)}</Text>
        </View>
      </View>
    )
  }
  return (
    <View className='cp'>
      {picker ? <MentionPicker conv={conv} onPick={pickMention} onClose={() => setPicker(false)} /> : null}
      {reply ? <ReplyBar conv={conv} quote={reply} /> : null}
      <View className='cp-bar'>
        {client.hasUploads ? (
          // Voice or keyboard, as WeChat's composer: the hold-to-talk button takes the input's place.
          <View
            className='cp-mode'
            id='voice-mode'
            role='button'
            aria-label={t(voice ? 'a11y.keyboardMode' : 'a11y.voiceMode')}
            onClick={() => {
              setVoice(!voice)
              setPanel(false)
            }}
          >
            {voice ? (
              <View className='ic-kb' />
            ) : (
              <View className='vi ic-vo'>
                <View className='vi0' />
                <View className='vi1' />
                <View className='vi2' />
              </View>
            )}
          </View>
        ) : null}
        {voice ? <VoiceInput conv={conv} /> : null}
        <ComposerInput
          key={inputKey}
          // Kept (hidden) in voice mode: what was typed stays for when the keyboard comes back.
          className={voice ? 'cp-in cp-gone' : 'cp-in'}
          initial={initial}
          focus={focus}
          placeholder={known ? t('chat.placeholder') : t('chat.placeholderLoading')}
          onInput={onInput}
          onConfirm={onConfirm}
        />
        {hasText && !voice ? (
          <View className='cp-send' id='send' role='button' onClick={send}>
            <Text>{t('chat.send')}</Text>
          </View>
        ) : client.hasUploads ? (
          <View
            className={panel ? 'cp-plus cp-open' : 'cp-plus'}
            id='attach'
            role='button'
            aria-label={t('a11y.attach')}
            aria-expanded={panel}
            onClick={() => {
              if (Date.now() - sentAt.current < CLIENT_DEFAULTS.sendTapGuardMs) return
              setPanel(!panel)
            }}
          >
            <Text>+</Text>
          </View>
        ) : null}
      </View>
      {panel ? (
        <View className='cp-panel'>
          <View className='cp-tool' role='button' onClick={() => pick('image')}>
            <View className='cp-ic' aria-hidden='true'>
              <View className='ic-photo' />
            </View>
            <Text className='cp-tl'>{t('chat.photo')}</Text>
          </View>
          <View className='cp-tool' role='button' onClick={() => pick('file')}>
            <View className='cp-ic' aria-hidden='true'>
              <View className='ic-file' />
            </View>
            <Text className='cp-tl'>{t('chat.file')}</Text>
          </View>
        </View>
      ) : null}
    </View>
  )
}

/** How long after the last keystroke the draft goes into the store, ms. */
const DRAFT_DELAY_MS = 400
/**
 * The text area, rendered again only when its own props change (a new `key` mounts it with a new
 * text). h5: Taro's web-component wrapper sets every prop again on each render, `value` included,
 * which put the mount-time text back over what was typed whenever the composer re-rendered (the
 * Send button appearing, the mention picker opening). The handlers must be stable (the caller's
 * call its latest functions through a ref).
 *
 * It grows with its text up to the max-height of `.cp-in` (index.css: four lines), then scrolls
 * inside; the message list above shrinks and keeps its end in view (ChatList follows its viewport's
 * size). weapp: the text area's `autoHeight`. h5: fitH5 below (Taro's h5 `autoHeight` counts lines
 * by growing the element, which a max-height stops: emptied, it stayed four lines tall). The
 * keyboard's key sends, as WeChat's: weapp through `confirmType` (a text area's return key then
 * sends instead of breaking the line); h5 by Enter (Shift+Enter breaks the line; an Enter that ends
 * an IME composition only picks its characters).
 */
const ComposerInput = memo(function ComposerInput(p: {
  className: string
  initial: string
  focus: boolean
  placeholder: string
  onInput: (value: string) => void
  onConfirm: () => void
}) {
  const { onInput: input, initial, onConfirm } = p
  const onInput = useCallback((e: { detail: { value: string } }) => input(e.detail.value), [input])
  // h5: a `value` prop makes the text area controlled, and after every input event it is set back to
  // that value (what was typed vanished, key by key): the text it starts with is written once.
  useEffect(() => {
    if (!isH5 || !initial) return
    const el = document.getElementById('composer') as unknown as { value?: string } | null
    if (el) el.value = initial
    fitH5()
  }, [initial])
  useEffect(() => (isH5 ? listenH5(onConfirm) : undefined), [onConfirm])
  return (
    <Textarea
      id='composer'
      className={p.className}
      autoHeight={!isH5}
      confirmType='send'
      confirmHold
      showConfirmBar={false}
      disableDefaultPadding
      maxlength={5000}
      {...(isH5 ? { nativeProps: { enterkeyhint: 'send', rows: 1 } } : { value: initial, onConfirm, onLineChange: viewportChanged })}
      focus={p.focus}
      placeholder={p.placeholder}
      onInput={onInput}
    />
  )
})

/** h5: the text area inside Taro's host element `#composer`. */
function h5TextArea(): HTMLTextAreaElement | null {
  return document.querySelector<HTMLTextAreaElement>('#composer textarea')
}

/**
 * h5: the text area as tall as its text, up to its CSS max-height (then it scrolls). Measured at
 * `height: auto` (one row), so it shrinks as lines are deleted as well as grows. The host element
 * keeps its height while the text area is measured: collapsed for that moment, the page laid out a
 * one-line composer, the message list grew and the browser clamped its offset, which the list then
 * read as the reader scrolling up from the end (it stopped following it).
 */
function fitH5(): void {
  const ta = h5TextArea()
  const host = ta?.parentElement
  // Hidden (voice mode) it measures 0: it keeps the height it had.
  if (!ta || !host || ta.getClientRects().length === 0) return
  host.style.height = `${host.getBoundingClientRect().height}px`
  ta.style.height = 'auto'
  const height = ta.scrollHeight
  ta.style.height = `${height}px`
  host.style.height = ''
}

/**
 * h5: fit the text area on every input, and send on Enter instead of breaking the line. Taro's text
 * area reports every Enter as `confirm` (Shift+Enter and an IME's included) and inserts the line
 * break anyway, so the key is taken before it: in the capture phase on the host element (Taro's own
 * handlers stop propagation on the text area).
 */
function listenH5(send: () => void): (() => void) | undefined {
  const host = document.getElementById('composer')
  if (!host) return undefined
  const onKey = (e: KeyboardEvent) => {
    // keyCode 229: the key went to an IME (Chrome, Safari report isComposing on its last Enter).
    if (e.key !== 'Enter' || e.isComposing || e.keyCode === 229) return
    if (e.shiftKey || e.altKey || e.ctrlKey || e.metaKey) return
    e.preventDefault()
    e.stopPropagation()
    send()
  }
  // After the value changed, before the browser paints: no frame at the old height.
  const onInput = () => fitH5()
  host.addEventListener('keydown', onKey, true)
  host.addEventListener('input', onInput, true)
  // A draft it starts with: fitted once the web component has rendered its text area (Stencil).
  void (host as HTMLElement & { componentOnReady?: () => Promise<unknown> }).componentOnReady?.().then(fitH5)
  return () => {
    host.removeEventListener('keydown', onKey, true)
    host.removeEventListener('input', onInput, true)
  }
}

const isH5 = process.env.TARO_ENV === 'h5'


/** The conversation's draft: the store's, or one a version before kept under its own key (moved into the store on mount). */
function loadDraft(user: string | undefined, conv: ConvId): string {
  const held = store.getState().drafts[conv]
  if (held !== undefined || !user) return held ?? ''
  const legacy = `chat.draft.${user}.${conv}`
  const v = platform.storage.get(legacy)
  if (typeof v !== 'string') return ''
  platform.storage.remove(legacy)
  // Into the store after the render (the composer's first effect keeps it: keepDraft on mount below).
  return v
}
