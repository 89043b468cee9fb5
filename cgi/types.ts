// What the runner needs to know about a function and a request. The gateway fills these from
// the service file and the HTTP request; cgi/ never reads a service file itself.

import type { FunctionLimits } from './limits.js'

export type FunctionFormat = 'cgi' | 'http-stdio'
export type FunctionMode = 'single' | 'multi' | 'parallel'

export interface FunctionSpec {
  /** CONDUCTOR_FUNCTION_ID, for logs and the daemon socket name. */
  id: string
  format: FunctionFormat
  mode: FunctionMode
  /** Program and arguments, program path absolute or looked up in env.PATH. */
  exec: string[]
  cwd: string
  /** The service's variables (+ CONDUCTOR_FUNCTION_ID): the base environment of every process. */
  env: Record<string, string>
  /** Workers kept spawned and idle, so a request never pays a cold start. */
  minWarm: number
  maxWorkers: number
  maxQueue: number
  /** multi: recycle a worker after this many requests. */
  maxRequests: number
  /** multi: recycle an idle worker after this; parallel: stop the daemon (scale to zero). */
  idleTimeoutMs: number
  timeoutMs: number
  maxBodyBytes: number
  stderrAsStdout: boolean
  /** Headers added to every response (`response_headers`). */
  responseHeaders: Array<[string, string]>
  /** The process prints only a body (`no_response_headers`). */
  noResponseHeaders: boolean
  /**
   * http-stdio and parallel: the request target the process gets is the path without
   * SCRIPT_NAME (Caddy's handle_path), the query kept; else the public path.
   */
  stripPrefix: boolean
  /** parallel: directory where the daemon's unix socket is created. */
  socketDir: string
  /**
   * service_directives, parsed (cgi/limits.ts): every process of the function is started by a
   * fork server of its own, in a systemd scope with these properties, with these rlimits.
   */
  limits?: FunctionLimits | undefined
}

/** The request as the CGI sees it (RFC 3875 §4.1), computed by the gateway. */
export interface RequestInfo {
  method: string
  /** Request path as the client sent it (still percent-encoded), without the query. */
  path: string
  /** Query string without "?" (RFC 3875 §4.1.7: as sent, not decoded). */
  query: string
  /** The part of the path that selects the function (SCRIPT_NAME). */
  scriptName: string
  /** The rest (PATH_INFO), decoded as RFC 3875 §4.1.5 asks. */
  pathInfo: string
  /** Request headers, lower-case names (Node's IncomingMessage.headers shape). */
  headers: Record<string, string | string[] | undefined>
  remoteAddr: string
  remotePort?: string | undefined
  serverName: string
  serverPort: string
  /** e.g. HTTP/1.1 */
  protocol: string
  /** https when the proxy says so. */
  scheme: string
  /** Identity established by the gateway's policy check (empty when public). */
  authType?: string | undefined
  remoteUser?: string | undefined
}
