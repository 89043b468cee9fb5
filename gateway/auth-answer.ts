import type { IncomingHttpHeaders } from 'node:http'
import type { Decision } from '../policies/index.js'
import { identityHeaders, type AuthorizeInput } from './authorize.js'

// What /auth answers for a decision, shared by the Fastify route and the raw fast path so
// both give byte-identical answers: an empty body with `content-length: 0` (a chunked auth
// answer halves Caddy's throughput, ENVIRONMENT.md), identity headers on 2xx,
// WWW-Authenticate on 401.

export const AUTH_PATH = '/auth'
export const MAX_QUERY_VALUE = 200

/** What the authorizer is asked for one /auth request: Caddy's X-Forwarded-* say what the client asked. */
export function authInput(policy: string, authorization: string | undefined, h: IncomingHttpHeaders): AuthorizeInput {
  return {
    policy,
    authorization,
    headers: h,
    method: h['x-forwarded-method'] as string | undefined,
    uri: h['x-forwarded-uri'] as string | undefined,
    host: (h['x-forwarded-host'] as string | undefined) ?? h.host
  }
}

/** An /auth request repeating a header the decision reads (repeated-headers.ts): 400, empty like every /auth answer. */
export const REPEATED_HEADER_STATUS = 400
export const REPEATED_HEADER_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-length': '0',
  'cache-control': 'no-store'
})

/** The access-log line of an /auth request refused for a repeated header (its name, never a value). */
export function repeatedLine(header: string, ms: number): Record<string, unknown> {
  return { decision: 'deny', status: REPEATED_HEADER_STATUS, ms, reason: `repeated ${header} header` }
}

// Repeated requests get the same (cached) Decision object from policies/, so its headers are
// built once and reused.
const built = new WeakMap<Decision, Record<string, string>>()

export function answerHeaders(d: Decision): Record<string, string> {
  let h = built.get(d)
  if (h === undefined) {
    h = buildHeaders(d)
    built.set(d, h)
  }
  return h
}

function buildHeaders(d: Decision): Record<string, string> {
  if (d.allow) return { 'content-length': '0', 'cache-control': 'no-store', ...identityHeaders(d) }
  if (d.challenge !== undefined)
    return { 'content-length': '0', 'cache-control': 'no-store', 'www-authenticate': d.challenge }
  return { 'content-length': '0', 'cache-control': 'no-store' }
}

/** The access-log line of one /auth request: never the credential, and the path without its query (it may carry secrets). */
export function accessLine(
  d: Decision,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  ms: number
): Record<string, unknown> {
  const uri = headers['x-forwarded-uri']
  return {
    policy: d.policy,
    decision: d.allow ? 'allow' : 'deny',
    status: d.status,
    ms,
    reason: d.reason,
    method: headers['x-forwarded-method'],
    path: typeof uri === 'string' ? uri.split('?', 1)[0] : undefined,
    host: headers['x-forwarded-host']
  }
}

/** What /auth logs through (pino's, as Fastify's logger or serve.ts's own before Fastify loads). */
export interface AuthLog {
  level: string
  info: (fields: object, msg: string) => void
  warn: (fields: object, msg: string) => void
  error: (fields: object, msg: string) => void
}

const VERBOSE = new Set(['trace', 'debug', 'info'])
/** Whether an info line would be written: building the line costs more than the check. */
export function infoEnabled(log: { level: string }): boolean {
  return VERBOSE.has(log.level)
}
