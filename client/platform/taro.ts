/**
 * The platform on Taro: weapp (wx.* through Taro) and h5 (the browser through Taro, except the socket).
 */
import Taro from '@tarojs/taro'
import type {
  AppLifecycle,
  HttpClient,
  HttpResponse,
  KeyValueStorage,
  Platform,
  SocketConnection,
  SocketHandlers,
  SocketTransport,
  Timers,
} from './types'

/** Close code we report when the platform gives none (RFC 6455: 1006, closed abnormally). */
const ABNORMAL = 1006

/**
 * weapp: Taro.connectSocket (a promise of wx's SocketTask).
 * - An `onError` is not always followed by `onClose` (PLATFORM.md, peers' complaints: "no reconnect
 *   after an error callback that never fires"): the first of the two ends the connection for us.
 * - Closing a task that never opened or is already gone fails with `closeSocket:fail task not found`
 *   (PLATFORM.md): the fail callback is swallowed; the connection is over for us either way.
 */
class WeappSocket implements SocketConnection {
  private task?: Taro.SocketTask
  private open = false
  private done = false
  private closeWanted?: { code?: number; reason?: string }

  constructor(url: string, private readonly handlers: SocketHandlers) {
    Taro.connectSocket({ url, fail: () => undefined })
      .then((task) => {
        if (this.closeWanted) {
          this.closeTask(task, this.closeWanted.code, this.closeWanted.reason)
          return
        }
        this.task = task
        task.onOpen(() => {
          if (this.done) return
          this.open = true
          this.handlers.onOpen()
        })
        task.onMessage((res) => {
          if (this.done) return
          if (typeof res.data === 'string') this.handlers.onMessage(res.data)
        })
        task.onError((res) => this.end(ABNORMAL, res?.errMsg ?? 'error'))
        task.onClose((res) => this.end(typeof res?.code === 'number' ? res.code : ABNORMAL, res?.reason ?? ''))
      })
      .catch((err: { errMsg?: string } | undefined) => this.end(ABNORMAL, err?.errMsg ?? 'connectSocket failed'))
  }

  send(text: string): boolean {
    if (!this.open || this.done || !this.task) return false
    this.task.send({ data: text, fail: () => this.end(ABNORMAL, 'send failed') })
    return true
  }

  close(code = 1000, reason = ''): void {
    if (this.done) return
    this.done = true
    if (this.task) this.closeTask(this.task, code, reason)
    else this.closeWanted = { code, reason }
  }

  private closeTask(task: Taro.SocketTask, code?: number, reason?: string): void {
    try {
      task.close({ code, reason, fail: () => undefined })
    } catch {
      // already closed by the platform: nothing to release
    }
  }

  private end(code: number, reason: string): void {
    if (this.done) return
    this.done = true
    if (this.task) this.closeTask(this.task, 1000, '')
    this.handlers.onClose(code, reason)
  }
}

/**
 * h5: the browser's WebSocket directly. Taro's h5 SocketTask reports every close the server makes
 * as 1006 (its onClose passes only the code of a close the client itself asked for; see
 * @tarojs/taro-h5 api/network/websocket/socketTask.js), and reconnect decisions need the real code
 * (4001, 4002, 1012, ...).
 */
class BrowserSocket implements SocketConnection {
  private readonly ws: WebSocket
  private done = false

  constructor(url: string, private readonly handlers: SocketHandlers) {
    this.ws = new WebSocket(url)
    this.ws.onopen = () => {
      if (!this.done) this.handlers.onOpen()
    }
    this.ws.onmessage = (ev) => {
      if (!this.done && typeof ev.data === 'string') this.handlers.onMessage(ev.data)
    }
    this.ws.onclose = (ev) => this.end(ev.code || ABNORMAL, ev.reason)
    // An error is always followed by close in browsers; the close carries the code.
  }

  send(text: string): boolean {
    if (this.done || this.ws.readyState !== WebSocket.OPEN) return false
    this.ws.send(text)
    return true
  }

