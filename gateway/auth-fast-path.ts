import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Decision } from '../policies/index.js'
import {
  accessLine,
  answerHeaders,
  AUTH_PATH,
  infoEnabled,
  MAX_QUERY_VALUE,
  repeatedLine,
  REPEATED_HEADER_HEADERS,
  REPEATED_HEADER_STATUS,
  type AuthLog
} from './auth-answer.js'
import type { Decider } from './authorize.js'
import {
  AUTHORIZATION,
  type DecisionHeaderValues,
  FORWARDED_HOST,
  FORWARDED_METHOD,
  FORWARDED_URI,
  HOST,
  ORIGIN,
  readDecisionHeaders
} from './repeated-headers.js'

// The raw node:http fast path for /auth, in front of Fastify. forward_auth sits in front of
// every protected request, so its cost is Caddy's throughput: Fastify's routing, hooks,
// request/reply objects and querystring validation cost more than the decision itself
// (BENCHMARKS.md "Gateway forward_auth"). This path answers exactly what the Fastify route
// answers, and hands everything unusual to Fastify: other paths and methods, a malformed or
// repeated query, and any request while under pressure (so the 503 + Retry-After of
// @fastify/under-pressure still applies). A repeated credential is answered without a promise:
// the cached Decision comes back synchronously (PolicySet.decideNow) and is written at once.

export interface FastPathOptions {
  decide: Decider
  /** The logger in force (serve.ts starts with its own, then Fastify's). */
  log: () => AuthLog
  isUnderPressure: () => boolean
}

/** Returns a handler that answers /auth and returns true, or returns false to let Fastify handle the request. */
export function createAuthFastPath(opts: FastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { decide } = opts
  // Whether the logger in force writes info lines, asked once per logger (pino's level getter
  // and a set lookup per request otherwise). Nothing in the gateway changes a logger's level.
  let known: AuthLog | undefined
  let info = false
  const infoOn = (log: AuthLog): boolean => {
    if (log !== known) {
      known = log
      info = infoEnabled(log)
    }
    return info
  }
  return function fastAuth(req, res) {
    const url = req.url
    if (url === undefined || !url.startsWith(AUTH_PATH) || url.charCodeAt(AUTH_PATH.length) !== 63 /* ? */) return false
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    const q = parseQuery(url, AUTH_PATH.length + 1)
    if (q === undefined || opts.isUnderPressure()) return false
    const started = performance.now()
    const h = readDecisionHeaders(req.rawHeaders)
    if (typeof h === 'string') {
      res.writeHead(REPEATED_HEADER_STATUS, REPEATED_HEADER_HEADERS)
      res.end()
      const log = opts.log()
      if (infoOn(log)) log.info(repeatedLine(h, performance.now() - started), 'auth')
      return true
    }
    let d: Decision | Promise<Decision>
    try {
      d = decide(
        q.policy,
        {
          authorization: q.authorization,
          credential: h[AUTHORIZATION],
          origin: h[ORIGIN],
          method: h[FORWARDED_METHOD],
          uri: h[FORWARDED_URI],
          host: h[FORWARDED_HOST] ?? h[HOST]
        },
        started
      )
    } catch (err) {
      failClosed(res, opts.log(), err)
      return true
    }
    if (d instanceof Promise)
      d.then(
        x => {
          answer(res, x, h, started, opts.log(), infoOn)
        },
        (err: unknown) => {
          failClosed(res, opts.log(), err)
        }
      )
    else answer(res, d, h, started, opts.log(), infoOn)
    return true
  }
}

function answer(
  res: ServerResponse,
  d: Decision,
  h: DecisionHeaderValues,
  started: number,
  log: AuthLog,
  infoOn: (log: AuthLog) => boolean
): void {
  res.writeHead(d.status, answerHeaders(d))
  res.end()
  if (d.reason === 'unknown policy')
    log.warn(accessLine(d, logHeaders(h), performance.now() - started), 'auth: unknown policy')
  else if (infoOn(log)) log.info(accessLine(d, logHeaders(h), performance.now() - started), 'auth')
}

/** What accessLine reads, under Node's header names (built only for a line that is written). */
function logHeaders(h: DecisionHeaderValues): Record<string, string | undefined> {
  return {
    'x-forwarded-uri': h[FORWARDED_URI],
    'x-forwarded-method': h[FORWARDED_METHOD],
    'x-forwarded-host': h[FORWARDED_HOST]
  }
}

// Fail closed: an unexpected error is a denial, logged without the request's credential.
function failClosed(res: ServerResponse, log: AuthLog, err: unknown): void {
  log.error({ err }, 'auth: internal error')
  if (!res.headersSent) res.writeHead(403, { 'content-length': '0', 'cache-control': 'no-store' })
  res.end()
}

// `policy=NAME[&authorization=AUTHZ]` and nothing else; anything unexpected (repeated or
// unknown keys, empty or oversized values, bad percent-encoding) goes to Fastify, whose
// route (checkAuthQuery) answers 400 where needed.
function parseQuery(url: string, from: number): { policy: string; authorization: string | undefined } | undefined {
  let policy: string | undefined
  let authorization: string | undefined
  let i = from
  while (i <= url.length) {
    let amp = url.indexOf('&', i)
    if (amp < 0) amp = url.length
    const eq = url.indexOf('=', i)
    if (eq < 0 || eq > amp) return undefined
    const key = url.slice(i, eq)
    let value = url.slice(eq + 1, amp)
    if (value.length === 0 || value.length > MAX_QUERY_VALUE) return undefined
    if (value.includes('%') || value.includes('+')) {
      try {
        value = decodeURIComponent(value.replace(/\+/g, ' '))
      } catch {
        return undefined
      }
    }
    if (key === 'policy' && policy === undefined) policy = value
    else if (key === 'authorization' && authorization === undefined) authorization = value
    else return undefined
    i = amp + 1
  }
  return policy === undefined ? undefined : { policy, authorization }
}
