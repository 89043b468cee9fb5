import type { IncomingMessage, ServerResponse } from 'node:http'
import { declaredTooLarge } from './body.js'
import { buildCgiEnv, checkPassable, headerBytes, WITHHELD_HEADERS } from './cgi-env.js'
import { invokeCgi } from './cgi-run.js'
import { Daemon } from './daemon.js'
import { RETRY_AFTER_SEC } from './defaults.js'
import { errorAnswer } from '../errors/index.js'
import { CgiBadGateway, CgiBodyTooLarge, CgiError, CgiTimeout } from './errors.js'
import { Limiter } from './limiter.js'
import { proxyRequest } from './proxy.js'
import { StdioPool } from './stdio-pool.js'
import type { Spawner } from './spawner.js'
import { accessSync, constants } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { FunctionSpec, RequestInfo } from './types.js'

// One function's runtime: limits (concurrency, queue, body, time), then the mode's way of
// running it. The gateway keeps one runner per function id across requests (warm pools live
// here) and replaces it when a reload changes the function.

export interface ServeResult {
  /** HTTP status sent (0 when the connection was cut after the headers). */
  status: number
  /** RFC 3875 §6.2.2: the script asked the server to serve this path instead. */
  localRedirect?: string | undefined
  error?: CgiError | undefined
}

export interface RunnerStats {
  id: string
  mode: string
  format: string
  active: number
  queued: number
  /** Worker processes alive now (daemon: 0 or 1). */
  workers: number
  idle: number
  /** Processes started so far (single-shot CGI: one per request). */
  spawned: number
  /** Pids of live workers (warm pool, daemon). */
  pids: number[]
}

export class FunctionRunner {
  private readonly limiter: Limiter
  private readonly pool: StdioPool | undefined
  private readonly daemon: Daemon | undefined
  private cgiSpawned = 0
  /** exec with its program resolved against PATH: the fork server calls execve, not execvp. */
  private readonly resolvedExec: string[] | undefined

  constructor (readonly spec: FunctionSpec, private readonly log: (msg: string, err?: unknown) => void = () => {}, private readonly spawner?: Spawner | undefined) {
    this.limiter = new Limiter(spec.maxWorkers, spec.maxQueue)
    const program = resolveProgram(spec.exec[0]!, spec.cwd, spec.env.PATH)
    this.resolvedExec = program === undefined ? undefined : [program, ...spec.exec.slice(1)]
    if (spec.mode === 'parallel') this.daemon = new Daemon(spec)
    else if (spec.format === 'http-stdio') this.pool = new StdioPool(spec, spec.mode === 'single' ? 1 : spec.maxRequests, spawner !== undefined && this.resolvedExec !== undefined ? { spawner, exec: this.resolvedExec } : undefined)
  }

