import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import { ConductorError, errorAnswer, type ErrorAnswer, type ErrorCode } from '../errors/index.js'

// Every error the gateway answers has one body shape, `{"error": CODE, "message"?: text}` with
// the catalogue's status (errors/http.ts errorAnswer): its routes' refusals, Fastify's own
// (no route, a body that does not parse) and load shedding. /auth's decisions are not errors of
// this kind and stay empty-bodied (Caddy's forward_auth passes them on).

export async function sendError(
  reply: FastifyReply,
  answer: ErrorAnswer,
  headers: Record<string, string> = {}
): Promise<FastifyReply> {
  return await reply
    .code(answer.status)
    .headers({ ...headers, ...answer.headers })
    .send(answer.body)
}

/** The answer of every 503 the gateway sheds (Fastify routes and WebSocket upgrades alike). */
export function overloadedAnswer(): ErrorAnswer {
  return errorAnswer('CND_GATEWAY_OVERLOADED', 'the gateway is overloaded, retry later')
}

/** Fastify's own client errors (body parsing, a bad URL), by status; anything else is internal. */
const FASTIFY_STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'CND_BAD_REQUEST',
  404: 'CND_NOT_FOUND',
  413: 'CND_BODY_TOO_LARGE',
  415: 'CND_UNSUPPORTED_MEDIA_TYPE'
}

/** Replaces Fastify's default not-found and error answers (`{statusCode, error, message}`) with ours. */
export function installErrorAnswers(app: FastifyInstance): void {
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0] ?? ''
    return await sendError(reply, errorAnswer('CND_NOT_FOUND', `no route ${req.method} ${path}`))
  })
  app.setErrorHandler(async (err: FastifyError | ConductorError, req, reply) => {
    const code =
      err instanceof ConductorError ? err.code : (FASTIFY_STATUS_CODES[err.statusCode ?? 500] ?? 'CND_INTERNAL')
    const answer = errorAnswer(code)
    // A client's mistake is said back to it; an internal failure only to the log (paths, stacks).
    if (answer.status >= 500) {
      req.log.error({ err }, 'request failed')
      return await sendError(reply, answer)
    }
    req.log.info({ err }, err.message)
    return await sendError(reply, errorAnswer(code, err instanceof ConductorError ? err.reason : err.message))
  })
}
