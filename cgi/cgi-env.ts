import type { RequestInfo } from './types.js'

// RFC 3875 §4.1 meta-variables. Pure: the same request gives the same environment, so this is
// unit tested field by field. The service's variables come first and the meta-variables
// override them: a config key named like a meta-variable cannot lie to the script.

/**
 * Headers no function process receives, whatever its format: the credential the gateway already
 * checked (RFC 3875 §4.1.18), and `Proxy`, which a program would read as HTTP_PROXY (httpoxy).
 * CGI leaves them out of the environment; http-stdio workers and daemons out of the request.
 */
export const WITHHELD_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'proxy'])

/** Headers the environment never carries: the withheld ones, framing (RFC 3875 §4.1.18), hop-by-hop. */
const SKIPPED_HEADERS = new Set([
  ...WITHHELD_HEADERS,
  'content-type', 'content-length', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'trailer'
])

export function buildCgiEnv (req: RequestInfo, base: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...base }
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || SKIPPED_HEADERS.has(name)) continue
    // httpoxy: a client "Proxy:" header must never become HTTP_PROXY (skipped above), and names
    // with characters other than letters, digits and "-" are dropped rather than mangled.
    if (!/^[a-z0-9-]+$/.test(name)) continue
    const key = 'HTTP_' + name.toUpperCase().replace(/-/g, '_')
    env[key] = Array.isArray(value) ? value.join(name === 'cookie' ? '; ' : ', ') : value
  }
  const contentLength = single(req.headers['content-length'])
  const contentType = single(req.headers['content-type'])
  Object.assign(env, {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: req.protocol,
    SERVER_SOFTWARE: 'conductor-gateway',
    SERVER_NAME: req.serverName,
    SERVER_PORT: req.serverPort,
    REQUEST_METHOD: req.method,
    REQUEST_URI: req.query === '' ? req.path : `${req.path}?${req.query}`,
    QUERY_STRING: req.query,
    SCRIPT_NAME: req.scriptName,
    PATH_INFO: req.pathInfo,
    REMOTE_ADDR: req.remoteAddr,
    REMOTE_HOST: req.remoteAddr,
    REQUEST_SCHEME: req.scheme
  })
  if (req.remotePort !== undefined) env.REMOTE_PORT = req.remotePort
  if (req.scheme === 'https') env.HTTPS = 'on'
  // §4.1.2 / §4.1.3: only set when the request has a body / declares a type.
  if (contentLength !== undefined) env.CONTENT_LENGTH = contentLength
  if (contentType !== undefined) env.CONTENT_TYPE = contentType
  // §4.1.1 / §4.1.11: identity established by the gateway, never by the client.
  if (req.authType !== undefined && req.authType !== '') env.AUTH_TYPE = req.authType
  if (req.remoteUser !== undefined && req.remoteUser !== '') env.REMOTE_USER = req.remoteUser
  return env
}

/**
 * Splits a request path into SCRIPT_NAME and PATH_INFO: the first `strip` segments select the
 * function, the rest is PATH_INFO (decoded, RFC 3875 §4.1.5). `/a/b/c`, strip 1 -> `/a`, `/b/c`.
 */
export function splitPath (path: string, strip: number): { scriptName: string, pathInfo: string } {
  let idx = 0
  for (let i = 0; i < strip; i++) {
    const next = path.indexOf('/', idx + 1)
    if (next === -1) return { scriptName: path, pathInfo: '' }
    idx = next
  }
  return { scriptName: path.slice(0, idx), pathInfo: safeDecode(path.slice(idx)) }
}

function safeDecode (s: string): string {
  try { return decodeURIComponent(s) } catch { return s }
}

function single (v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}
