import type { ConductorError } from './base.js'
import { httpStatusOf, type ErrorCode } from './catalogue.js'

// The one shape of an HTTP error answer, for the gateway and the function runner alike:
// `{"error": CODE, "message"?: text}` with the catalogue's status. (The /auth answers are not
// errors of this kind: Caddy's forward_auth passes them on, and they stay empty-bodied.)

export interface ErrorAnswer {
  status: number
  headers: { 'content-type': 'application/json; charset=utf-8'; 'content-length': string }
  /** `{"error": CODE, "message"?: text}`, serialised. */
  body: string
}

/**
 * The answer for an error or a code. `message` is what the client may read (never a path, a
 * credential or script output); without one, an error's own message is not sent either.
 */
export function errorAnswer(error: ErrorCode | ConductorError, message?: string): ErrorAnswer {
  const code = typeof error === 'string' ? error : error.code
  const body = JSON.stringify(message !== undefined ? { error: code, message } : { error: code })
  return {
    status: httpStatusOf(code),
    headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) },
    body
  }
}
