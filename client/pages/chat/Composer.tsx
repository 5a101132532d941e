/**
 * The chat page's composer: an uncontrolled input (typing costs no setData), Send, the "+" panel
 * for photos and files, and the draft kept per user and conversation.
 */
import { Input, Text, View } from '@tarojs/components'
import Taro, { useDidHide } from '@tarojs/taro'
import { memo, useCallback, useEffect, useRef, useState } from 'react'
import type { ConvId } from '@chat/shared'
import { CLIENT_DEFAULTS } from '../../config'
import { errorText, t } from '../../i18n'
import { client, platform, store } from '../../services'
import { useGate, useStore } from '../../store/react'
import { setReply } from '../../store/compose'
import { MentionPicker, ReplyBar, typedAt, useMentions, useReply } from './ComposeExtras'

export function Composer({ conv }: { conv: ConvId }) {
  // Uncontrolled input: typing costs no setData; only "empty <-> not empty" re-renders. What was
  // typed and not sent outlives the page (a session that ended, a reload): a draft per user and
  // conversation in storage, written when the page goes away or is hidden.
  const me = useRef(store.getState().me?.id)
  const [initial, setInitial] = useState(() => loadDraft(me.current, conv))
  const text = useRef(initial)
  const [hasText, setHasText] = useState(initial.trim() !== '')
  const [inputKey, setInputKey] = useState(0)
  useEffect(() => () => saveDraft(me.current, conv, text.current), [conv])
  useDidHide(() => saveDraft(me.current, conv, text.current))
  const [panel, setPanel] = useState(false)
  const gate = useGate()
  const known = useStore(gate, (s) => s.convs[conv] !== undefined)
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
    // The input is uncontrolled: it takes the new text by being mounted again with it, focused.
    text.current = `${text.current}${name} `
    setInitial(text.current)
    setHasText(true)
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
    saveDraft(me.current, conv, '')
    setInitial('')
    setHasText(false)
    setInputKey((k) => k + 1)
  }
  // Stable handlers for the memoized input, calling this render's functions.
  const latest = useRef({ send, conv })
  latest.current = { send, conv }
  const onConfirm = useCallback(() => latest.current.send(), [])
  const onInput = useCallback((value: string) => {
    if (typedAt(latest.current.conv, text.current, value)) setPicker(true)
    text.current = value
    // Same value: React renders nothing.
    setHasText(value.trim() !== '')
    client.typing(latest.current.conv)
  }, [])
  const pick = (kind: 'image' | 'file') => {
    setPanel(false)
    client.pickAndSend(conv, kind).catch((err: unknown) => Taro.showToast({ title: errorText(err, 'chat.pickFailed'), icon: 'none' }))
  }
  return (
    <View className='cp'>
      {picker ? <MentionPicker conv={conv} onPick={pickMention} onClose={() => setPicker(false)} /> : null}
      {reply ? <ReplyBar conv={conv} quote={reply} /> : null}
      <View className='cp-bar'>
        <ComposerInput
          key={inputKey}
          initial={initial}
          focus={focus}
          placeholder={known ? t('chat.placeholder') : t('chat.placeholderLoading')}
          onInput={onInput}
          onConfirm={onConfirm}
        />
        {hasText ? (
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

/**
 * The input, rendered again only when its own props change (a new `key` mounts it with a new
 * text). h5: Taro's web-component wrapper sets every prop again on each render, `value` included,
 * which put the mount-time text back over what was typed whenever the composer re-rendered (the
 * Send button appearing, the mention picker opening). The handlers must be stable (the caller's
 * call its latest functions through a ref).
 */
const ComposerInput = memo(function ComposerInput(p: {
  initial: string
  focus: boolean
  placeholder: string
  onInput: (value: string) => void
  onConfirm: () => void
}) {
  const { onInput: input, initial } = p
  const onInput = useCallback((e: { detail: { value: string } }) => input(e.detail.value), [input])
  // h5: a `value` prop makes the input controlled, and after every input event it is set back to
  // that value (what was typed vanished, key by key): the text it starts with is written once.
  useEffect(() => {
    if (!isH5 || !initial) return
    const el = document.getElementById('composer') as unknown as { value?: string } | null
    if (el) el.value = initial
  }, [initial])
  return (
    <Input
      id='composer'
      className='cp-in'
      confirmType='send'
      confirmHold
      maxlength={5000}
      {...(isH5 ? {} : { value: initial })}
      focus={p.focus}
      placeholder={p.placeholder}
      onInput={onInput}
      onConfirm={p.onConfirm}
    />
  )
})

const isH5 = process.env.TARO_ENV === 'h5'

const draftKey = (user: string, conv: ConvId) => `chat.draft.${user}.${conv}`

function loadDraft(user: string | undefined, conv: ConvId): string {
  if (!user) return ''
  const v = platform.storage.get(draftKey(user, conv))
  return typeof v === 'string' ? v : ''
}

function saveDraft(user: string | undefined, conv: ConvId, text: string): void {
  if (!user) return
  if (text.trim() === '') platform.storage.remove(draftKey(user, conv))
  else platform.storage.set(draftKey(user, conv), text)
}
