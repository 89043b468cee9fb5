import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_CADDY_MESSAGE,
  RESET_RETRIES,
  RESET_RETRY_MS,
  RETRY_BASE_MS
} from './defaults.js'
import { CaddyConflict, CaddyError, CaddyHttpError, CaddyNotFound, CaddyUnreachable } from './errors.js'

// The only code that speaks Caddy's admin API (ARCHITECTURE.md). It uses node:http rather
// than fetch because Caddy 2.6 sends the config ETag as an HTTP *trailer*, which fetch does
// not expose; node:http also reaches an admin endpoint on a unix socket.

export interface CaddyClientOptions {
  /** http://HOST:PORT, or unix//PATH (Caddy's notation) / unix:/PATH for a socket. */
  adminUrl: string
  timeoutMs?: number
  /** Attempts of a read-modify-write before CND_CADDY_CONFLICT. */
  maxAttempts?: number
}

export interface CaddyResponse {
  status: number
  body: string
  /** The config ETag (`"<config path> <hash>"`), from the header or the trailer. */
  etag?: string | undefined
}

export interface Upstream {
  address: string
  num_requests: number
  fails: number
}

/** What one write of a read-modify-write decided. */
export type Update<T> = { value: T } | undefined

export class CaddyClient {
  /** The admin URL without userinfo, safe to print. */
  readonly adminUrl: string
  readonly #target: { socketPath: string } | { host: string; port: number; prefix: string }
  readonly #timeoutMs: number
  readonly #maxAttempts: number

  constructor(opts: CaddyClientOptions) {
    const parsed = parseAdminUrl(opts.adminUrl)
    this.adminUrl = parsed.display
    this.#target = parsed.target
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.#maxAttempts = opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS
  }

