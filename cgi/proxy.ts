import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { BodyLimit } from './body.js'
import { CgiBadGateway, CgiClientGone, CgiError } from './errors.js'
import type { FunctionSpec } from './types.js'

// Forwards one request over an HTTP/1.1 connection owned by an agent: a worker's stdin/stdout
// (http-stdio) or a daemon's unix socket (parallel). Node's own HTTP client does the framing
// (Content-Length, chunked, keep-alive), so the worker may answer either way.

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization'
])

export interface ProxyOutcome {
  done: Promise<{ ok: true } | { ok: false; error: CgiError; headersSent: boolean }>
  abort: (reason: CgiError) => void
}

export function proxyRequest(
  spec: FunctionSpec,
  agent: http.Agent,
  path: string,
  headers: Record<string, string | string[]>,
  req: IncomingMessage,
  res: ServerResponse,
  socketPath?: string
): ProxyOutcome {
  let settle!: (r: { ok: true } | { ok: false; error: CgiError; headersSent: boolean }) => void
  const done = new Promise<Parameters<typeof settle>[0]>(resolve => {
    settle = resolve
  })
  let finished = false
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k)) out[k] = v
  const upstream = http.request({
    agent,
    method: req.method,
    path,
    headers: out,
    ...(socketPath !== undefined ? { socketPath } : {})
  })

  const fail = (error: CgiError): void => {
    if (finished) return
    finished = true
    upstream.destroy()
    settle({ ok: false, error, headersSent: res.headersSent })
  }
  upstream.on('error', err =>
    fail(err instanceof CgiError ? err : new CgiBadGateway(`the worker failed: ${err.message}`, { cause: err }))
  )
  // Interim answers (100 Continue, 103...) are legitimate HTTP: Node's client reads them and
  // waits for the final one, which alone is relayed. A 101 (the gateway never asks to
  // upgrade) or a final status outside 200-599 would desynchronise the client's connection
  // (a 1xx is interim to it) or throw in writeHead (< 100): 502, and the worker is recycled.
  upstream.on('upgrade', (_up: IncomingMessage, socket: Duplex) => {
    socket.destroy()
    fail(new CgiBadGateway('the worker answered 101 Switching Protocols to a request that did not ask to upgrade'))
  })
  upstream.on('response', (up: IncomingMessage) => {
    if (finished) {
      up.resume()
      return
    }
    const status = up.statusCode ?? 0
    if (status < 200 || status > 599) {
      up.resume()
      fail(new CgiBadGateway(`the worker answered status ${status}: a final status must be 200-599`))
      return
    }
    res.statusCode = status
    if (up.statusMessage !== undefined && up.statusMessage !== '') res.statusMessage = up.statusMessage
    for (const [name, value] of spec.responseHeaders) res.setHeader(name, value)
    for (const [name, value] of Object.entries(up.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue
      res.setHeader(name, value)
    }
    up.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        up.pause()
        res.once('drain', () => up.resume())
      }
    })
    up.on('end', () => {
      if (finished) return
      finished = true
      res.end()
      settle({ ok: true })
    })
    up.on('error', () => fail(new CgiBadGateway('the worker closed the connection mid-response')))
    up.on('aborted', () => fail(new CgiBadGateway('the worker closed the connection mid-response')))
  })
  res.once('close', () => {
    if (!finished) fail(new CgiClientGone('the client closed the connection'))
  })

  const hasBody = !(
    req.readableEnded ||
    req.headers['content-length'] === '0' ||
    (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)
  )
  if (hasBody) {
    const limit = new BodyLimit(spec.maxBodyBytes)
    limit.on('error', err => fail(err as CgiError))
    req.pipe(limit).pipe(upstream)
  } else {
    upstream.end()
  }
  return { done, abort: fail }
}
