import type { IncomingMessage, ServerResponse } from 'node:http'
import { declaredTooLarge } from './body.js'
import { buildCgiEnv, checkPassable, headerBytes, WITHHELD_HEADERS } from './cgi-env.js'
import { invokeCgi } from './cgi-run.js'
import { Daemon } from './daemon.js'
import { RETRY_AFTER_SEC } from './defaults.js'
import { errorAnswer } from '../errors/index.js'
import { CgiBadGateway, CgiBodyTooLarge, CgiError, CgiLimitsUnavailable, CgiSpawnFailed, CgiTimeout } from './errors.js'
import { Limiter } from './limiter.js'
import { rlimitArgs, type FunctionLimits } from './limits.js'
import { proxyRequest } from './proxy.js'
import { functionScope, type SystemdManager } from './scope.js'
import { StdioPool } from './stdio-pool.js'
import { Spawner } from './spawner.js'
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

/** How a function with service_directives gets its processes (see FunctionSpec.limits). */
export interface FunctionIsolation {
  /** The conductor-spawner binary; without it such a function cannot run (503). */
  spawnerBinary: string | undefined
  /** The systemd manager that creates the function's scope. */
  manager: SystemdManager
  /** Environment of systemd-run and of the fork server (XDG_RUNTIME_DIR for the user manager). */
  env: NodeJS.ProcessEnv
}

export class FunctionRunner {
  private readonly limiter: Limiter
  private readonly pool: StdioPool | undefined
  private readonly daemon: Daemon | undefined
  private cgiSpawned = 0
  /** exec with its program resolved against PATH: the fork server calls execve, not execvp. */
  private readonly resolvedExec: string[] | undefined
  /** service_directives: the function's own fork server, in its scope, with its rlimits. */
  private readonly own: Spawner | undefined
  /** service_directives that cannot apply at all here (no fork server binary). */
  private readonly limitsError: CgiLimitsUnavailable | undefined
  private loggedLimitsError: unknown

  constructor(
    readonly spec: FunctionSpec,
    private readonly log: (msg: string, err?: unknown) => void = () => {},
    private readonly spawner?: Spawner | undefined,
    isolation?: FunctionIsolation | undefined
  ) {
    this.limiter = new Limiter(spec.maxWorkers, spec.maxQueue)
    const program = resolveProgram(spec.exec[0]!, spec.cwd, spec.env.PATH)
    this.resolvedExec = program === undefined ? undefined : [program, ...spec.exec.slice(1)]
    if (spec.limits !== undefined) {
      if (isolation?.spawnerBinary === undefined) {
        this.limitsError = new CgiLimitsUnavailable(
          `${spec.id}: service_directives need the conductor-spawner ` +
            'fork server, which is not built (npm run build needs a C compiler) or disabled (CONDUCTOR_CGI_SPAWNER=)'
        )
        this.log(`function ${this.limitsError.message}; its requests get 503`)
      } else {
        this.own = ownSpawner(spec, spec.limits, isolation)
        // Started now, not by the first request: the scope costs tens of milliseconds to create,
        // and a gateway that cannot apply the limits says so when it starts.
        this.own.start().catch(err => {
          this.logLimitsError(err)
        })
      }
    }
    const forks =
      this.own !== undefined && this.resolvedExec !== undefined
        ? { spawner: this.own, exec: this.resolvedExec, required: true }
        : spawner !== undefined && this.resolvedExec !== undefined
          ? { spawner, exec: this.resolvedExec }
          : undefined
    // A function with limits starts its processes through its own fork server only: without it
    // (limitsError, or a program not found), no pool or daemon is made, and serve() refuses.
    const mayStart = spec.limits === undefined || forks?.required === true
    if (spec.mode === 'parallel') this.daemon = mayStart ? new Daemon(spec, this.own, this.resolvedExec) : undefined
    else if (spec.format === 'http-stdio') {
      this.pool = mayStart ? new StdioPool(spec, spec.mode === 'single' ? 1 : spec.maxRequests, forks) : undefined
    } else this.pool = undefined
  }

