/**
 * The composer's voice mode: the "按住 说话" button and, while it is held, the recording overlay.
 * Press and hold records (client/voice/recorder.ts); sliding up past VOICE_CANCEL_SLIDE_PX turns the
 * overlay red with "松开手指，取消发送" and releasing then cancels; a release sends the recording
 * through the uploads module, or shows "说话时间太短" when it was under LIMITS.minVoiceMs.
 *
 * weapp: touch events. h5: touch events and the mouse (move and release are followed on the
 * window, since a finger sliding up to cancel leaves the button).
 */
import { Text, View } from '@tarojs/components'
import Taro, { useDidHide } from '@tarojs/taro'
import { useEffect, useRef, useState, useSyncExternalStore } from 'react'
import type { ConvId } from '@chat/shared'
import { t } from '../../i18n'
import { client, platform } from '../../services'
import { VoiceRecorder, type RecordingOutcome } from '../../voice/recorder'
import { taroRecorderPort } from '../../voice/taro'

/** How long after a touch the browser's compatibility mouse events may follow, ms. */
const TOUCH_ECHO_MS = 1000

interface TouchLike {
  readonly touches?: ArrayLike<{ readonly pageY?: number; readonly clientY?: number }>
  readonly changedTouches?: ArrayLike<{ readonly pageY?: number; readonly clientY?: number }>
}

function touchY(e: TouchLike): number {
  const p = e.touches?.[0] ?? e.changedTouches?.[0]
  return p?.clientY ?? p?.pageY ?? 0
}

export function VoiceInput({ conv }: { conv: ConvId }) {
  const convRef = useRef(conv)
  convRef.current = conv
  const [recorder] = useState(
    () =>
      new VoiceRecorder(taroRecorderPort(), platform.timers, (o: RecordingOutcome) => {
        if (o.kind === 'send') {
          const { file, duration } = o
          client.sendRecording(convRef.current, { path: file.path, name: file.name, size: file.size, duration, ...(file.mime ? { mime: file.mime } : {}), ...(file.blob ? { blob: file.blob } : {}) })
        } else if (o.kind === 'tooShort') {
          void Taro.showToast({ title: t('voice.tooShort'), icon: 'none' })
        } else if (o.kind === 'error') {
          void Taro.showToast({ title: t('voice.failed'), icon: 'none' })
        }
      }),
  )
  const view = useSyncExternalStore(recorder.subscribe, () => recorder.view())
  // A page that goes away takes nothing with it: what is recording is dropped, not sent.
  useDidHide(() => recorder.abort())
  useEffect(() => () => recorder.abort(), [recorder])

  // A touch screen sends the mouse events of a touch after it (compatibility mouse events): a press
  // that follows a touch this closely is that echo, not a second press.
  const lastTouch = useRef(-Infinity)
  const touched = () => (lastTouch.current = Date.now())
  const mouse = process.env.TARO_ENV === 'h5' ? h5Mouse(recorder, () => Date.now() - lastTouch.current < TOUCH_ECHO_MS) : {}
  const holding = view.phase !== 'idle'
  return (
    <>
      <View
        className={holding ? 'cp-hold cp-hold-on' : 'cp-hold'}
        id='hold-to-talk'
        role='button'
        onTouchStart={(e) => {
          touched()
          recorder.press(touchY(e as unknown as TouchLike))
        }}
        onTouchMove={(e) => recorder.move(touchY(e as unknown as TouchLike))}
        onTouchEnd={() => {
          touched()
          recorder.release()
        }}
        onTouchCancel={() => recorder.abort()}
        {...mouse}
      >
        <Text>{!holding ? t('voice.hold') : view.armed ? t('voice.releaseCancel') : t('voice.release')}</Text>
      </View>
      {holding ? <RecordingOverlay armed={view.armed} startedAt={view.startedAt} /> : null}
    </>
  )
}

/** h5: mouse down on the button; move and up anywhere (the pointer leaves the button when sliding up). */
function h5Mouse(recorder: VoiceRecorder, echo: () => boolean): Record<string, unknown> {
  return {
    onMouseDown: (e: { clientY: number; button?: number; preventDefault(): void }) => {
      if ((e.button !== undefined && e.button !== 0) || echo()) return
      e.preventDefault()
      const move = (ev: MouseEvent) => recorder.move(ev.clientY)
      const up = () => {
        window.removeEventListener('mousemove', move)
        window.removeEventListener('mouseup', up)
        recorder.release()
      }
      window.addEventListener('mousemove', move)
      window.addEventListener('mouseup', up)
      recorder.press(e.clientY)
    },
  }
}

/** The dark box in the middle of the screen while recording: elapsed time and what a release does. */
function RecordingOverlay({ armed, startedAt }: { armed: boolean; startedAt: number | undefined }) {
  const [now, setNow] = useState(() => platform.timers.now())
  useEffect(() => {
    // Once a second: the elapsed seconds are all that changes.
    const id = setInterval(() => setNow(platform.timers.now()), 1000)
    return () => clearInterval(id)
  }, [])
  const seconds = startedAt === undefined ? 0 : Math.max(0, Math.floor((now - startedAt) / 1000))
  return (
    <View className={armed ? 'rec rec-x' : 'rec'} id='recording' aria-live='polite'>
      <View className='rec-ic' aria-hidden='true'>
        {armed ? <View className='rec-undo' /> : <View className='rec-mic' />}
      </View>
      <Text className='rec-t'>{`${seconds}″`}</Text>
      <Text className={armed ? 'rec-h rec-hx' : 'rec-h'}>{armed ? t('voice.releaseCancel') : t('voice.slideUp')}</Text>
    </View>
  )
}
