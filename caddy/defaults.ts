// Every default of caddy/ in one place.

/** Caddy's own default admin endpoint (seed README "Installation"). */
export const DEFAULT_ADMIN_URL = 'http://localhost:2019'
/** An admin request that takes longer is treated as Caddy being unreachable. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** Read-modify-write attempts before giving up with CND_CADDY_CONFLICT. */
export const DEFAULT_MAX_ATTEMPTS = 8
/** Attempts of a repeatable request (GET, /load) hit by Caddy restarting its admin listener. */
export const RESET_RETRIES = 4
export const RESET_RETRY_MS = 50
/** Base of the jittered back-off between attempts after a 412. */
export const RETRY_BASE_MS = 5
/** Caddy's error text is cut to this length in our messages (it can echo config). */
export const MAX_CADDY_MESSAGE = 500
/** The gateway's forward_auth endpoint. */
export const AUTH_PATH = '/auth'
/** The gateway's /auth refuses longer query values (gateway/auth-answer.ts MAX_QUERY_VALUE). */
export const MAX_AUTHORIZATION_CHARS = 200
/**
 * Identity headers copied from the gateway's 2xx answer to the upstream request. Caddy 2.6.2
 * cannot copy by wildcard, so the list is explicit; every client-sent X-Conductor-* header is
 * still stripped by wildcard before the gateway is asked.
 */
export const IDENTITY_HEADERS = [
  'X-Conductor-Subject',
  'X-Conductor-Peer-Id',
  'X-Conductor-Peer-Hostname',
  'X-Conductor-Authorizations',
  'X-Conductor-Policy',
  'X-Conductor-Meta'
] as const
/**
 * The "@id" of the HTTP server Conductor's routes go into: `conductor system install` declares
 * it in caddy.json, proxy snippets, `caddy protect` and the function and command routes address
 * its routes as `conductor-server/routes`, and `conductor doctor` checks it exists.
 */
export const CONDUCTOR_SERVER_ID = 'conductor-server'
/** Where `conductor caddy protect` adds routes by default: the routes of that server. */
export const DEFAULT_ROUTES_TARGET = `${CONDUCTOR_SERVER_ID}/routes`
/** Where the gateway listens by default (same as gateway/defaults.ts DEFAULT_LISTEN). */
export const DEFAULT_GATEWAY_DIAL = '127.0.0.1:2080'
