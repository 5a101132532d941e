/// <reference types="@tarojs/taro" />

declare module '*.png'
declare module '*.svg'
declare module '*.css'
declare module '*.scss'

declare namespace NodeJS {
  interface ProcessEnv {
    NODE_ENV?: string
    TARO_ENV?: 'weapp' | 'h5' | 'swan' | 'alipay' | 'tt' | 'qq' | 'jd' | 'harmony' | 'rn' | 'jdrn'
    /** Mini-program appid; overrides project.config.json's placeholder. */
    TARO_APP_ID?: string
    /** Origin of the BFF (http(s)://host[:port]); empty on h5 means the page's own origin. */
    TARO_APP_BFF_URL?: string
    /** View batching window of the client, ms (default 50; client/config.ts). */
    TARO_APP_VIEW_BATCH_MS?: string
    /** '1': the mini-program offers the dev login too (local preview against a dev BFF). */
    TARO_APP_DEV_LOGIN?: string
    /** '1' in the benchmark's build only (config/index.ts). */
    TARO_APP_BENCH?: string
  }
}
