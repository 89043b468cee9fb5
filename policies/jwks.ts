import {
  DEFAULT_JWKS_COOLDOWN_SEC,
  DEFAULT_JWKS_MAX_AGE_SEC,
  JWKS_FETCH_TIMEOUT_MS,
  JWKS_MAX_BYTES
} from './defaults.js'
import { JwksFetchFailed } from './errors.js'
import { importJwk, type VerifyKey } from './jwt-key.js'

// A cached JWK Set. Keys are looked up by kid; the set is refetched when older than maxAge,
// or on an unknown kid, but at most once per cool-down: a flood of tokens with made-up kids
// costs one fetch per cool-down, not one per request. Concurrent lookups share one fetch.
// A key that a refetch no longer finds in the set is removed: the listeners (jwt.ts, the
// decision cache of load.ts) drop what they built on it, so it stops being trusted then. A
// key still in the set keeps its object, so what was verified with it stays valid.

export type FetchFn = (url: string, init: { signal: AbortSignal; headers: Record<string, string> }) => Promise<Response>

export interface JwksOptions {
  maxAgeSec?: number | undefined
  cooldownSec?: number | undefined
  fetch?: FetchFn | undefined
  now?: (() => number) | undefined
}

export class JwksCache {
  private keys = new Map<string, VerifyKey>()
  private single: VerifyKey | undefined
  /** Every usable key of the set as last fetched (by kid or not). */
  private usable: VerifyKey[] = []
  private readonly removedListeners: Array<(removed: ReadonlySet<VerifyKey>) => void> = []
  private fetchedAt = -Infinity
  private inFlight: Promise<void> | undefined
  private readonly maxAgeMs: number
  private readonly cooldownMs: number
  private readonly fetchFn: FetchFn
  private readonly now: () => number
  /** Number of fetches made (for tests and logs). */
  fetches = 0
  lastError: string | undefined

  constructor(
    readonly url: string,
    opts: JwksOptions = {}
  ) {
    this.maxAgeMs = (opts.maxAgeSec ?? DEFAULT_JWKS_MAX_AGE_SEC) * 1000
    this.cooldownMs = (opts.cooldownSec ?? DEFAULT_JWKS_COOLDOWN_SEC) * 1000
    this.fetchFn = opts.fetch ?? (async (u, init) => await fetch(u, init))
    this.now = opts.now ?? Date.now
  }

  /**
   * Whether the set is older than its max age at `now`: the next lookup refetches it. Until
   * then, what was verified with its keys may be used without asking it again.
   */
  isDue(now: number): boolean {
    return now - this.fetchedAt > this.maxAgeMs
  }

  /** When the set will be due for a refetch (ms since the epoch). */
  get dueAt(): number {
    return this.fetchedAt + this.maxAgeMs
  }

  /** Calls `fn` after each refetch that removed keys from the set, with those keys. */
  onKeysRemoved(fn: (removed: ReadonlySet<VerifyKey>) => void): void {
    this.removedListeners.push(fn)
  }

  /** The key for `kid` (or the only key when the token has no kid), or undefined. */
  async get(kid: string | undefined): Promise<VerifyKey | undefined> {
    const age = this.now() - this.fetchedAt
    if (age > this.maxAgeMs) await this.refresh()
    let key = this.lookup(kid)
    if (key === undefined && age > this.cooldownMs && this.now() - this.fetchedAt > this.cooldownMs) {
      await this.refresh()
      key = this.lookup(kid)
    }
    return key
  }

  private lookup(kid: string | undefined): VerifyKey | undefined {
    return kid === undefined ? this.single : this.keys.get(kid)
  }

  private async refresh(): Promise<void> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined
    })
    await this.inFlight
  }

  private async load(): Promise<void> {
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
      // Keys of the previous set by what they are (kid, algorithm, key material): one still
      // served is the same object, one gone is removed (a kid now naming other material too).
      const previous = new Map(this.usable.map(k => [fingerprint(k), k]))
      for (const jwk of body.keys as Array<Record<string, unknown>>) {
        if (jwk === null || typeof jwk !== 'object' || jwk.use === 'enc') continue
        if (!['RSA', 'EC', 'OKP'].includes(jwk.kty as string)) continue // symmetric keys are never usable
        try {
          const imported = importJwk(jwk, undefined)
          const id = fingerprint(imported)
          const key = previous.get(id) ?? imported
          previous.delete(id)
          usable.push(key)
          if (key.kid !== undefined) keys.set(key.kid, key)
        } catch {
          /* a key we cannot use is skipped; others still work */
        }
      }
      this.keys = keys
      this.usable = usable
      this.single = usable.length === 1 ? usable[0] : undefined
      this.lastError = undefined
      if (previous.size > 0) {
        const removed: ReadonlySet<VerifyKey> = new Set(previous.values())
        for (const fn of this.removedListeners) fn(removed)
      }
    } catch (err) {
      // Keep the previous keys: a JWKS outage must not lock everyone out before maxAge elapses again.
      this.lastError = err instanceof Error ? err.message : String(err)
    } finally {
      // Whatever is left of the response (an error page, the rest of an oversized body) is not read.
      abort.abort()
    }
  }
}

/** What a key is, whatever object holds it: kid, algorithm and the public key's DER. */
function fingerprint(k: VerifyKey): string {
  return `${k.kid ?? ''}\n${k.alg}\n${k.key.export({ format: 'der', type: 'spki' }).toString('base64')}`
}

/** The body as text, refusing it (declared or counted) beyond `max` bytes without reading further. */
async function readCapped(res: Response, max: number, tooLarge: () => Error): Promise<string> {
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
