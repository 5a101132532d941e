/**
 * The app's single instances: platform, store, session and chat client. Pages import them from
 * here; tests build their own from the same classes with the fake platform.
 */
import Taro from '@tarojs/taro'
import { bffOrigin, CLIENT_DEFAULTS } from './config'
import { Auth } from './net/auth'
import { ChatClient } from './net/chat-client'
import { Moderation } from './net/moderation'
import { taroPlatform } from './platform/taro'
import { createChatStore } from './store/store'
import { createContactsStore } from './store/contacts'
import { createUploads } from './upload'
import { taroUploadHttp } from './upload/taro'
import { FileUrlRefresher, withFileUrls } from './upload/urls'
import { PlayedMarks } from './voice/played'
import { VoicePlayer } from './voice/player'
import { taroAudioPort } from './voice/taro'

const log = (msg: string, details?: Record<string, unknown>) => console.warn(`[chat] ${msg}`, details ?? '')

export const platform = taroPlatform
export const baseUrl = bffOrigin()
export const store = createChatStore()
export const auth = new Auth({
  baseUrl,
  http: platform.http,
  storage: platform.storage,
  timers: platform.timers,
  renewMarginMs: CLIENT_DEFAULTS.tokenRenewMarginMs,
  log,
})
export const client = new ChatClient({ platform, store, auth, baseUrl, log })
/** The contacts page's state (client/store/contacts.ts). */
export const contacts = createContactsStore(client)
// Image and file messages: chunked, resumable uploads (client/upload).
client.setUploads(createUploads(client.fileSink(), platform))
// Signed file URLs of messages held longer than their lifetime get fresh ones (client/upload/urls.ts).
export const fileUrls = new FileUrlRefresher({
  baseUrl,
  http: taroUploadHttp,
  getToken: () => auth.getToken(false),
  onFresh: (info) => store.setState((s) => withFileUrls(s, info)),
})

/**
 * Subscription messages (weapp only: h5 has none, so nothing is offered there) and reports.
 * `wx.requestSubscribeMessage` is called only from the banner's tap handler, as WeChat requires.
 */
export const moderation = new Moderation({
  baseUrl,
  http: platform.http,
  getToken: () => auth.getToken(false),
  requestSubscribe:
    process.env.TARO_ENV === 'weapp'
      ? async (tmplIds) => (await Taro.requestSubscribeMessage({ tmplIds } as Taro.requestSubscribeMessage.Option)) as unknown as Record<string, string>
      : undefined,
})

/**
 * Voice: one player for the app (one voice at a time) and the played marks of this device
 * (client/voice). The recorder belongs to the composer's hold button (pages/chat/VoiceInput.tsx).
 */
export const voicePlayer = new VoicePlayer(taroAudioPort())
export const playedMarks = new PlayedMarks(platform.storage)
