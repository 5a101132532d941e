/**
 * Press-and-hold voice recording, as WeChat does it: holding the button records; sliding the finger
 * up more than VOICE_CANCEL_SLIDE_PX arms a cancel ("松开手指，取消发送"), sliding back disarms it;
 * releasing sends, or cancels when armed; a recording shorter than LIMITS.minVoiceMs is not sent
 * ("说话时间太短"); at LIMITS.maxVoiceMs the recording stops by itself and is sent.
 *
 * Platform-free: the recorder itself is a RecorderPort (weapp: RecorderManager, h5: MediaRecorder;
 * ./taro-recorder.ts), shaped like WeChat's RecorderManager (start/stop and onStart/onStop/onError).
 * Tests drive it with a fake port and manual timers.
 */
import { LIMITS } from '@chat/shared'
import type { Timers, TimerId } from '../platform/types'

/** How far up (CSS px) the finger must move from where it pressed for a release to cancel. */
export const VOICE_CANCEL_SLIDE_PX = 50

/** What a finished recording left behind: a local file the uploads module can open. */
export interface RecordedFile {
  /** weapp: the temp file path; h5: a blob: URL of `blob`. */
  readonly path: string
  readonly name: string
  readonly size: number
  readonly mime?: string
  /** The recorder's own measure of the length, ms (WeChat's onStop gives it; MediaRecorder does not). */
  readonly duration?: number
  /** h5: the recorded Blob. */
  readonly blob?: unknown
}

export interface RecorderPort {
  start(options: { readonly maxMs: number }): void
  stop(): void
  onStart(cb: () => void): void
  onStop(cb: (file: RecordedFile) => void): void
  onError(cb: (message: string) => void): void
}

/**
 * `idle`: nothing recording. `starting`: asked the recorder to start (the microphone permission may
 * be on screen). `recording`: sound is being recorded. `stopping`: asked it to stop, waiting for its file.
 */
export type RecorderPhase = 'idle' | 'starting' | 'recording' | 'stopping'

export interface RecorderView {
  readonly phase: RecorderPhase
  /** The finger moved up far enough: releasing now cancels. */
  readonly armed: boolean
  /** Clock ms when sound started being recorded (`recording` and after). */
  readonly startedAt?: number
}

export type RecordingOutcome =
  | { readonly kind: 'send'; readonly file: RecordedFile; readonly duration: number }
  | { readonly kind: 'tooShort'; readonly duration: number }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'error'; readonly message: string }

export interface VoiceRecorderOptions {
  /** Longest recording, ms. Default LIMITS.maxVoiceMs (60 s). */
  readonly maxMs?: number
  /** Shortest recording that is sent, ms. Default LIMITS.minVoiceMs (1 s). */
  readonly minMs?: number
  /** Upward slide that arms a cancel, px. Default VOICE_CANCEL_SLIDE_PX. */
  readonly cancelSlidePx?: number
}

const IDLE: RecorderView = { phase: 'idle', armed: false }

export class VoiceRecorder {
  private state: RecorderView = IDLE
  private readonly listeners = new Set<() => void>()
  private startY = 0
  /** Released (or aborted) before the recorder reported its start: stop as soon as it does. */
  private released = false
  /** The stop in flight ends in a cancel (armed release, or abort). */
  private cancel = false
  private limitTimer: TimerId | undefined
  private readonly maxMs: number
  private readonly minMs: number
  private readonly cancelSlidePx: number

  constructor(
    private readonly port: RecorderPort,
    private readonly timers: Timers,
    private readonly onOutcome: (outcome: RecordingOutcome) => void,
    options: VoiceRecorderOptions = {},
  ) {
    this.maxMs = options.maxMs ?? LIMITS.maxVoiceMs
    this.minMs = options.minMs ?? LIMITS.minVoiceMs
    this.cancelSlidePx = options.cancelSlidePx ?? VOICE_CANCEL_SLIDE_PX
    port.onStart(() => this.started())
    port.onStop((file) => this.stopped(file))
    port.onError((message) => this.failed(message))
  }

  view(): RecorderView {
    return this.state
  }

  /** For useSyncExternalStore: called on every change of `view()`. */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The finger (or mouse button) went down on the button at page y `y`. */
  press(y: number): void {
    if (this.state.phase !== 'idle') return
    this.startY = y
    this.released = false
    this.cancel = false
    this.set({ phase: 'starting', armed: false })
    this.port.start({ maxMs: this.maxMs })
  }

  /** The finger moved to page y `y`: more than cancelSlidePx above the press arms a cancel. */
  move(y: number): void {
    const { phase } = this.state
    if ((phase !== 'starting' && phase !== 'recording') || this.released) return
    const armed = this.startY - y > this.cancelSlidePx
    if (armed !== this.state.armed) this.set({ ...this.state, armed })
  }

  /** The finger lifted: send (or cancel when armed). */
  release(): void {
    const { phase } = this.state
    if (phase === 'starting') {
      // Not recording yet: stop once it starts (a tap is then a too-short recording).
      this.released = true
      this.cancel = this.state.armed
      return
    }
    if (phase !== 'recording') return
    this.stopNow(this.state.armed)
  }

  /** Drop whatever is recording without sending (the page hides, the touch was taken away). */
  abort(): void {
    const { phase } = this.state
    if (phase === 'starting') {
      this.released = true
      this.cancel = true
    } else if (phase === 'recording') {
      this.stopNow(true)
    } else if (phase === 'stopping') {
      this.cancel = true
    }
  }

  private stopNow(cancel: boolean): void {
    this.cancel = cancel
    this.timers.clearTimeout(this.limitTimer)
    this.limitTimer = undefined
    this.set({ ...this.state, phase: 'stopping' })
    this.port.stop()
  }

  private started(): void {
    if (this.state.phase !== 'starting') return
    this.set({ phase: 'recording', armed: this.state.armed, startedAt: this.timers.now() })
    if (this.released) {
      this.stopNow(this.cancel)
      return
    }
    // WeChat's recorder stops by itself at `duration`; MediaRecorder has no limit: the same bound here.
    this.limitTimer = this.timers.setTimeout(() => {
      this.limitTimer = undefined
      if (this.state.phase === 'recording') this.stopNow(false)
    }, this.maxMs)
  }

  private stopped(file: RecordedFile): void {
    const { phase, startedAt } = this.state
    if (phase !== 'recording' && phase !== 'stopping') return
    // A stop while still `recording` is the recorder's own (its duration limit): sent, unless armed.
    const cancel = phase === 'recording' ? this.state.armed : this.cancel
    this.timers.clearTimeout(this.limitTimer)
    this.limitTimer = undefined
    this.set(IDLE)
    if (cancel) return this.onOutcome({ kind: 'cancelled' })
    const measured = file.duration ?? this.timers.now() - (startedAt ?? this.timers.now())
    const duration = Math.min(this.maxMs, Math.max(0, Math.round(measured)))
    if (duration < this.minMs) return this.onOutcome({ kind: 'tooShort', duration })
    this.onOutcome({ kind: 'send', file, duration })
  }

  private failed(message: string): void {
    if (this.state.phase === 'idle') return
    const cancelled = this.cancel
    this.timers.clearTimeout(this.limitTimer)
    this.limitTimer = undefined
    this.set(IDLE)
    this.onOutcome(cancelled ? { kind: 'cancelled' } : { kind: 'error', message })
  }

  private set(next: RecorderView): void {
    if (next === this.state) return
    this.state = next
    for (const l of this.listeners) l()
  }
}
