/**
 * The one reading of `Authorization: Bearer <token>` (RFC 6750 2.1: the scheme is
 * case-insensitive, one token of non-space characters). Undefined when the header is absent or of
 * another scheme.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined
  return /^Bearer\s+(\S+)$/i.exec(header)?.[1]
}
