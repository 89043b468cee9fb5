import { ConductorError, type ErrorCode } from '../errors/index.js'

// Errors of the Caddy admin client. Callers branch on `code` (CND_CADDY and CND_CADDY_..., exit
// 6 in the catalogue); messages name the admin URL, the method and path, and Caddy's own error
// text, but never a request body (snippets may carry credentials) nor URL userinfo.

/** An admin URL that cannot be used, or an answer from Caddy that is not what it should be. */
export class CaddyError extends ConductorError {
  override readonly code: ErrorCode = 'CND_CADDY'
}

/** The admin API cannot be reached at all (connection refused, timeout, DNS...). */
export class CaddyUnreachable extends CaddyError {
  override readonly code = 'CND_CADDY_UNREACHABLE'
  constructor(
    readonly adminUrl: string,
    detail: string,
    options?: ErrorOptions
  ) {
    super(
      `cannot reach the Caddy admin API at ${adminUrl} (${detail}); is Caddy running (systemctl status caddy)? ` +
        'Set the endpoint with --caddy-admin URL, CONDUCTOR_CADDY_ADMIN or "caddy_admin" in host.json',
      undefined,
      undefined,
      options
    )
  }
}

/** Caddy answered with an error status; `caddyMessage` is Caddy's own `error` text. */
export class CaddyHttpError extends CaddyError {
  override readonly code: ErrorCode = 'CND_CADDY_HTTP'
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    readonly caddyMessage: string,
    hint = ''
  ) {
    super(`Caddy admin API answered ${status} to ${method} ${path}: ${caddyMessage}${hint === '' ? '' : `; ${hint}`}`)
  }
}

/** 404: no object at that path or @id. */
export class CaddyNotFound extends CaddyHttpError {
  override readonly code = 'CND_CADDY_NOT_FOUND'
}

/** A read-modify-write kept losing the race (412 on If-Match) after every retry. */
export class CaddyConflict extends CaddyError {
  override readonly code = 'CND_CADDY_CONFLICT'
}

/** A proxy snippet (template output) or a route description that cannot be used. */
export class SnippetInvalid extends CaddyError {
  override readonly code = 'CND_CADDY_SNIPPET_INVALID'
}

export class RouteInvalid extends CaddyError {
  override readonly code = 'CND_CADDY_ROUTE_INVALID'
}
