// Gateway errors (leaf folder: no imports of ours).
export class GatewayError extends Error {
  readonly code: string = 'CND_GATEWAY'
  constructor (message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}
/** --listen is not loopback or a unix socket. */
export class ListenNotAllowed extends GatewayError {
  override readonly code = 'CND_GATEWAY_LISTEN_NOT_ALLOWED'
}
/** A listener the gateway was told to open cannot be opened (address in use, no permission). */
export class ListenFailed extends GatewayError {
  override readonly code = 'CND_LISTEN_FAILED'
}
