import type { JWTPayload } from 'jose'
import { LRUCache } from 'lru-cache'
import {
  DEFAULT_AUTHORIZATIONS_CLAIM,
  DEFAULT_CLOCK_SKEW_SEC,
  DEFAULT_MAX_LIFETIME_SEC,
  VERIFIED_CACHE_MAX
} from './defaults.js'
import type { JwksCache } from './jwks.js'
import type { VerifyKey } from './jwt-key.js'

// Verifies a JWT against one bearer entry. Order matters (jose flattened/verify.ts): the
// token's shape and header are checked before any crypto, the algorithm must equal the one
// fixed by the key, then jose verifies signature and claims with this entry's own issuer,
// audience, subject and clock tolerance; then exp is required and the lifetime bounded.
// A verified token is cached (by its exact string) until its exp, so a repeated token costs
// one map lookup instead of a signature check. A token verified with a key of a JWK Set is
// trusted from the cache only until the set is due for a refetch (then verify() refetches it
// and finds the token again if its key is still there), and is dropped when a refetch removes
// that key.

// jose is loaded on first use, not at import: a gateway with no JWT policy never pays for it,
// and one that has them starts listening ~80 ms sooner (its cold start is its crash recovery
// time). The gateway calls preloadJwtLibrary() once it listens.
let jose: Promise<typeof import('jose')> | undefined
const loadJose = async (): Promise<typeof import('jose')> => await (jose ??= import('jose'))
export async function preloadJwtLibrary(): Promise<void> {
  await loadJose()
}

export interface JwtEntryOptions {
  issuer?: string | string[] | undefined
  audience?: string | string[] | undefined
  subject?: string | undefined
  maxLifetimeSec?: number | undefined
  clockSkewSec?: number | undefined
  authorizationsClaim?: string | undefined
}

/** A verified token's payload, deep-frozen: every decision built on the token shares it. */
export type JwtClaims = Readonly<Record<string, unknown>>

export type JwtOutcome =
  | {
      ok: true
      subject: string | undefined
      narrow: ReadonlySet<string> | undefined
      cached: boolean
      expMs: number
      /** Until when a decision may rely on this without asking again: exp, or sooner the key set's next refetch. */
      validUntil: number
      claims: JwtClaims
    }
  | { ok: false; reason: string; weak?: boolean }

interface Verified {
  expMs: number
  subject: string | undefined
  narrow: ReadonlySet<string> | undefined
  claims: JwtClaims
  /** The key that verified it (for a JWK Set: dropped with the key). */
  key: VerifyKey
}

export interface ParsedHeader {
  alg: string
  kid: string | undefined
}

/**
 * Claims read from a token's payload before any verification, to skip the entries that would
 * refuse it anyway (readPayloadHint). Attacker-controlled: used only to skip, never to accept.
 */
export interface PayloadHint {
  iss: unknown
}

export class JwtEntry {
  private readonly cache = new LRUCache<string, Verified>({ max: VERIFIED_CACHE_MAX })
  private readonly skewSec: number
  private readonly maxLifetimeSec: number
  private readonly claim: string
  private readonly issuers: readonly unknown[] | undefined
  /** Signature checks attempted (tests and benchmarks count what the hints saved). */
  verifications = 0
  private readonly jwks: JwksCache | undefined

  /** `keys` is a fixed key, or a JWKS cache resolved by kid. */
  constructor(
    private readonly keys: VerifyKey | JwksCache,
    private readonly opts: JwtEntryOptions,
    private readonly now: () => number
  ) {
    this.skewSec = opts.clockSkewSec ?? DEFAULT_CLOCK_SKEW_SEC
    this.maxLifetimeSec = opts.maxLifetimeSec ?? DEFAULT_MAX_LIFETIME_SEC
    this.claim = opts.authorizationsClaim ?? DEFAULT_AUTHORIZATIONS_CLAIM
    this.issuers = opts.issuer === undefined ? undefined : Array.isArray(opts.issuer) ? opts.issuer : [opts.issuer]
    this.jwks = 'key' in keys ? undefined : keys
    this.jwks?.onKeysRemoved(removed => {
      this.forget(removed)
    })
  }

  /** Drops the verified tokens of keys a JWKS refetch removed: they are verified again, and refused. */
  private forget(removed: ReadonlySet<VerifyKey>): void {
    const gone: string[] = []
    for (const [token, v] of this.cache.entries()) if (removed.has(v.key)) gone.push(token)
    for (const token of gone) this.cache.delete(token)
  }

  /**
   * Why this entry refuses a token whose unverified payload reads `hint`, without crypto or
   * I/O; undefined when only verification can tell. Exact for every token it can say no to:
   * jose refuses the same tokens (jwt_claims_set.js: an issuer option must include the verified
   * payload's iss, by ===), and that payload is these same bytes once the signature holds.
   */
  excludes(hint: PayloadHint): string | undefined {
    if (this.issuers !== undefined && !this.issuers.includes(hint.iss)) {
      return "the token's (unverified) iss is not one of this entry's issuers"
    }
    return undefined
  }

  /**
   * Synchronous cache probe: the hot path for a token seen before. None for a token of a JWK
   * Set that is due for a refetch: verify() refetches it first.
   */
  cached(token: string): JwtOutcome | undefined {
    const now = this.now()
    if (this.jwks?.isDue(now) === true) return undefined
    return this.fromCache(token, now)
  }

