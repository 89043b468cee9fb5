import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  accessLine,
  answerHeaders,
  authInput,
  AUTH_PATH,
  infoEnabled,
  MAX_QUERY_VALUE,
  repeatedLine,
  REPEATED_HEADER_HEADERS,
  REPEATED_HEADER_STATUS
} from './auth-answer.js'
import type { Authorizer } from './authorize.js'
import { sendError } from './error-reply.js'
import { errorAnswer } from '../errors/index.js'
import { repeatedDecisionHeader } from './repeated-headers.js'

// GET/HEAD /auth?policy=NAME[&authorization=AUTHZ]: Caddy's forward_auth target, as an
// encapsulated Fastify plugin. 2xx with identity headers, 401 with WWW-Authenticate, 403
// otherwise; one access-log line per request. (app.ts may answer the same requests on a raw
// fast path first; see auth-fast-path.ts.)

export interface AuthRouteOptions {
  authorize: Authorizer
}

interface AuthQuery {
  policy: string
  authorization?: string
}

export async function authRoutes(app: FastifyInstance, opts: AuthRouteOptions): Promise<void> {
  const handler = async (
    req: FastifyRequest<{ Querystring: Record<string, unknown> }>,
    reply: FastifyReply
  ): Promise<void> => {
    const started = performance.now()
    const query = checkAuthQuery(req.query)
    if (typeof query === 'string') {
      return await sendError(reply, errorAnswer('CND_BAD_REQUEST', query))
    }
    const repeated = repeatedDecisionHeader(req.raw.rawHeaders)
    if (repeated !== undefined) {
      if (infoEnabled(req.log)) req.log.info(repeatedLine(repeated, performance.now() - started), 'auth')
      return await reply.code(REPEATED_HEADER_STATUS).headers(REPEATED_HEADER_HEADERS).send()
    }
    const h = req.headers
    const d = await opts.authorize(authInput(query.policy, query.authorization, h))
    reply.code(d.status).headers(answerHeaders(d))
    if (d.reason === 'unknown policy')
      req.log.warn(accessLine(d, h, performance.now() - started), 'auth: unknown policy')
    else if (infoEnabled(req.log)) req.log.info(accessLine(d, h, performance.now() - started), 'auth')
    return await reply.send()
  }
  // No Fastify schema: compiling one makes Fastify load and run ajv at start (~75-95 ms of the
  // gateway's cold start, which a restart under load waits for); two fields are checked by hand.
  app.route<{ Querystring: Record<string, unknown> }>({ method: ['GET', 'HEAD'], url: AUTH_PATH, handler })
}

/** The query of /auth, or why it is a bad request (a repeated field arrives as an array). */
export function checkAuthQuery(query: Record<string, unknown>): AuthQuery | string {
  const field = (name: string, required: boolean): string | undefined | Error => {
    const v = query[name]
    if (v === undefined) return required ? new Error(`querystring must have required property '${name}'`) : undefined
    if (typeof v !== 'string') return new Error(`querystring/${name} must be a single string`)
    if (v.length < 1 || v.length > MAX_QUERY_VALUE)
      return new Error(`querystring/${name} must be 1 to ${MAX_QUERY_VALUE} characters`)
    return v
  }
  const policy = field('policy', true)
  if (policy instanceof Error) return policy.message
  const authorization = field('authorization', false)
  if (authorization instanceof Error) return authorization.message
  return authorization === undefined ? { policy: policy! } : { policy: policy!, authorization }
}
