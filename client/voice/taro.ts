/**
 * The platform side of voice: the recorder and the audio output, on weapp and h5.
 *
 * weapp: WeChat's RecorderManager (one per app, `Taro.getRecorderManager()`), AAC, stopping by
 * itself at `duration`; playback through one InnerAudioContext, not obeying the iOS mute switch
 * (a voice the user tapped is meant to be heard, as in WeChat).
 * h5: the browser's MediaRecorder over getUserMedia, in H5_VOICE_MIME where the browser has it
 * (Chromium, Firefox: Opus in WebM), else Opus in Ogg, else MP4/AAC (Safari); playback through one
 * HTMLAudioElement (`#voice-audio`, hidden), so tests can watch it.
 */
import Taro from '@tarojs/taro'
import type { AudioPort } from './player'
import type { RecordedFile, RecorderPort } from './recorder'

/** What h5 records in when the browser supports it: Opus in WebM (Chromium's and Firefox's MediaRecorder). */
export const H5_VOICE_MIME = 'audio/webm;codecs=opus'
/** Fallbacks, in order: Opus in Ogg (older Firefox), AAC in MP4 (Safari). */
const H5_FALLBACK_MIMES = ['audio/ogg;codecs=opus', 'audio/mp4'] as const

/** WeChat recorder settings: AAC mono at 16 kHz, 24 kbit/s (the lowest WeChat allows at 16 kHz: 24-96 kbit/s): 60 s is ~180 KB. */
const WEAPP_RECORD = { format: 'aac', sampleRate: 16000, numberOfChannels: 1, encodeBitRate: 24000 } as const

/** A recorder port whose callbacks are slots: the platform's listeners are registered once, per app. */
class Slots {
  start: () => void = () => {}
  stop: (file: RecordedFile) => void = () => {}
  error: (message: string) => void = () => {}
}

function nameOf(path: string, fallback: string): string {
  const last = path.split(/[\\/]/).pop() ?? ''
  return /\.[A-Za-z0-9]{1,5}$/.test(last) ? last : fallback
}

function weappRecorder(): RecorderPort {
  const slots = new Slots()
  const rm = Taro.getRecorderManager()
  rm.onStart(() => slots.start())
  rm.onStop((res) => slots.stop({ path: res.tempFilePath, name: nameOf(res.tempFilePath, 'voice.aac'), size: res.fileSize, duration: res.duration }))
  rm.onError((err) => slots.error(err.errMsg))
  return {
    start: ({ maxMs }) => rm.start({ ...WEAPP_RECORD, duration: maxMs }),
    stop: () => rm.stop(),
    onStart: (cb) => (slots.start = cb),
    onStop: (cb) => (slots.stop = cb),
    onError: (cb) => (slots.error = cb),
  }
}

function h5Mime(): string | undefined {
  if (typeof MediaRecorder === 'undefined') return undefined
  return [H5_VOICE_MIME, ...H5_FALLBACK_MIMES].find((m) => MediaRecorder.isTypeSupported(m))
}

function h5Recorder(): RecorderPort {
  const slots = new Slots()
  let recorder: MediaRecorder | undefined
  return {
    start() {
      const mimeType = h5Mime()
      if (!navigator.mediaDevices?.getUserMedia || mimeType === undefined) {
        queueMicrotask(() => slots.error('recording is not supported by this browser'))
        return
      }
      navigator.mediaDevices
        .getUserMedia({ audio: true })
        .then((stream) => {
          const rec = new MediaRecorder(stream, { mimeType })
          const chunks: Blob[] = []
          rec.ondataavailable = (e) => {
            if (e.data.size > 0) chunks.push(e.data)
          }
          rec.onstart = () => slots.start()
          rec.onstop = () => {
            for (const track of stream.getTracks()) track.stop()
            recorder = undefined
            const mime = mimeType.split(';')[0]!
            const blob = new Blob(chunks, { type: mime })
            const ext = mime === 'audio/mp4' ? 'm4a' : mime.split('/')[1]!
            slots.stop({ path: URL.createObjectURL(blob), name: `voice.${ext}`, size: blob.size, mime, blob })
          }
          rec.onerror = () => slots.error('recording failed')
          recorder = rec
          rec.start()
        })
        .catch((err: unknown) => slots.error(err instanceof Error ? err.message : String(err)))
    },
    stop() {
      if (recorder && recorder.state !== 'inactive') recorder.stop()
    },
    onStart: (cb) => (slots.start = cb),
    onStop: (cb) => (slots.stop = cb),
    onError: (cb) => (slots.error = cb),
  }
}

let recorderPort: RecorderPort | undefined
/** The app's one recorder (created on first use). */
export function taroRecorderPort(): RecorderPort {
  recorderPort ??= process.env.TARO_ENV === 'h5' ? h5Recorder() : weappRecorder()
  return recorderPort
}

function weappAudio(): AudioPort {
  Taro.setInnerAudioOption({ obeyMuteSwitch: false }).catch(() => undefined)
  const ctx = Taro.createInnerAudioContext()
  return {
    play(src) {
      ctx.stop()
      ctx.src = src
      ctx.play()
    },
    stop: () => ctx.stop(),
    onEnded: (cb) => ctx.onEnded(cb),
    onError: (cb) => ctx.onError((e) => cb(e.errMsg)),
  }
}

function h5Audio(): AudioPort {
  const el = document.createElement('audio')
  el.id = 'voice-audio'
  el.preload = 'auto'
  el.style.display = 'none'
  document.body.appendChild(el)
  let errorCb: (message: string) => void = () => {}
  return {
    play(src) {
      el.src = src
      el.play().catch((err: unknown) => {
        // A newer play() or a pause() interrupted this one: not a failure of what plays now.
        if ((err as { name?: string })?.name !== 'AbortError') errorCb(String(err))
      })
    },
    stop() {
      el.pause()
      el.currentTime = 0
    },
    onEnded: (cb) => el.addEventListener('ended', () => cb()),
    onError(cb) {
      errorCb = cb
      el.addEventListener('error', () => cb(el.error?.message ?? 'audio error'))
    },
  }
}

/** The app's one audio output for voices, made on the first play (no audio context for a chat without voices). */
export function taroAudioPort(): AudioPort {
  let port: AudioPort | undefined
  const ended: (() => void)[] = []
  const errors: ((message: string) => void)[] = []
  const made = (): AudioPort => {
    if (port) return port
    const p = process.env.TARO_ENV === 'h5' ? h5Audio() : weappAudio()
    for (const cb of ended) p.onEnded(cb)
    for (const cb of errors) p.onError(cb)
    port = p
    return p
  }
  return {
    play: (src) => made().play(src),
    stop: () => port?.stop(),
    onEnded: (cb) => (port ? port.onEnded(cb) : void ended.push(cb)),
    onError: (cb) => (port ? port.onError(cb) : void errors.push(cb)),
  }
}
