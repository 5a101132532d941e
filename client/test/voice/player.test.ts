/**
 * Voice playback and its marks: one voice at a time through one audio output, the bubble width
 * growing with the duration, and played marks kept per user in storage, bounded.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS } from '@chat/shared'
import { MemoryStorage } from '../../platform/fake'
import { VOICE_WIDTH, voiceSeconds, voiceWidth } from '../../voice/layout'
import { PLAYED_MAX, PlayedMarks } from '../../voice/played'
import { VoicePlayer, type AudioPort } from '../../voice/player'

class FakeAudio implements AudioPort {
  readonly calls: string[] = []
  ended: () => void = () => {}
  error: (m: string) => void = () => {}
  play(src: string): void {
    this.calls.push(`play ${src}`)
  }
  stop(): void {
    this.calls.push('stop')
  }
  onEnded(cb: () => void): void {
    this.ended = cb
  }
  onError(cb: (m: string) => void): void {
    this.error = cb
  }
}

describe('VoicePlayer', () => {
  it('plays one voice at a time: starting another replaces it on the one output; a second tap stops it', () => {
    const audio = new FakeAudio()
    const player = new VoicePlayer(audio)
    let changes = 0
    player.subscribe(() => changes++)
    player.toggle('m1', 'https://x/a.aac')
    expect(player.playing()).toBe('m1')
    player.toggle('m2', 'https://x/b.aac')
    expect(player.playing()).toBe('m2')
    expect(audio.calls).toEqual(['play https://x/a.aac', 'play https://x/b.aac'])
    player.toggle('m2', 'https://x/b.aac')
    expect(player.playing()).toBeUndefined()
    expect(audio.calls.at(-1)).toBe('stop')
    expect(changes).toBe(3)
  })

  it('the end of the audio, or an error, clears what plays', () => {
    const audio = new FakeAudio()
    const player = new VoicePlayer(audio)
    player.toggle('m1', 'a')
    audio.ended()
    expect(player.playing()).toBeUndefined()
    player.toggle('m1', 'a')
    audio.error('404')
    expect(player.playing()).toBeUndefined()
  })
})

describe('voice layout', () => {
  it('grows the bubble with the duration, from the shortest to the longest width', () => {
    expect(voiceWidth(LIMITS.minVoiceMs)).toBe(VOICE_WIDTH.min)
    expect(voiceWidth(LIMITS.maxVoiceMs)).toBe(VOICE_WIDTH.max)
    const widths = [1, 2, 5, 10, 20, 40, 60].map((s) => voiceWidth(s * 1000))
    for (let i = 1; i < widths.length; i++) expect(widths[i]!).toBeGreaterThan(widths[i - 1]!)
    // Fast over the first seconds: 2 s is visibly wider than 1 s.
    expect(widths[1]! - widths[0]!).toBeGreaterThanOrEqual(15)
    expect(voiceWidth(10 * LIMITS.maxVoiceMs)).toBe(VOICE_WIDTH.max)
  })

  it('shows whole seconds, at least 1', () => {
    expect([voiceSeconds(1000), voiceSeconds(12_400), voiceSeconds(12_600), voiceSeconds(300)]).toEqual([1, 12, 13, 1])
  })
})

describe('PlayedMarks', () => {
  it('keeps marks per user in storage, across instances, and drops the oldest past PLAYED_MAX', () => {
    const storage = new MemoryStorage()
    const marks = new PlayedMarks(storage)
    expect(marks.has('ann', 'm1')).toBe(false)
    marks.mark('ann', 'm1')
    expect(marks.has('ann', 'm1')).toBe(true)
    expect(marks.has('bob', 'm1')).toBe(false)
    expect(new PlayedMarks(storage).has('ann', 'm1')).toBe(true)
    for (let i = 0; i < PLAYED_MAX; i++) marks.mark('ann', `x${i}`)
    expect(marks.has('ann', 'm1')).toBe(false)
    expect(marks.has('ann', `x${PLAYED_MAX - 1}`)).toBe(true)
    expect((storage.get('voice.played.ann') as string[]).length).toBe(PLAYED_MAX)
  })
})
