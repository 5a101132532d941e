/**
 * Voice playback, one at a time: starting a voice stops the one playing (WeChat plays voices so).
 * One audio output for the whole app (weapp: one InnerAudioContext; h5: one HTMLAudioElement), so
 * two can never sound together. `playing` is the key of the voice that plays, for the bubbles.
 *
 * Platform-free: the output is an AudioPort (./taro-audio.ts), tests use a fake.
 */

export interface AudioPort {
  /** Load `src` and play it from the start (what played before stops). */
  play(src: string): void
  stop(): void
  /** The current source played to its end. */
  onEnded(cb: () => void): void
  /** The current source could not be loaded or played. */
  onError(cb: (message: string) => void): void
}

export class VoicePlayer {
  private current: string | undefined
  private readonly listeners = new Set<() => void>()

  constructor(private readonly port: AudioPort) {
    port.onEnded(() => this.set(undefined))
    port.onError(() => this.set(undefined))
  }

  /** Key of the voice playing, if any. */
  playing(): string | undefined {
    return this.current
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** A tap on a voice: play it (stopping any other), or stop it when it is the one playing. */
  toggle(key: string, src: string): void {
    if (this.current === key) {
      this.stop()
      return
    }
    this.set(key)
    this.port.play(src)
  }

  stop(): void {
    if (this.current === undefined) return
    this.port.stop()
    this.set(undefined)
  }

  private set(key: string | undefined): void {
    if (key === this.current) return
    this.current = key
    for (const l of this.listeners) l()
  }
}
