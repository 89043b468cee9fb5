import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { identityHeaders, type Authorizer } from './authorize.js'

// GET/HEAD /auth?policy=NAME[&authorization=AUTHZ]: Caddy's forward_auth target. 2xx with
// identity headers, 401 with WWW-Authenticate, 403 otherwise. Every answer has an empty body
// with `content-length: 0`: a chunked answer halves Caddy's throughput (ENVIRONMENT.md).
// One access-log line per request: policy, decision, status, duration, never the token.

export interface AuthRouteOptions { authorize: Authorizer }

interface AuthQuery { policy: string, authorization?: string }

export async function authRoutes (app: FastifyInstance, opts: AuthRouteOptions): Promise<void> {
  const handler = async (req: FastifyRequest<{ Querystring: AuthQuery }>, reply: FastifyReply): Promise<void> => {
    const started = process.hrtime.bigint()
    const h = req.headers
    const d = await opts.authorize({
      policy: req.query.policy,
      authorization: req.query.authorization,
      headers: h,
      method: h['x-forwarded-method'] as string | undefined,
      uri: h['x-forwarded-uri'] as string | undefined,
      host: (h['x-forwarded-host'] as string | undefined) ?? h.host
    })
    reply.code(d.status).header('content-length', '0').header('cache-control', 'no-store')
    if (d.allow) reply.headers(identityHeaders(d))
    else if (d.challenge !== undefined) reply.header('www-authenticate', d.challenge)
    const line = {
      policy: d.policy,
      decision: d.allow ? 'allow' : 'deny',
      status: d.status,
      ms: Number(process.hrtime.bigint() - started) / 1e6,
      reason: d.reason,
      method: h['x-forwarded-method'],
      path: pathOnly(h['x-forwarded-uri']),
      host: h['x-forwarded-host']
    }
    if (d.reason === 'unknown policy') req.log.warn(line, 'auth: unknown policy')
    else req.log.info(line, 'auth')
    return await reply.send()
  }
  app.route<{ Querystring: AuthQuery }>({
    method: ['GET', 'HEAD'],
    url: '/auth',
    schema: {
      querystring: {
        type: 'object',
        required: ['policy'],
        properties: {
          policy: { type: 'string', minLength: 1, maxLength: 200 },
          authorization: { type: 'string', minLength: 1, maxLength: 200 }
        }
      }
    },
    handler
  })
}

// A query string may carry secrets (?access_token=): logs keep the path only.
function pathOnly (uri: unknown): string | undefined {
  if (typeof uri !== 'string') return undefined
  const q = uri.indexOf('?')
  return q < 0 ? uri : uri.slice(0, q)
}
