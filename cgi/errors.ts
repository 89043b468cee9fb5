import { ConductorError, type ErrorCode } from '../errors/index.js'

// cgi/ errors. Each failure of a function invocation has one code, and the catalogue
// (errors/catalogue.ts) one HTTP status for it, so the gateway answers 502/503/504/413 without
// guessing. `httpStatus` is what the client gets when the error ends a request before the headers.

export class CgiError extends ConductorError {
  override readonly code: ErrorCode = 'CND_CGI'
  constructor(message: string, options?: ErrorOptions) {
    super(message, undefined, undefined, options)
  }
}
/** The process exited, crashed or closed stdout before a complete header block. */
export class CgiBadGateway extends CgiError {
  override readonly code: ErrorCode = 'CND_CGI_BAD_GATEWAY'
}
/** The header block is malformed: no colon, bad name, bare CR, obs-fold, NUL (RFC 3875 §6.3). */
export class CgiHeaderInvalid extends CgiBadGateway {
  override readonly code = 'CND_CGI_HEADER_INVALID'
}
/** The header block is larger than the limit (a script printing a body without headers). */
export class CgiHeaderTooLarge extends CgiBadGateway {
  override readonly code = 'CND_CGI_HEADER_TOO_LARGE'
}
/** The process could not be started (ENOENT, EACCES...). */
export class CgiSpawnFailed extends CgiBadGateway {
  override readonly code = 'CND_CGI_SPAWN_FAILED'
}
/**
 * The request holds something no function process can be given: a NUL byte (`%00` in the
 * path) cannot be in an environment variable, nor a CR, LF or other control in a header.
 */
export class CgiBadRequest extends CgiError {
  override readonly code = 'CND_CGI_BAD_REQUEST'
}
/** The function took longer than timeout_sec; its process group was killed. */
export class CgiTimeout extends CgiError {
  override readonly code = 'CND_CGI_TIMEOUT'
}
/** Every worker is busy and the queue is full. */
export class CgiBusy extends CgiError {
  override readonly code = 'CND_CGI_BUSY'
}
/**
 * The function declares service_directives the gateway cannot apply here (no systemd manager
 * to create its scope, a limit it cannot set, no fork server): its requests are refused rather
 * than run without the limits the service asked for.
 */
export class CgiLimitsUnavailable extends CgiError {
  override readonly code = 'CND_CGI_LIMITS_UNAVAILABLE'
}
/** The request body is larger than max_body_bytes. */
export class CgiBodyTooLarge extends CgiError {
  override readonly code = 'CND_CGI_BODY_TOO_LARGE'
}
/** The runner was closed (reload removed the function, or the gateway stops). */
export class CgiClosed extends CgiError {
  override readonly code = 'CND_CGI_CLOSED'
}
/** The client went away before the response was complete: nothing to answer, nothing to log. */
export class CgiClientGone extends CgiError {
  override readonly code = 'CND_CGI_CLIENT_GONE'
}
/** An interactive command's program cannot be started under a pty (missing, not executable). */
export class PtySpawnFailed extends ConductorError {
  override readonly code = 'CND_PTY_SPAWN_FAILED'
  constructor(message: string, options?: ErrorOptions) {
    super(message, undefined, undefined, options)
  }
}