  private fromCache(token: string, now: number): JwtOutcome | undefined {
    const hit = this.cache.get(token)
    if (hit === undefined) return undefined
    if (hit.expMs + this.skewSec * 1000 <= now) {
      this.cache.delete(token)
      return undefined
    }
    return this.outcome(hit, true)
  }

  private outcome(v: Verified, cached: boolean): JwtOutcome {
    const validUntil = this.jwks === undefined ? v.expMs : Math.min(v.expMs, this.jwks.dueAt)
    return { ok: true, subject: v.subject, narrow: v.narrow, cached, expMs: v.expMs, validUntil, claims: v.claims }
  }

  async verify(token: string, header: ParsedHeader): Promise<JwtOutcome> {
    const hit = this.cached(token)
    if (hit !== undefined) return hit
    const key = 'key' in this.keys ? this.keys : await this.keys.get(header.kid)
    if (key === undefined)
      return {
        ok: false,
        reason: header.kid === undefined ? 'token has no kid and the key set has several keys' : 'unknown kid',
        weak: true
      }
    // Verified before with a key the refetch kept: no second signature check.
    const kept = this.jwks === undefined ? undefined : this.fromCache(token, this.now())
    if (kept !== undefined) return kept
    if (header.alg !== key.alg)
      return { ok: false, reason: `algorithm ${header.alg} refused (this key verifies ${key.alg} only)`, weak: true }
    const nowMs = this.now()
    let payload: JWTPayload
    this.verifications++
    try {
      const { jwtVerify } = await loadJose()
      const verified = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        subject: this.opts.subject,
        clockTolerance: this.skewSec,
        currentDate: new Date(nowMs),
        requiredClaims: ['exp']
      })
      payload = verified.payload
    } catch (err) {
      return { ok: false, reason: joseReason(err) }
    }
    const nowSec = nowMs / 1000
    const exp = payload.exp!
    if (typeof payload.iat === 'number' && payload.iat > nowSec + this.skewSec)
      return { ok: false, reason: 'iat is in the future' }
    const start = typeof payload.iat === 'number' ? payload.iat : typeof payload.nbf === 'number' ? payload.nbf : nowSec
    if (exp - start > this.maxLifetimeSec)
      return { ok: false, reason: `token lifetime ${Math.round(exp - start)} s exceeds ${this.maxLifetimeSec} s` }
    const narrow = narrowing(payload[this.claim])
    if (narrow === null)
      return { ok: false, reason: `claim "${this.claim}" must be an array of names or a space-separated string` }
    // The payload travels with the decision (gateway plugins read their own claims from it,
    // never from the header again): frozen, since cached decisions are shared by every caller.
    const subject = typeof payload.sub === 'string' ? payload.sub : undefined
    const verified: Verified = { expMs: exp * 1000, subject, narrow, claims: deepFreeze(payload), key }
    // Cache until exp (not beyond): lru-cache drops it then, and cached() re-checks the clock anyway.
    this.cache.set(token, verified, { ttl: Math.max(1, exp * 1000 - nowMs) })
    return this.outcome(verified, false)
  }
}

/** Parses the protected header without trusting it: only alg and kid are read. */
export function parseJwtHeader(token: string): ParsedHeader | string {
  // RFC 7515 §7.1: three base64url parts without padding. A static token may end in "="
  // (RFC 6750 b64token), a JWS never does; jose would accept a padded signature, so one token
  // would have two spellings. (An empty signature gets as far as the alg check, for its reason.)
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token))
    return 'not a compact JWS (three unpadded base64url parts)'
  const part = token.slice(0, token.indexOf('.'))
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    return 'header is not base64url JSON'
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return 'header is not a JSON object'
  const h = header as Record<string, unknown>
  if (typeof h.alg !== 'string') return 'header has no alg'
  if (h.alg === 'none' || h.alg.startsWith('HS')) return `algorithm ${h.alg.slice(0, 16)} is never accepted`
  if (h.kid !== undefined && typeof h.kid !== 'string') return 'kid is not a string'
  return { alg: h.alg.slice(0, 16), kid: h.kid as string | undefined }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

/**
 * The payload's claims, unverified, or undefined when the payload is not something jose would
 * decode the same way (then no entry is skipped). jose (Node 20) decodes with atob after mapping
 * the base64url alphabet, and the bytes with a fatal UTF-8 decoder that strips a BOM: on the
 * base64url alphabet with a valid length Buffer gives the same bytes, and a payload that is not
 * valid UTF-8 is refused by jose for every entry (so skipping changes nothing); a BOM makes
 * JSON.parse fail here, so such a token is simply verified as before.
 */
export function readPayloadHint(token: string): PayloadHint | undefined {
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first < 0 || second < 0) return undefined
  const part = token.slice(first + 1, second)
  if (part.length % 4 === 1 || !/^[A-Za-z0-9_-]+$/.test(part)) return undefined
  let claims: unknown
  try {
    claims = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return undefined
  return { iss: Object.hasOwn(claims, 'iss') ? (claims as Record<string, unknown>).iss : undefined }
}

function narrowing(value: unknown): ReadonlySet<string> | undefined | null {
  if (value === undefined) return undefined
  if (typeof value === 'string') return new Set(value.split(' ').filter(Boolean))
  if (Array.isArray(value) && value.every(v => typeof v === 'string')) return new Set(value as string[])
  return null
}

// jose's messages describe the failed check ("\"exp\" claim timestamp check failed") and
// never include the token, so they are safe for logs.
function joseReason(err: unknown): string {
  const e = err as { code?: string; message?: string }
  return `${e.code ?? 'ERR'}: ${e.message ?? String(err)}`
}
