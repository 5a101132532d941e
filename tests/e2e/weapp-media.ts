/**
 * The fake host's recorder and audio (weapp-host.ts): WeChat's RecorderManager and
 * InnerAudioContext as the app uses them, each recording what the app asked and letting the test
 * play the platform's side step by step (the recorder started, stopped with a file; the audio ended).
 */

type Cb<T = void> = (arg: T) => void

/** wx.getRecorderManager(): one per app, as in WeChat. */
export class FakeRecorderManager {
  /** The options of every start() the app made. */
  readonly starts: Record<string, unknown>[] = []
  stops = 0
  private startCbs: Cb[] = []
  private stopCbs: Cb<{ tempFilePath: string; duration: number; fileSize: number }>[] = []
  private errorCbs: Cb<{ errMsg: string }>[] = []

  /** The object the app gets. */
  api() {
    return {
      start: (o: Record<string, unknown>) => void this.starts.push(o),
      stop: () => void this.stops++,
      pause: () => undefined,
      resume: () => undefined,
      onStart: (cb: Cb) => void this.startCbs.push(cb),
      onStop: (cb: Cb<{ tempFilePath: string; duration: number; fileSize: number }>) => void this.stopCbs.push(cb),
      onError: (cb: Cb<{ errMsg: string }>) => void this.errorCbs.push(cb),
      onPause: () => undefined,
      onResume: () => undefined,
      onFrameRecorded: () => undefined,
      onInterruptionBegin: () => undefined,
      onInterruptionEnd: () => undefined,
    }
  }

  /** The platform reports that recording began. */
  started(): void {
    for (const cb of this.startCbs) cb()
  }

  /** The platform reports the recording's end, with its temp file. */
  stopped(file: { tempFilePath: string; duration: number; fileSize: number }): void {
    for (const cb of this.stopCbs) cb(file)
  }

  failed(errMsg: string): void {
    for (const cb of this.errorCbs) cb({ errMsg })
  }
}

/** wx.createInnerAudioContext(): every context the app made, and what it was told. */
export class FakeAudio {
  /** `play <src>` and `stop`, in order, over every context. */
  readonly calls: string[] = []
  readonly options: Record<string, unknown>[] = []
  private endedCbs: Cb[] = []

  createContext() {
    const calls = this.calls
    const ended = this.endedCbs
    let src = ''
    return {
      get src() {
        return src
      },
      set src(v: string) {
        src = v
      },
      play: () => void calls.push(`play ${src}`),
      stop: () => void calls.push('stop'),
      pause: () => void calls.push('pause'),
      destroy: () => undefined,
      onEnded: (cb: Cb) => void ended.push(cb),
      onError: () => undefined,
      onStop: () => undefined,
      onPlay: () => undefined,
    }
  }

  /** The audio played to its end. */
  ended(): void {
    for (const cb of this.endedCbs) cb()
  }
}
