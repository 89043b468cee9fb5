import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { accessLine, answerHeaders, AUTH_PATH, infoEnabled, MAX_QUERY_VALUE } from './auth-answer.js'
import type { Authorizer } from './authorize.js'

// GET/HEAD /auth?policy=NAME[&authorization=AUTHZ]: Caddy's forward_auth target, as an
// encapsulated Fastify plugin. 2xx with identity headers, 401 with WWW-Authenticate, 403
// otherwise; one access-log line per request. (app.ts may answer the same requests on a raw
// fast path first; see auth-fast-path.ts.)

export interface AuthRouteOptions { authorize: Authorizer }

interface AuthQuery { policy: string, authorization?: string }

export async function authRoutes (app: FastifyInstance, opts: AuthRouteOptions): Promise<void> {
  const handler = async (req: FastifyRequest<{ Querystring: AuthQuery }>, reply: FastifyReply): Promise<void> => {
    const started = performance.now()
    const h = req.headers
    const d = await opts.authorize({
      policy: req.query.policy,
      authorization: req.query.authorization,
      headers: h,
      method: h['x-forwarded-method'] as string | undefined,
      uri: h['x-forwarded-uri'] as string | undefined,
      host: (h['x-forwarded-host'] as string | undefined) ?? h.host
    })
    reply.code(d.status).headers(answerHeaders(d))
    if (d.reason === 'unknown policy') req.log.warn(accessLine(d, h, performance.now() - started), 'auth: unknown policy')
    else if (infoEnabled(req.log)) req.log.info(accessLine(d, h, performance.now() - started), 'auth')
    return await reply.send()
  }
  app.route<{ Querystring: AuthQuery }>({
    method: ['GET', 'HEAD'],
    url: AUTH_PATH,
    schema: {
      querystring: {
        type: 'object',
        required: ['policy'],
        properties: {
          policy: { type: 'string', minLength: 1, maxLength: MAX_QUERY_VALUE },
          authorization: { type: 'string', minLength: 1, maxLength: MAX_QUERY_VALUE }
        }
      }
    },
    handler
  })
}
