/**
 * The one CORS policy of the BFF: the h5 build may be served from another origin in development.
 * Tokens travel in bodies and Authorization headers, never cookies, so no credentials mode is
 * needed. `CORS_ORIGINS` lists the origins allowed, `*` for any (the default).
 */
import type { RequestHandler } from 'express'

export class CorsPolicy {
  private readonly any: boolean

  constructor(private readonly origins: readonly string[]) {
    this.any = origins.includes('*')
  }

  /** The origins allowed, for components that take a list (tus's allowedOrigins); undefined: any. */
  get allowed(): readonly string[] | undefined {
    return this.any ? undefined : this.origins
  }

  /** Access-Control-Allow-Origin for a request from `origin`; undefined when it is not allowed. */
  allowOrigin(origin: string | undefined): string | undefined {
    if (this.any) return '*'
    return origin !== undefined && this.origins.includes(origin) ? origin : undefined
  }

  /** Every answer: the allowed origin; a preflight is answered here (204) with what it asks for. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const origin = req.headers.origin
      const allow = origin ? this.allowOrigin(origin) : undefined
      if (allow !== undefined) {
        res.setHeader('Access-Control-Allow-Origin', allow)
        res.setHeader('Vary', 'Origin')
        // Reflect what a preflight asks for: the components (auth, uploads) use different headers.
        const asked = req.headers['access-control-request-headers']
        res.setHeader('Access-Control-Allow-Headers', asked ?? 'Content-Type, Authorization')
        res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
        res.setHeader('Access-Control-Max-Age', '600')
      }
      if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) return void res.status(204).end()
      next()
    }
  }
}
