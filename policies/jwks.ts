import { DEFAULT_JWKS_COOLDOWN_SEC, DEFAULT_JWKS_MAX_AGE_SEC, JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES } from './defaults.js'
import { JwksFetchFailed } from './errors.js'
import { importJwk, type VerifyKey } from './jwt-key.js'

// A cached JWK Set. Keys are looked up by kid; the set is refetched when older than maxAge,
// or on an unknown kid, but at most once per cool-down: a flood of tokens with made-up kids
// costs one fetch per cool-down, not one per request. Concurrent lookups share one fetch.

export type FetchFn = (url: string, init: { signal: AbortSignal, headers: Record<string, string> }) => Promise<Response>

export interface JwksOptions {
  maxAgeSec?: number | undefined
  cooldownSec?: number | undefined
  fetch?: FetchFn | undefined
  now?: (() => number) | undefined
}

export class JwksCache {
  private keys = new Map<string, VerifyKey>()
  private single: VerifyKey | undefined
  private fetchedAt = -Infinity
  private inFlight: Promise<void> | undefined
  private readonly maxAgeMs: number
  private readonly cooldownMs: number
  private readonly fetchFn: FetchFn
  private readonly now: () => number
  /** Number of fetches made (for tests and logs). */
  fetches = 0
  lastError: string | undefined

  constructor (readonly url: string, opts: JwksOptions = {}) {
    this.maxAgeMs = (opts.maxAgeSec ?? DEFAULT_JWKS_MAX_AGE_SEC) * 1000
    this.cooldownMs = (opts.cooldownSec ?? DEFAULT_JWKS_COOLDOWN_SEC) * 1000
    this.fetchFn = opts.fetch ?? (async (u, init) => await fetch(u, init))
    this.now = opts.now ?? Date.now
  }

  /** The key for `kid` (or the only key when the token has no kid), or undefined. */
  async get (kid: string | undefined): Promise<VerifyKey | undefined> {
    const age = this.now() - this.fetchedAt
    if (age > this.maxAgeMs) await this.refresh()
    let key = this.lookup(kid)
    if (key === undefined && age > this.cooldownMs && this.now() - this.fetchedAt > this.cooldownMs) {
      await this.refresh()
      key = this.lookup(kid)
    }
    return key
  }

  private lookup (kid: string | undefined): VerifyKey | undefined {
    return kid === undefined ? this.single : this.keys.get(kid)
  }

  private async refresh (): Promise<void> {
    this.inFlight ??= this.load().finally(() => { this.inFlight = undefined })
    await this.inFlight
  }

  private async load (): Promise<void> {
    // The attempt counts for the cool-down even when it fails: a dead JWKS server must not be hammered.
    this.fetchedAt = this.now()
    this.fetches++
    // Aborted on the timeout, and as soon as the body passes the size limit: a huge (or
    // endless) key set costs JWKS_MAX_BYTES of memory, not its size.
    const abort = new AbortController()
    try {
      const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS)])
      const headers = { accept: 'application/jwk-set+json, application/json' }
      const res = await this.fetchFn(this.url, { signal, headers })
      if (!res.ok) throw new JwksFetchFailed(`${this.url}: HTTP ${res.status}`)
      const tooLarge = (): Error => new JwksFetchFailed(`${this.url}: key set larger than ${JWKS_MAX_BYTES} bytes`)
      const text = await readCapped(res, JWKS_MAX_BYTES, tooLarge)
      const body = JSON.parse(text) as { keys?: unknown }
      if (!Array.isArray(body.keys)) throw new JwksFetchFailed(`${this.url}: no "keys" array`)
      const keys = new Map<string, VerifyKey>()
      const usable: VerifyKey[] = []
      for (const jwk of body.keys as Array<Record<string, unknown>>) {
        if (jwk === null || typeof jwk !== 'object' || jwk.use === 'enc') continue
        if (!['RSA', 'EC', 'OKP'].includes(jwk.kty as string)) continue // symmetric keys are never usable
        try {
          const key = importJwk(jwk, undefined)
          usable.push(key)
          if (key.kid !== undefined) keys.set(key.kid, key)
        } catch { /* a key we cannot use is skipped; others still work */ }
      }
      this.keys = keys
      this.single = usable.length === 1 ? usable[0] : undefined
      this.lastError = undefined
    } catch (err) {
      // Keep the previous keys: a JWKS outage must not lock everyone out before maxAge elapses again.
      this.lastError = err instanceof Error ? err.message : String(err)
    } finally {
      // Whatever is left of the response (an error page, the rest of an oversized body) is not read.
      abort.abort()
    }
  }
}

/** The body as text, refusing it (declared or counted) beyond `max` bytes without reading further. */
async function readCapped (res: Response, max: number, tooLarge: () => Error): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > max) throw tooLarge()
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}
