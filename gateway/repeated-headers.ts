// The headers a decision reads must each come once. Node keeps the first Authorization and
// Host of a request and joins repeated Origin and X-Forwarded-* values with ", ", while Caddy
// forwards every copy upstream: the gateway and the upstream could each act on another one.
// None of them is a list (RFC 9110 §5.3), so a repeat is a malformed request, answered 400
// (RFC 6750 §3.1 invalid_request: "repeats the same parameter").

/** Request headers a policy decision reads (Node's lower-case names). */
export const DECISION_HEADERS = [
  'host',
  'origin',
  'authorization',
  'x-forwarded-uri',
  'x-forwarded-host',
  'x-forwarded-method'
] as const
/** The same names as Caddy (Go) writes them: most requests match these without lower-casing. */
const CANONICAL = [
  'Host',
  'Origin',
  'Authorization',
  'X-Forwarded-Uri',
  'X-Forwarded-Host',
  'X-Forwarded-Method'
] as const

/** Indexes into DecisionHeaderValues: the position of each name in DECISION_HEADERS. */
export const HOST = 0
export const ORIGIN = 1
export const AUTHORIZATION = 2
export const FORWARDED_URI = 3
export const FORWARDED_HOST = 4
export const FORWARDED_METHOD = 5

/** The decision headers' values of one request, in DECISION_HEADERS order. */
export type DecisionHeaderValues = [
  host: string | undefined,
  origin: string | undefined,
  authorization: string | undefined,
  forwardedUri: string | undefined,
  forwardedHost: string | undefined,
  forwardedMethod: string | undefined
]

/**
 * Each decision header's value, or the lower-case name of the first one present more than
 * once. One pass over the raw list (measured ~40 ns for Caddy's ten headers): a name compared
 * only when its length is a decision header's, lower-cased only when it is spelled neither as
 * Caddy nor as Node's clients write it. The /auth fast path reads its headers here and never
 * touches `req.headers`, which Node builds on first use from the whole raw list (every header
 * Caddy sends, each name matched and lower-cased). Without a repeat, each value is what
 * `req.headers` would hold.
 */
export function readDecisionHeaders(rawHeaders: readonly string[]): DecisionHeaderValues | string {
  const values: DecisionHeaderValues = [undefined, undefined, undefined, undefined, undefined, undefined]
  let seen = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const index = decisionHeaderIndex(rawHeaders[i]!)
    if (index < 0) continue
    const bit = 1 << index
    if ((seen & bit) !== 0) return DECISION_HEADERS[index]!
    seen |= bit
    values[index] = rawHeaders[i + 1]
  }
  return values
}

/** The first decision header present more than once in `rawHeaders` (lower-case), or undefined. */
export function repeatedDecisionHeader(rawHeaders: readonly string[]): string | undefined {
  const read = readDecisionHeaders(rawHeaders)
  return typeof read === 'string' ? read : undefined
}

function decisionHeaderIndex(name: string): number {
  switch (name.length) {
    case 4:
      return is(name, 0) ? 0 : -1
    case 6:
      return is(name, 1) ? 1 : -1
    case 13:
      return is(name, 2) ? 2 : -1
    case 15:
      return is(name, 3) ? 3 : -1
    case 16:
      return is(name, 4) ? 4 : -1
    case 18:
      return is(name, 5) ? 5 : -1
    default:
      return -1
  }
}

function is(name: string, index: number): boolean {
  const lower = DECISION_HEADERS[index]!
  if (name === CANONICAL[index] || name === lower) return true
  // Any other spelling: the first letter first (| 32 lower-cases an ASCII letter), then the rest.
  return (name.charCodeAt(0) | 32) === lower.charCodeAt(0) && name.toLowerCase() === lower
}
