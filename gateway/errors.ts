import { ConductorError, type ErrorCode } from '../errors/index.js'

// Errors of starting the gateway (its HTTP error answers are codes of the catalogue, sent by
// errors/http.ts errorAnswer).

/** The gateway cannot start for a reason none of the classes below names. */
export class GatewayError extends ConductorError {
  override readonly code: ErrorCode = 'CND_GATEWAY'
  constructor(message: string, options?: ErrorOptions) {
    super(message, undefined, undefined, options)
  }
}
/** --listen is not loopback or a unix socket (a usage error: exit 2). */
export class ListenNotAllowed extends GatewayError {
  override readonly code = 'CND_GATEWAY_LISTEN_NOT_ALLOWED'
}
/** A listener the gateway was told to open cannot be opened (address in use, no permission). */
export class ListenFailed extends GatewayError {
  override readonly code = 'CND_LISTEN_FAILED'
}