  /** Serves one request to completion. Never throws: failures become 400/413/502/503/504. */
  async serve (req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<ServeResult> {
    try {
      checkPassable(info, this.daemon === undefined && this.pool === undefined ? 'env' : 'http')
    } catch (err) {
      return this.answerError(req, res, err as CgiError)
    }
    if (declaredTooLarge(req.headers['content-length'], this.spec.maxBodyBytes)) {
      return this.answerError(req, res, new CgiBodyTooLarge(`the request body is larger than ${this.spec.maxBodyBytes} bytes`))
    }
    let release = this.limiter.tryAcquire()
    let onClose: (() => void) | undefined
    if (release === undefined) {
      // Queued: a client that goes away meanwhile leaves the queue.
      const { slot, cancel } = this.limiter.enqueue()
      onClose = (): void => { if (!res.writableFinished) cancel() }
      res.once('close', onClose)
      try {
        release = await slot
      } catch (err) {
        res.off('close', onClose)
        return this.answerError(req, res, err as CgiError)
      }
    }
    try {
      if (this.daemon !== undefined) return await this.serveDaemon(req, res, info)
      if (this.pool !== undefined) return await this.serveStdio(req, res, info)
      return await this.serveCgi(req, res, info)
    } catch (err) {
      // A synchronous throw on the way to the process (child_process or the HTTP client
      // refusing an argument) comes after the gateway took the reply over: answer it, or the
      // client waits forever (fail closed).
      const error = err instanceof CgiError ? err : new CgiBadGateway(`${this.spec.id}: ${String(err)}`, { cause: err })
      return this.answerError(req, res, error)
    } finally {
      release()
      if (onClose !== undefined) res.off('close', onClose)
    }
  }

  stats (): RunnerStats {
    const base = { id: this.spec.id, mode: this.spec.mode, format: this.spec.format, ...this.limiter.stats }
    if (this.pool !== undefined) {
      const s = this.pool.stats()
      return { ...base, workers: s.workers, idle: s.idle, spawned: s.spawned, pids: this.pool.idlePids() }
    }
    if (this.daemon !== undefined) {
      const pid = this.daemon.pid
      return { ...base, workers: pid === undefined ? 0 : 1, idle: 0, spawned: this.daemon.starts, pids: pid === undefined ? [] : [pid] }
    }
    return { ...base, workers: this.limiter.stats.active, idle: 0, spawned: this.cgiSpawned, pids: [] }
  }

  async close (): Promise<void> {
    this.limiter.close()
    this.pool?.close()
    await this.daemon?.close()
  }

  private async serveCgi (req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<ServeResult> {
    const env = buildCgiEnv(info, this.spec.env)
    this.cgiSpawned++
    const viaSpawner = this.spawner !== undefined && this.spawner.isRunning && this.resolvedExec !== undefined
      ? this.spawner.spawn(this.resolvedExec, this.spec.cwd, env, this.spec.stderrAsStdout) as unknown as ChildProcess
      : undefined
    const inv = invokeCgi(this.spec, env, req, res, viaSpawner)
    const timer = setTimeout(() => inv.abort(new CgiTimeout(`${this.spec.id} took longer than ${this.spec.timeoutMs} ms; its process group was killed`)), this.spec.timeoutMs)
    try {
      const r = await inv.done
      if (!r.ok) return this.answerError(req, res, r.error)
      if (r.localRedirect !== undefined) return { status: 0, localRedirect: r.localRedirect }
      return { status: res.statusCode }
    } finally {
      // The slot is held until the process is gone: a script that closed stdout but keeps
      // running still counts, and the timeout still kills it.
      await inv.exited
      clearTimeout(timer)
    }
  }

  private async serveStdio (req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<ServeResult> {
    const worker = this.pool!.take()
    // Unhealthy until it answered: a worker whose request failed, even before it was sent, is
    // recycled rather than kept in the pool in an unknown state.
    let healthy = false
    let timer: NodeJS.Timeout | undefined
    let unsubscribe = (): void => {}
    try {
      const outcome = proxyRequest(this.spec, worker.agent, requestTarget(info), forwardHeaders(info), req, res)
      const { id, timeoutMs } = this.spec
      timer = setTimeout(() => {
        worker.stop()
        outcome.abort(new CgiTimeout(`${id} took longer than ${timeoutMs} ms; its process group was killed`))
      }, timeoutMs)
      unsubscribe = worker.onExit(() => outcome.abort(new CgiBadGateway(`${id}: the worker exited before answering`)))
      const r = await outcome.done
      if (!r.ok) return this.answerError(req, res, r.error)
      healthy = true
      return { status: res.statusCode }
    } finally {
      clearTimeout(timer)
      unsubscribe()
      this.pool!.give(worker, healthy)
      if (!healthy) await worker.exited()
    }
  }

  private async serveDaemon (req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<ServeResult> {
    const d = this.daemon!
    d.begin()
    try {
      await d.ensure()
      const outcome = proxyRequest(this.spec, d.agent, requestTarget(info), forwardHeaders(info), req, res, d.socketPath)
      // A daemon serves others at the same time: a slow request is cut, the daemon stays.
      const timer = setTimeout(() => outcome.abort(new CgiTimeout(`${this.spec.id} took longer than ${this.spec.timeoutMs} ms`)), this.spec.timeoutMs)
      const r = await outcome.done
      clearTimeout(timer)
      if (!r.ok) return this.answerError(req, res, r.error)
      return { status: res.statusCode }
    } catch (err) {
      return this.answerError(req, res, err instanceof CgiError ? err : new CgiError(String(err)))
    } finally {
      d.end()
    }
  }

  private answerError (req: IncomingMessage, res: ServerResponse, error: CgiError): ServeResult {
    const status = error.httpStatus
    if (status >= 500 && status !== 503 && status !== 499) this.log(`${this.spec.id}: ${error.message}`, error)
    if (res.headersSent || res.destroyed) {
      // Too late for a status: cut the connection so the client sees a truncated response.
      res.destroy()
      return { status: 0, error }
    }
    // A body still arriving is not worth reading to its end (an upload past max_body_bytes):
    // close. A request received whole (every GET) keeps its connection: Node frames the next
    // request itself and discards what the function did not read.
    const close = !req.readableEnded && !req.complete
    const answer = errorAnswer(error, publicMessage(error))
    res.writeHead(answer.status, {
      ...answer.headers,
      ...(status === 503 ? { 'retry-after': String(RETRY_AFTER_SEC) } : {}),
      ...(close ? { connection: 'close' } : {})
    })
    res.end(answer.body)
    if (close) req.resume()
    return { status, error }
  }
}

/**
 * What the client sees: the kind of failure, never paths or script output (they go to the log).
 * A 400 says what in the client's own request cannot be passed on (never its value).
 */
function publicMessage (e: CgiError): string {
  switch (e.httpStatus) {
    case 400: return e.message
    case 413: return 'request body too large'
    case 503: return 'function busy, retry later'
    case 504: return 'function timed out'
    default: return 'function failed'
  }
}

/** http-stdio and daemons see the public path (SCRIPT_NAME + PATH_INFO) and query. */
function requestTarget (info: RequestInfo): string {
  return info.query === '' ? info.path : `${info.path}?${info.query}`
}

/** The request's headers as an http-stdio worker or a daemon gets them: the same rule as CGI's environment. */
function forwardHeaders (info: RequestInfo): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(info.headers)) if (v !== undefined && !WITHHELD_HEADERS.has(k)) h[k] = v
  h['x-forwarded-for'] ??= info.remoteAddr
  h['x-conductor-script-name'] = headerBytes(info.scriptName)
  h['x-conductor-path-info'] = headerBytes(info.pathInfo)
  if (info.remoteUser !== undefined && info.remoteUser !== '') {
    h['x-conductor-remote-user'] = headerBytes(info.remoteUser)
  }
  return h
}

function resolveProgram (program: string, cwd: string, PATH: string | undefined): string | undefined {
  if (program.includes('/')) return path.resolve(cwd, program)
  for (const dir of (PATH ?? '').split(':')) {
    if (dir === '') continue
    const candidate = path.join(dir, program)
    try { accessSync(candidate, constants.X_OK); return candidate } catch { /* next */ }
  }
  return undefined
}