  /**
   * One admin request. Error statuses are returned, not thrown (see `send`). Caddy restarts
   * its admin listener after some config changes (and after rolling back a failed one), so a
   * request landing in that instant gets ECONNRESET (or, between the two listeners,
   * ECONNREFUSED). Requests that can be repeated safely are retried a few times: GET, /load,
   * PATCH and DELETE (same result twice), and any write guarded by If-Match (if the first
   * attempt did land, the repeat gets 412 and the read-modify-write loop decides again).
   */
  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {}
  ): Promise<CaddyResponse> {
    const repeatable =
      method === 'GET' ||
      method === 'PATCH' ||
      method === 'DELETE' ||
      path === '/load' ||
      headers['if-match'] !== undefined
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#once(method, path, body, headers)
      } catch (err) {
        const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code
        if (
          !repeatable ||
          attempt >= RESET_RETRIES ||
          (code !== 'ECONNRESET' && code !== 'EPIPE' && code !== 'ECONNREFUSED')
        )
          throw err
        await sleep(RESET_RETRY_MS * attempt)
      }
    }
  }

  async #once(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<CaddyResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const target = this.#target
    const reqHeaders: Record<string, string> = { ...headers }
    if (payload !== undefined) {
      reqHeaders['content-type'] = 'application/json'
      reqHeaders['content-length'] = String(payload.length)
    }
    // Caddy checks the Host of admin requests against its listen address; on a socket any
    // fixed host will do.
    const opts: http.RequestOptions =
      'socketPath' in target
        ? { socketPath: target.socketPath, path, method, headers: { host: 'localhost', ...reqHeaders } }
        : { host: target.host, port: target.port, path: target.prefix + path, method, headers: reqHeaders }
    return await new Promise((resolve, reject) => {
      const req = http.request({ ...opts, timeout: this.#timeoutMs, agent: false }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', err => reject(new CaddyUnreachable(this.adminUrl, err.message, { cause: err })))
        res.on('end', () => {
          const etag = res.headers.etag ?? res.trailers.etag
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), etag })
        })
      })
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error(`no answer within ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' }))
      )
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(new CaddyUnreachable(this.adminUrl, err.code ?? err.message, { cause: err }))
      )
      req.end(payload)
    })
  }

  /** Like `request`, but a status >= 400 becomes a typed error carrying Caddy's message. */
  async send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {}
  ): Promise<CaddyResponse> {
    const res = await this.request(method, path, body, headers)
    if (res.status >= 400) throw httpError(res, method, path)
    return res
  }

  /** GET a config path (`/config/...`, `/id/...`) or an @id path (`front/routes`). */
  async get<T = unknown>(idOrPath: string): Promise<T> {
    return (await this.getWithEtag<T>(idOrPath)).value
  }

  async getWithEtag<T = unknown>(idOrPath: string): Promise<{ value: T; etag: string | undefined }> {
    const path = adminPath(idOrPath)
    const res = await this.send('GET', path)
    return { value: parseBody(res.body, 'GET', path) as T, etag: res.etag }
  }

  /** True when an object with that @id (or that config path) exists. */
  async has(idOrPath: string): Promise<boolean> {
    try {
      // A missing key under an existing /config/ object reads as 200 `null`.
      return (await this.get(idOrPath)) !== null
    } catch (err) {
      if (
        err instanceof CaddyNotFound ||
        (err instanceof CaddyHttpError &&
          err.status === 400 &&
          /unknown object ID|invalid traversal path/.test(err.caddyMessage))
      )
        return false
      throw err
    }
  }

  /** POST appends to an array, or sets an object key (Caddy semantics). */
  async post(idOrPath: string, value: unknown, ifMatch?: string): Promise<void> {
    await this.send('POST', adminPath(idOrPath), value, etagHeader(ifMatch))
  }

  /** PUT inserts (into an array position) or creates a new key; fails if it exists. */
  async put(idOrPath: string, value: unknown, ifMatch?: string): Promise<void> {
    await this.send('PUT', adminPath(idOrPath), value, etagHeader(ifMatch))
  }

  /** PATCH replaces the existing value in place (keeps an array element's position). */
  async patch(idOrPath: string, value: unknown, ifMatch?: string): Promise<void> {
    await this.send('PATCH', adminPath(idOrPath), value, etagHeader(ifMatch))
  }

  async delete(idOrPath: string, ifMatch?: string): Promise<void> {
    await this.send('DELETE', adminPath(idOrPath), undefined, etagHeader(ifMatch))
  }

  /** Replaces the whole configuration (POST /load). */
  async load(config: unknown): Promise<void> {
    await this.send('POST', '/load', config)
  }

  /**
   * Concurrency-safe read-modify-write: reads `idOrPath` with its ETag, lets `change` decide,
   * and writes with If-Match; when another writer got in between (412) it reads and decides
   * again. `change` returns undefined for "nothing to do" and may itself perform the write
   * through the given `ifMatch` (for POST-into-parent cases).
   */
  async update<T = unknown, R = void>(
    idOrPath: string,
    change: (current: T, ifMatch: string | undefined) => Promise<R>
  ): Promise<R> {
    let lastError: unknown
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const { value, etag } = await this.getWithEtag<T>(idOrPath)
      try {
        return await change(value, etag)
      } catch (err) {
        if (!(err instanceof CaddyHttpError && err.status === 412)) throw err
        lastError = err
        // Jittered back-off so two writers that collided do not collide again in lock-step.
        await sleep(RETRY_BASE_MS * attempt + Math.floor(Math.random() * RETRY_BASE_MS * attempt))
      }
    }
    throw new CaddyConflict(
      `${adminPath(idOrPath)} kept changing under us (${this.#maxAttempts} attempts, If-Match failed each time); another process is writing Caddy's config in a loop`,
      undefined,
      undefined,
      { cause: lastError }
    )
  }

  /**
   * Waits until the admin API answers (Caddy just started: its unit may be "active" a moment
   * before the admin listener is up). Throws the last CaddyUnreachable after `timeoutMs`.
   */
  async waitReachable(timeoutMs: number, intervalMs = 100): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        await this.request('GET', '/config/')
        return
      } catch (err) {
        if (!(err instanceof CaddyUnreachable) || Date.now() + intervalMs > deadline) throw err
        await sleep(intervalMs)
      }
    }
  }

  /** Requests in flight and failures per upstream (GET /reverse_proxy/upstreams), for draining. */
  async upstreams(): Promise<Upstream[]> {
    const res = await this.send('GET', '/reverse_proxy/upstreams')
    const list = parseBody(res.body, 'GET', '/reverse_proxy/upstreams')
    if (!Array.isArray(list))
      throw new CaddyError(`GET /reverse_proxy/upstreams: expected a JSON array, got ${typeof list}`)
    return list.map(u => ({
      address: String(u?.address ?? ''),
      num_requests: Number(u?.num_requests ?? 0),
      fails: Number(u?.fails ?? 0)
    }))
  }
}

