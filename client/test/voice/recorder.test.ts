/**
 * The press-and-hold state machine against a fake RecorderManager that answers step by step, as
 * WeChat's does (start -> onStart, stop -> onStop with the file, or onError), on manual timers.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS } from '@chat/shared'
import { ManualTimers } from '../../platform/fake'
import { VOICE_CANCEL_SLIDE_PX, VoiceRecorder } from '../../voice/recorder'
import type { RecordedFile, RecorderPort, RecordingOutcome } from '../../voice/recorder'

class FakeRecorderManager implements RecorderPort {
  readonly calls: string[] = []
  maxMs: number | undefined
  private startCb: () => void = () => {}
  private stopCb: (f: RecordedFile) => void = () => {}
  private errorCb: (m: string) => void = () => {}
  start(options: { maxMs: number }): void {
    this.calls.push('start')
    this.maxMs = options.maxMs
  }
  stop(): void {
    this.calls.push('stop')
  }
  onStart(cb: () => void): void {
    this.startCb = cb
  }
  onStop(cb: (f: RecordedFile) => void): void {
    this.stopCb = cb
  }
  onError(cb: (m: string) => void): void {
    this.errorCb = cb
  }
  /** The recorder reports it started. */
  started(): void {
    this.startCb()
  }
  /** The recorder reports it stopped, with its file (WeChat gives the duration; h5 does not). */
  stopped(duration?: number): RecordedFile {
    const file: RecordedFile = { path: 'wxfile://tmp/voice.aac', name: 'voice.aac', size: 4096, ...(duration !== undefined ? { duration } : {}) }
    this.stopCb(file)
    return file
  }
  failed(message: string): void {
    this.errorCb(message)
  }
}

function setup() {
  const port = new FakeRecorderManager()
  const timers = new ManualTimers()
  const outcomes: RecordingOutcome[] = []
  const rec = new VoiceRecorder(port, timers, (o) => outcomes.push(o))
  let changes = 0
  rec.subscribe(() => changes++)
  return { port, timers, outcomes, rec, changes: () => changes }
}

describe('VoiceRecorder', () => {
  it('hold, speak, release: records and sends the file with its duration', () => {
    const { port, timers, outcomes, rec } = setup()
    rec.press(600)
    expect(port.calls).toEqual(['start'])
    expect(port.maxMs).toBe(LIMITS.maxVoiceMs)
    expect(rec.view()).toMatchObject({ phase: 'starting', armed: false })
    port.started()
    expect(rec.view()).toMatchObject({ phase: 'recording', startedAt: timers.now() })
    timers.advance(3_200)
    rec.release()
    expect(port.calls).toEqual(['start', 'stop'])
    expect(rec.view().phase).toBe('stopping')
    const file = port.stopped(3_180)
    expect(outcomes).toEqual([{ kind: 'send', file, duration: 3_180 }])
    expect(rec.view()).toEqual({ phase: 'idle', armed: false })
  })

  it('measures the duration itself when the recorder does not report one (h5 MediaRecorder)', () => {
    const { port, timers, outcomes, rec } = setup()
    rec.press(600)
    port.started()
    timers.advance(2_500)
    rec.release()
    timers.advance(40)
    port.stopped()
    expect(outcomes).toMatchObject([{ kind: 'send', duration: 2_540 }])
  })

  it('slide up past the threshold arms a cancel; sliding back disarms; an armed release sends nothing', () => {
    const { port, timers, outcomes, rec } = setup()
    rec.press(600)
    port.started()
    timers.advance(2_000)
    rec.move(600 - VOICE_CANCEL_SLIDE_PX)
    expect(rec.view().armed).toBe(false)
    rec.move(600 - VOICE_CANCEL_SLIDE_PX - 1)
    expect(rec.view().armed).toBe(true)
    rec.move(590)
    expect(rec.view().armed).toBe(false)
    rec.move(400)
    expect(rec.view().armed).toBe(true)
    rec.release()
    expect(port.calls).toEqual(['start', 'stop'])
    port.stopped(2_000)
    expect(outcomes).toEqual([{ kind: 'cancelled' }])
    expect(rec.view().phase).toBe('idle')
  })

  it('a recording shorter than LIMITS.minVoiceMs is not sent: tooShort', () => {
    const { port, timers, outcomes, rec } = setup()
    rec.press(600)
    port.started()
    timers.advance(LIMITS.minVoiceMs - 100)
    rec.release()
    port.stopped(LIMITS.minVoiceMs - 100)
    expect(outcomes).toEqual([{ kind: 'tooShort', duration: LIMITS.minVoiceMs - 100 }])
  })

  it('a tap released before the recorder started stops it as soon as it starts: tooShort', () => {
    const { port, outcomes, rec } = setup()
    rec.press(600)
    rec.release()
    expect(port.calls).toEqual(['start'])
    port.started()
    expect(port.calls).toEqual(['start', 'stop'])
    port.stopped(60)
    expect(outcomes).toEqual([{ kind: 'tooShort', duration: 60 }])
  })

  it('at LIMITS.maxVoiceMs it stops by itself and sends; the later release does nothing', () => {
    const { port, timers, outcomes, rec } = setup()
    rec.press(600)
    port.started()
    timers.advance(LIMITS.maxVoiceMs - 1)
    expect(port.calls).toEqual(['start'])
    timers.advance(1)
    expect(port.calls).toEqual(['start', 'stop'])
    const file = port.stopped(LIMITS.maxVoiceMs + 35)
    // Clamped to the limit the server accepts.
    expect(outcomes).toEqual([{ kind: 'send', file, duration: LIMITS.maxVoiceMs }])
    rec.release()
    rec.move(0)
    expect(port.calls).toEqual(['start', 'stop'])
    expect(outcomes).toHaveLength(1)
    expect(rec.view().phase).toBe('idle')
  })

  it('the recorder stopping on its own (WeChat’s duration limit) while held sends', () => {
    const { port, timers, outcomes, rec } = setup()
    rec.press(600)
    port.started()
    timers.advance(59_990)
    port.stopped(60_000)
    expect(outcomes).toMatchObject([{ kind: 'send', duration: 60_000 }])
    expect(timers.size).toBe(0)
  })

  it('a recorder error (microphone refused) ends in error, and the next press starts again', () => {
    const { port, outcomes, rec } = setup()
    rec.press(600)
    port.failed('operateRecorder:fail auth deny')
    expect(outcomes).toEqual([{ kind: 'error', message: 'operateRecorder:fail auth deny' }])
    expect(rec.view().phase).toBe('idle')
    rec.press(600)
    expect(port.calls).toEqual(['start', 'start'])
  })

  it('abort (the page hides) cancels what is recording', () => {
    const { port, outcomes, rec } = setup()
    rec.press(600)
    port.started()
    rec.abort()
    expect(port.calls).toEqual(['start', 'stop'])
    port.stopped(5_000)
    expect(outcomes).toEqual([{ kind: 'cancelled' }])
  })

  it('a second press while recording is ignored; listeners hear each change once', () => {
    const { port, rec, changes } = setup()
    rec.press(600)
    rec.press(100)
    expect(port.calls).toEqual(['start'])
    port.started()
    rec.move(599)
    rec.move(598)
    expect(changes()).toBe(2)
  })
})