  /** Serves one request to completion. Never throws: failures become 400/413/502/503/504. */
  async serve(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<ServeResult> {
    try {
      checkPassable(info, this.daemon === undefined && this.pool === undefined ? 'env' : 'http')
    } catch (err) {
      return this.answerError(req, res, err as CgiError)
    }
    if (declaredTooLarge(req.headers['content-length'], this.spec.maxBodyBytes)) {
      return this.answerError(
        req,
        res,
        new CgiBodyTooLarge(`the request body is larger than ${this.spec.maxBodyBytes} bytes`)
      )
    }
    if (this.spec.limits !== undefined) {
      try {
        await this.ensureLimits()
      } catch (err) {
        return this.answerError(req, res, err as CgiError)
      }
    }
    let release = this.limiter.tryAcquire()
    let onClose: (() => void) | undefined
    if (release === undefined) {
      // Queued: a client that goes away meanwhile leaves the queue.
      const { slot, cancel } = this.limiter.enqueue()
      onClose = (): void => {
        if (!res.writableFinished) cancel()
      }
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
      if (this.spec.format === 'http-stdio' || this.spec.mode === 'parallel') throw this.notFound()
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

  stats(): RunnerStats {
    const base = { id: this.spec.id, mode: this.spec.mode, format: this.spec.format, ...this.limiter.stats }
    if (this.pool !== undefined) {
      const s = this.pool.stats()
      return { ...base, workers: s.workers, idle: s.idle, spawned: s.spawned, pids: this.pool.idlePids() }
    }
    if (this.daemon !== undefined) {
      const pid = this.daemon.pid
      return {
        ...base,
        workers: pid === undefined ? 0 : 1,
        idle: 0,
        spawned: this.daemon.starts,
        pids: pid === undefined ? [] : [pid]
      }
    }
    return { ...base, workers: this.limiter.stats.active, idle: 0, spawned: this.cgiSpawned, pids: [] }
  }

  async close(): Promise<void> {
    this.limiter.close()
    this.pool?.close()
    await this.daemon?.close()
    if (this.own === undefined) return
    // Requests in flight finish first (each is bounded by timeout_sec): a reload that changes
    // the function does not cut them. Then the scope goes, with anything that left its group.
    const deadline = Date.now() + this.spec.timeoutMs
    while (this.limiter.stats.active > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    await this.own.stop()
  }

  /** The function's own fork server runs (its scope exists, its rlimits can be set), or why not. */
  private async ensureLimits(): Promise<void> {
    if (this.limitsError !== undefined) throw this.limitsError
    try {
      await this.own!.start()
    } catch (err) {
      this.logLimitsError(err)
      throw new CgiLimitsUnavailable(`${this.spec.id}: ${(err as Error).message}`, { cause: err })
    }
  }

  private notFound(): CgiSpawnFailed {
    return new CgiSpawnFailed(`${this.spec.id}: cannot find ${this.spec.exec[0]!} in PATH`)
  }

  /** Once per failed start of the fork server (the next attempt is seconds away), not per request. */
  private logLimitsError(err: unknown): void {
    if (err === this.loggedLimitsError) return
    this.loggedLimitsError = err
    this.log(
      `function ${this.spec.id}: its service_directives cannot be applied, so its requests get 503 ` +
        '(run the gateway under systemd, conductor-gateway.service, or change the directives): ' +
        (err as Error).message,
      err
    )
  }

  private async serveCgi(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<ServeResult> {
    const env = buildCgiEnv(info, this.spec.env)
    this.cgiSpawned++
    if (this.own !== undefined) {
      // Never a fallback to child_process: that process would run outside the scope.
      if (this.resolvedExec === undefined) throw this.notFound()
      if (!this.own.isRunning) {
        throw new CgiLimitsUnavailable(`${this.spec.id}: the function's fork server stopped; it is being restarted`)
      }
    }
    const forks = this.own ?? this.spawner
    const viaSpawner =
      forks?.isRunning && this.resolvedExec !== undefined
        ? (forks.spawn(this.resolvedExec, this.spec.cwd, env, this.spec.stderrAsStdout) as unknown as ChildProcess)
        : undefined
    const inv = invokeCgi(this.spec, env, req, res, viaSpawner)
    const timer = setTimeout(
      () =>
        inv.abort(
          new CgiTimeout(`${this.spec.id} took longer than ${this.spec.timeoutMs} ms; its process group was killed`)
        ),
      this.spec.timeoutMs
    )
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

  private async serveStdio(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<ServeResult> {
    const worker = this.pool!.take()
    // Unhealthy until it answered: a worker whose request failed, even before it was sent, is
    // recycled rather than kept in the pool in an unknown state.
    let healthy = false
    let timer: NodeJS.Timeout | undefined
    let unsubscribe = (): void => {}
    try {
      const target = requestTarget(info, this.spec.stripPrefix)
      const outcome = proxyRequest(this.spec, worker.agent, target, forwardHeaders(info), req, res)
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

  private async serveDaemon(req: IncomingMessage, res: ServerResponse, info: RequestInfo): Promise<ServeResult> {
    const d = this.daemon!
    d.begin()
    try {
      await d.ensure()
      const target = requestTarget(info, this.spec.stripPrefix)
      const outcome = proxyRequest(this.spec, d.agent, target, forwardHeaders(info), req, res, d.socketPath)
      // A daemon serves others at the same time: a slow request is cut, the daemon stays.
      const timer = setTimeout(
        () => outcome.abort(new CgiTimeout(`${this.spec.id} took longer than ${this.spec.timeoutMs} ms`)),
        this.spec.timeoutMs
      )
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

  private answerError(req: IncomingMessage, res: ServerResponse, error: CgiError): ServeResult {
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
function publicMessage(e: CgiError): string {
  if (e instanceof CgiLimitsUnavailable) {
    return "the function's service_directives cannot be applied on this host (the gateway log says why)"
  }
  switch (e.httpStatus) {
    case 400:
      return e.message
    case 413:
      return 'request body too large'
    case 503:
      return 'function busy, retry later'
    case 504:
      return 'function timed out'
    default:
      return 'function failed'
  }
}

/**
 * http-stdio and daemons see the public path (SCRIPT_NAME + PATH_INFO) and query, or with
 * strip_prefix the path after SCRIPT_NAME, still as sent (percent-encoded), "/" when empty.
 */
export function requestTarget(info: RequestInfo, stripPrefix: boolean): string {
  let p = info.path
  if (stripPrefix) {
    p = p.slice(info.scriptName.length)
    if (!p.startsWith('/')) p = '/' + p
  }
  return info.query === '' ? p : `${p}?${info.query}`
}

/** The request's headers as an http-stdio worker or a daemon gets them: the same rule as CGI's environment. */
function forwardHeaders(info: RequestInfo): Record<string, string | string[]> {
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

function resolveProgram(program: string, cwd: string, PATH: string | undefined): string | undefined {
  if (program.includes('/')) return path.resolve(cwd, program)
  for (const dir of (PATH ?? '').split(':')) {
    if (dir === '') continue
    const candidate = path.join(dir, program)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      /* next */
    }
  }
  return undefined
}

/**
 * The fork server of a function with service_directives: in a systemd scope with its cgroup
 * properties (when it has any; rlimits alone need no systemd), setting its rlimits in each child.
 */
function ownSpawner(spec: FunctionSpec, limits: FunctionLimits, isolation: FunctionIsolation): Spawner {
  const scope =
    limits.properties.length > 0
      ? functionScope({ manager: isolation.manager, id: spec.id, properties: limits.properties, env: isolation.env })
      : undefined
  return new Spawner(isolation.spawnerBinary!, spec.socketDir, {
    args: rlimitArgs(limits.rlimits),
    wrap: scope?.wrap,
    env: isolation.env,
    socketName: `${spec.id}.spawner.sock`,
    onStop: scope?.stop,
    describe:
      scope !== undefined
        ? `systemd-run${isolation.manager === 'user' ? ' --user' : ''} --scope, creating the function's scope ` +
          `(${limits.properties.join(' ')}),`
        : "conductor-spawner, setting the function's process limits,"
  })
}