/**
 * Admin path of a snippet `id` as in the original implementation: an @id path such as
 * `conductor-routes/routes` means `/id/conductor-routes/routes`; `/config/...` and `/id/...`
 * are taken as they are.
 */
export function adminPath(idOrPath: string): string {
  if (idOrPath.startsWith('/config/') || idOrPath === '/config' || idOrPath.startsWith('/id/')) return idOrPath
  const id = idOrPath.replace(/^\/+/, '')
  if (id === '') throw new CaddyError('an empty @id path names nothing')
  return `/id/${id}`
}

/** The @id at the head of an admin path (`/id/front/routes` → `front`), if any. */
export function headId(idOrPath: string): string | undefined {
  const path = adminPath(idOrPath)
  return path.startsWith('/id/') ? path.slice(4).split('/')[0] : undefined
}

function etagHeader(ifMatch: string | undefined): Record<string, string> {
  return ifMatch === undefined ? {} : { 'if-match': ifMatch }
}

function parseBody(body: string, method: string, path: string): unknown {
  if (body.trim() === '') return null
  try {
    return JSON.parse(body)
  } catch {
    throw new CaddyError(`${method} ${path}: Caddy answered something that is not JSON`)
  }
}

function httpError(res: CaddyResponse, method: string, path: string): CaddyHttpError {
  let message = res.body.trim()
  try {
    const parsed = JSON.parse(res.body) as { error?: unknown }
    if (typeof parsed.error === 'string') message = parsed.error
  } catch {
    /* plain text */
  }
  message = redact(message)
  if (message.length > MAX_CADDY_MESSAGE) message = message.slice(0, MAX_CADDY_MESSAGE) + '…'
  if (message === '') message = http.STATUS_CODES[res.status] ?? 'error'
  const Class =
    res.status === 404 || (res.status === 400 && /unknown object ID/.test(message)) ? CaddyNotFound : CaddyHttpError
  const hint =
    Class === CaddyNotFound && path.startsWith('/id/')
      ? `no object with @id "${path.slice(4).split('/')[0] ?? ''}" in Caddy's config: declare it in the Caddy config (or register the snippet that creates it first)`
      : ''
  return new Class(res.status, method, path, message, hint)
}

/** Caddy sometimes echoes config values in errors; hide anything that looks like a credential. */
export function redact(text: string): string {
  return text
    .replace(/(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 ***')
    .replace(/("?(?:password|secret|token|api_key|apikey|authorization)"?\s*[:=]\s*)("[^"]*"|[^\s,}]+)/gi, '$1***')
}

function parseAdminUrl(raw: string): {
  display: string
  target: { socketPath: string } | { host: string; port: number; prefix: string }
} {
  if (raw.startsWith('unix//') || raw.startsWith('unix:/')) {
    const socketPath = raw.startsWith('unix//') ? raw.slice(5) : raw.slice(5)
    return { display: `unix/${socketPath}`, target: { socketPath } }
  }
  let url: URL
  try {
    url = new URL(raw.includes('://') ? raw : `http://${raw}`)
  } catch {
    throw new CaddyError(
      `invalid Caddy admin URL "${raw.replace(/\/\/[^@/]*@/, '//***@')}": expected http://HOST:PORT or unix//PATH`
    )
  }
  if (url.protocol !== 'http:')
    throw new CaddyError(`Caddy admin URL ${url.protocol}//${url.host}: only http:// (or a unix socket) is supported`)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const port = url.port === '' ? 80 : Number(url.port)
  const prefix = url.pathname.replace(/\/+$/, '')
  return { display: `http://${url.host}${prefix}`, target: { host, port, prefix } }
}
