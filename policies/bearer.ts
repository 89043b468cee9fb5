import { createHash, timingSafeEqual } from 'node:crypto'

// Static bearer tokens. Both forms are kept as SHA-256 digests: the presented token is hashed
// once per request and compared with timingSafeEqual, so neither the comparison time nor the
// process memory (for token_sha256) reveals the secret.

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export function digestEquals(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

/** The credential of an `Authorization: Bearer X` header, or a reason it is unusable. */
export function bearerCredential(
  header: string | undefined,
  maxBytes: number
): { token: string } | { missing: true } | { reason: string } {
  if (header === undefined || header === '') return { missing: true }
  if (header.length > maxBytes) return { reason: `Authorization header longer than ${maxBytes} bytes` }
  // RFC 6750 §2.1: "Bearer" (case-insensitive) SP b64token. Exactly one SP, nothing around the
  // token: the grammar's 1*SP would give one token several spellings, and each spelling its
  // own cache key and its own chance to be read differently by something else (issue 13).
  if (header.length < 8 || header.charCodeAt(6) !== 32 || header.slice(0, 6).toLowerCase() !== 'bearer')
    return { reason: 'Authorization is not a Bearer credential' }
  const token = header.slice(7)
  if (token.charCodeAt(0) === 32) return { reason: 'Bearer must be followed by exactly one space' }
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) return { reason: 'bearer token has characters outside RFC 6750 b64token' }
  return { token }
}
