import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ChildProcess } from 'node:child_process'
import { BodyLimit } from './body.js'
import { CgiHeaderParser, type CgiHead } from './cgi-response.js'
import { CgiBadGateway, CgiClientGone, type CgiError, CgiSpawnFailed } from './errors.js'
import { killGroup, spawnFunctionProcess } from './process.js'
import type { FunctionSpec } from './types.js'

// One CGI invocation (RFC 3875): spawn, stream the body into stdin, parse the header block,
// stream the rest of stdout to the client as it comes (a slow script is seen slowly).

export interface Invocation {
  /** Settles when the response is finished (or failed); never rejects. */
  done: Promise<InvocationResult>
  /** Kills the process group (timeout, client gone). */
  abort: (reason: CgiError) => void
  pid: number | undefined
  /** Resolves when the process has exited (or never started). */
  exited: Promise<void>
}

export type InvocationResult =
  | { ok: true; localRedirect?: string | undefined }
  | { ok: false; error: CgiError; headersSent: boolean }

export function invokeCgi(
  spec: FunctionSpec,
  env: Record<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
  child?: ChildProcess
): Invocation {
  const proc =
    child ??
    spawnFunctionProcess({ exec: spec.exec, cwd: spec.cwd, env, stderrAsStdout: spec.stderrAsStdout, stdin: 'pipe' })
  let settle!: (r: InvocationResult) => void
  const done = new Promise<InvocationResult>(resolve => {
    settle = resolve
  })
  let finished = false
  let head: CgiHead | undefined
  /** Body bytes held back for one tick (see startResponse). */
  let held: Buffer[] | undefined
  let holdTimer: NodeJS.Timeout | undefined
  let exitedFlag = false
  let stdoutEnded = false
  const parser = spec.noResponseHeaders ? undefined : new CgiHeaderParser()

  const finish = (r: InvocationResult): void => {
    if (finished) return
    finished = true
    if (!r.ok || exitedFlag) killGroup(proc.pid)
    settle(r)
  }
  const fail = (error: CgiError): void => {
    if (holdTimer !== undefined) clearTimeout(holdTimer)
    held = undefined
    killGroup(proc.pid)
    proc.stdout?.destroy()
    finish({ ok: false, error, headersSent: res.headersSent })
  }

  proc.once('error', err => fail(new CgiSpawnFailed(`cannot start ${spec.exec[0]}: ${err.message}`, { cause: err })))
  proc.once('exit', () => {
    exitedFlag = true
    // Whatever the script left running in its group dies with it: no orphans.
    killGroup(proc.pid)
    if (finished) return
    if (stdoutEnded) complete()
  })

  // Request body -> stdin. A script that does not read its body closes stdin early: EPIPE is
  // normal then, not an error.
  const stdin = proc.stdin!
  stdin.on('error', () => {})
  if (
    req.readableEnded ||
    req.headers['content-length'] === '0' ||
    (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined)
  ) {
    stdin.end()
  } else {
    const limit = new BodyLimit(spec.maxBodyBytes)
    limit.on('error', err => fail(err as CgiError))
    req.pipe(limit).pipe(stdin)
  }

  const stdout = proc.stdout!
  const startResponse = (h: CgiHead): void => {
    head = h
    if (h.kind === 'local-redirect') {
      // The script's output is done with; the gateway serves the other path.
      stdout.destroy()
      killGroup(proc.pid)
      finish({ ok: true, localRedirect: h.location })
      return
    }
    res.statusCode = h.status
    if (h.reason !== undefined && h.reason !== '') res.statusMessage = h.reason
    for (const [name, value] of spec.responseHeaders) res.setHeader(name, value)
    for (const [name, value] of h.headers) appendHeader(res, name, value)
    // Hold the first bytes for one timer tick: a script that is already done (the common
    // case) gets a Content-Length response, which Caddy relays much faster than a chunked one
    // (ENVIRONMENT.md); a slow script still streams, one tick late.
    held = h.rest.length > 0 ? [h.rest] : []
    holdTimer = setTimeout(release, 1)
  }
  const release = (): void => {
    const chunks = held
    held = undefined
    for (const c of chunks ?? []) write(c)
  }
  const write = (chunk: Buffer): void => {
    if (held !== undefined) {
      held.push(chunk)
      return
    }
    if (!res.write(chunk)) {
      stdout.pause()
      res.once('drain', () => stdout.resume())
    }
  }
  if (parser === undefined) startResponse({ kind: 'document', status: 200, headers: [], rest: Buffer.alloc(0) })

  stdout.on('data', (chunk: Buffer) => {
    if (finished) return
    if (head !== undefined) {
      write(chunk)
      return
    }
    let h: CgiHead | undefined
    try {
      h = parser!.push(chunk)
    } catch (err) {
      fail(err as CgiError)
      return
    }
    if (h !== undefined) startResponse(h)
  })
  stdout.on('error', () => {})
  stdout.on('end', () => {
    stdoutEnded = true
    if (finished) return
    if (head === undefined) {
      // Wait for the exit status to say what happened, unless it is already known.
      if (exitedFlag)
        fail(
          new CgiBadGateway(
            `${spec.exec[0]} exited with code ${String(proc.exitCode ?? proc.signalCode)} before printing a complete header block`
          )
        )
      else
        proc.once('exit', (code, sig) =>
          fail(
            new CgiBadGateway(
              `${spec.exec[0]} exited with ${String(code ?? sig)} before printing a complete header block`
            )
          )
        )
      return
    }
    complete()
  })
  const complete = (): void => {
    if (finished || head === undefined) return
    if (held !== undefined) {
      clearTimeout(holdTimer)
      const body = Buffer.concat(held)
      held = undefined
      res.setHeader('content-length', body.length)
      res.end(body)
    } else {
      res.end()
    }
    finish({ ok: true })
  }
  res.once('close', () => {
    // The client went away mid-response: stop the script.
    if (!finished) fail(new CgiClientGone('the client closed the connection'))
  })

  const procExited = new Promise<void>(resolve => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve()
    proc.once('exit', () => resolve())
    proc.once('error', () => resolve())
  })
  return { done, abort: fail, pid: proc.pid, exited: procExited }
}

/** Set-Cookie and other repeatable headers may appear several times. */
export function appendHeader(res: ServerResponse, name: string, value: string): void {
  const prev = res.getHeader(name)
  if (prev === undefined) res.setHeader(name, value)
  else res.setHeader(name, Array.isArray(prev) ? [...prev.map(String), value] : [String(prev), value])
}
