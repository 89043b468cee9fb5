import type { AuthRequest, Decision } from '../policies/index.js'
import type { AuthStats } from './auth-stats.js'
import type { StateHolder } from './state.js'

// The one authorization entry point of the gateway: /auth uses it, and so do other gateway
// plugins (functions, commands) that must check a policy inside the gateway. Every decision is
// counted here (AuthStats), whichever path asked for it.

export interface AuthorizeInput {
  policy: string
  /** Authorization the request needs; none: any matching entry allows. */
  authorization?: string | undefined
  /** Request headers (Node's lower-case names); Authorization and Origin are read. */
  headers: Readonly<Record<string, string | string[] | undefined>>
  method?: string | undefined
  uri?: string | undefined
  host?: string | undefined
}

export type Authorizer = (input: AuthorizeInput) => Promise<Decision>

/**
 * Decides and counts. Returns the Decision itself when policies/ has it at hand (a cached
 * allow, an unknown policy), else its promise: /auth answers a repeated credential without a
 * promise or a microtask. `started` is the performance.now() the request's clock started at.
 */
export type Decider = (policy: string, req: AuthRequest, started: number) => Decision | Promise<Decision>

export function createDecider(state: StateHolder, stats: AuthStats): Decider {
  return function decideCounted(policy, req, started) {
    // Read the current state once: a SIGHUP in the middle of a decision cannot mix two policy sets.
    const set = state.current.policies
    const d = set.decideNow(policy, req)
    if (!(d instanceof Promise)) {
      stats.record(policy, set.has(policy), d.allow, (performance.now() - started) / 1000)
      return d
    }
    return d.then(x => {
      stats.record(policy, set.has(policy), x.allow, (performance.now() - started) / 1000)
      return x
    })
  }
}

/** The Authorizer of gateway plugins, on a Decider: credential and Origin read from the request's headers. */
export function createAuthorizer(decide: Decider): Authorizer {
  return async function authorize(input: AuthorizeInput): Promise<Decision> {
    const { headers } = input
    return await decide(
      input.policy,
      {
        authorization: input.authorization,
        credential: single(headers.authorization),
        origin: single(headers.origin),
        method: input.method,
        uri: input.uri,
        host: input.host
      },
      performance.now()
    )
  }
}

/** Identity headers for a 2xx answer; Caddy copies them onto the request to the upstream. */
export function identityHeaders(d: Decision): Record<string, string> {
  const h: Record<string, string> = {
    'x-conductor-policy': d.policy,
    'x-conductor-authorizations': d.authorizations.join(',')
  }
  for (const key in d.meta) h[`x-conductor-${key.toLowerCase()}`] = headerSafe(d.meta[key]!)
  if (d.subject !== undefined) h['x-conductor-subject'] = headerSafe(d.subject)
  return h
}

// A header given as several values is ambiguous: refuse rather than pick one. (Node never gives
// Authorization as an array: it keeps the first line. HTTP requests are refused on their raw
// headers before any decision, repeated-headers.ts; this guards callers' own header records.)
export function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? (v.length === 1 ? v[0] : '\u0000') : v
}

// A JWT's sub is attacker-chosen text: anything outside printable ASCII is percent-encoded
// so it can neither split headers nor crash Node's header validation.
function headerSafe(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) ? v : encodeURIComponent(v)
}