  close(code = 1000, reason = ''): void {
    if (this.done) return
    this.done = true
    try {
      this.ws.close(code, reason)
    } catch {
      this.ws.close()
    }
  }

  private end(code: number, reason: string): void {
    if (this.done) return
    this.done = true
    this.handlers.onClose(code, reason)
  }
}

export const taroTransport: SocketTransport = {
  connect(url, handlers) {
    return process.env.TARO_ENV === 'h5' ? new BrowserSocket(url, handlers) : new WeappSocket(url, handlers)
  },
}

/**
 * Values are stored as JSON text: wx keeps objects natively, Taro's h5 storage wraps them; a string
 * reads back the same on both, and a read always yields a copy.
 */
export const taroStorage: KeyValueStorage = {
  get(key) {
    try {
      const raw: unknown = Taro.getStorageSync(key)
      if (typeof raw !== 'string' || raw === '') return undefined
      return JSON.parse(raw) as unknown
    } catch {
      return undefined
    }
  },
  set(key, value) {
    try {
      Taro.setStorageSync(key, JSON.stringify(value))
    } catch (err) {
      // Full storage (10 MB per mini-program) must not break the chat: the cache is only a cache.
      console.warn('storage write failed', key, err)
    }
  },
  remove(key) {
    try {
      Taro.removeStorageSync(key)
    } catch {
      // nothing stored
    }
  },
}

export const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => {
    if (id !== undefined) clearTimeout(id)
  },
}

export const taroLifecycle: AppLifecycle = {
  onShow(cb) {
    const listener = () => cb()
    Taro.onAppShow(listener)
    return () => Taro.offAppShow(listener)
  },
  onHide(cb) {
    const listener = () => cb()
    Taro.onAppHide(listener)
    return () => Taro.offAppHide(listener)
  },
  onNetworkChange(cb) {
    if (process.env.TARO_ENV === 'h5') {
      // Taro's h5 onNetworkStatusChange listens to navigator.connection only (absent in many
      // browsers); the window's online/offline events are what browsers reliably fire.
      const on = () => cb(true)
      const off = () => cb(false)
      window.addEventListener('online', on)
      window.addEventListener('offline', off)
      // Already offline when the app starts (a reload without network, from the offline shell):
      // say so at once, so the first attempt's failure waits for the network, not a backoff.
      if (navigator.onLine === false) queueMicrotask(off)
      return () => {
        window.removeEventListener('online', on)
        window.removeEventListener('offline', off)
      }
    }
    const listener = (res: { isConnected: boolean }) => cb(res.isConnected)
    Taro.onNetworkStatusChange(listener)
    // The same for a mini-program started without network (best effort: a host without the API
    // leaves it to the change events).
    try {
      Taro.getNetworkType()
        .then((res) => {
          if (res.networkType === 'none') cb(false)
        })
        .catch(() => undefined)
    } catch {
      // not available here
    }
    return () => Taro.offNetworkStatusChange?.(listener)
  },
}

export const taroHttp: HttpClient = {
  async postJson(url, body, headers) {
    try {
      const res = await Taro.request({
        url,
        method: 'POST',
        data: body as Record<string, unknown>,
        header: { ...headers, 'content-type': 'application/json' },
        dataType: 'json',
      })
      return { status: res.statusCode, data: res.data } satisfies HttpResponse
    } catch (err) {
      throw new Error((err as { errMsg?: string } | undefined)?.errMsg ?? 'request failed', { cause: err })
    }
  },
  async get(url, timeoutMs, headers) {
    try {
      const res = await Taro.request({ url, method: 'GET', dataType: 'json', timeout: timeoutMs, header: headers ?? {} })
      return { status: res.statusCode, data: res.data } satisfies HttpResponse
    } catch (err) {
      throw new Error((err as { errMsg?: string } | undefined)?.errMsg ?? 'request failed', { cause: err })
    }
  },
}

export const taroPlatform: Platform = {
  transport: taroTransport,
  storage: taroStorage,
  timers: realTimers,
  lifecycle: taroLifecycle,
  http: taroHttp,
}
