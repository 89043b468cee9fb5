import { CgiBadRequest } from './errors.js'
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
  'content-type',
  'content-length',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'upgrade',
  'trailer'
])

export function buildCgiEnv(req: RequestInfo, base: Record<string, string>): Record<string, string> {
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

/** How a function receives the request: CGI in its environment, the others over HTTP. */
export type RequestTransport = 'env' | 'http'

/**
 * Refuses, before any process is started, a request the function cannot be given as is
 * (issue 13 item 6). PATH_INFO is decoded, so `%00` becomes a NUL byte, which no environment
 * variable can hold (execve takes C strings: child_process throws, a C fork server would cut
 * the value short). Over HTTP, PATH_INFO and REMOTE_USER travel in X-Conductor-* headers,
 * which cannot hold CR, LF or any other control either. The client and the token holder
 * chose these bytes, so the answer is 400, for every transport alike.
 */
export function checkPassable(req: RequestInfo, transport: RequestTransport): void {
  if (transport === 'env') {
    for (const [name, value] of metaValues(req)) {
      if (!value.includes('\0')) continue
      throw new CgiBadRequest(`${name} holds a NUL byte (%00): a process cannot receive it in its environment`)
    }
    return
  }
  const sent: Array<[string, string | undefined]> = [
    ['PATH_INFO', req.pathInfo],
    ['SCRIPT_NAME', req.scriptName],
    ['REMOTE_USER', req.remoteUser]
  ]
  for (const [name, value] of sent) {
    // Controls only: other non-ASCII text is sent as its UTF-8 bytes (headerBytes).
    if (value === undefined || !/[\0-\x08\x0a-\x1f\x7f]/.test(value)) continue
    throw new CgiBadRequest(
      `${name} holds a NUL, CR, LF or other control character: ` + 'it cannot be sent to the function in a header'
    )
  }
  // A local redirect's Location may name a path the client could not have sent (a space).
  if (!/^[\x21-\x7e]*$/.test(req.path + req.query)) {
    throw new CgiBadRequest('the request target holds a space, a control or a non-ASCII character')
  }
}

/**
 * A header value carrying `text` as its UTF-8 bytes: Node writes header strings as Latin-1,
 * one byte per character, and refuses characters above U+00FF. The receiver gets the same
 * bytes a CGI finds in its environment.
 */
export function headerBytes(text: string): string {
  return /^[\x00-\x7f]*$/.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1')
}

/**
 * Splits a request path into SCRIPT_NAME and PATH_INFO: the first `strip` segments select the
 * function, the rest is PATH_INFO (decoded, RFC 3875 §4.1.5). `/a/b/c`, strip 1 -> `/a`, `/b/c`.
 */
export function splitPath(path: string, strip: number): { scriptName: string; pathInfo: string } {
  let idx = 0
  for (let i = 0; i < strip; i++) {
    const next = path.indexOf('/', idx + 1)
    if (next === -1) return { scriptName: path, pathInfo: '' }
    idx = next
  }
  return { scriptName: path.slice(0, idx), pathInfo: safeDecode(path.slice(idx)) }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** Every request-derived value buildCgiEnv puts in the environment, by meta-variable. */
function metaValues(req: RequestInfo): Array<[string, string]> {
  const values: Array<[string, string | undefined]> = [
    ['REQUEST_METHOD', req.method],
    ['REQUEST_URI', req.path],
    ['QUERY_STRING', req.query],
    ['SCRIPT_NAME', req.scriptName],
    ['PATH_INFO', req.pathInfo],
    ['REMOTE_ADDR', req.remoteAddr],
    ['REMOTE_PORT', req.remotePort],
    ['SERVER_NAME', req.serverName],
    ['SERVER_PORT', req.serverPort],
    ['SERVER_PROTOCOL', req.protocol],
    ['REQUEST_SCHEME', req.scheme],
    ['AUTH_TYPE', req.authType],
    ['REMOTE_USER', req.remoteUser]
  ]
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) values.push([`the ${name} header`, v])
  }
  return values.filter((e): e is [string, string] => e[1] !== undefined)
}
