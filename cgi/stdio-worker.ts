import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import { Duplex } from 'node:stream'
import { killGroup, spawnFunctionProcess } from './process.js'
import type { FunctionSpec } from './types.js'

// An http-stdio worker: a process reading HTTP/1.1 requests on stdin and answering on stdout.
// Its pipes are wrapped in one Duplex handed to a private keep-alive Agent (one socket), so
// Node's HTTP client writes the requests and parses the responses, one at a time, over the
// same process for as long as it keeps the connection alive.

export class StdioWorker {
  readonly child: ChildProcess
  readonly agent: http.Agent
  /** Requests served so far. */
  served = 0
  /** False once the process exited or the connection was closed. */
  alive = true
  /** Set when the pool stopped it on purpose (recycle, idle), as opposed to a crash. */
  stopping = false
  readonly startedAt = Date.now()
  idleTimer: NodeJS.Timeout | undefined
  private readonly onGone: Array<() => void> = []

  constructor (spec: FunctionSpec) {
    this.child = spawnFunctionProcess({ exec: spec.exec, cwd: spec.cwd, env: spec.env, stderrAsStdout: spec.stderrAsStdout, stdin: 'pipe' })
    const conn = Duplex.from({ readable: this.child.stdout!, writable: this.child.stdin! })
    // The Agent treats its connection as a net.Socket; these are the calls it makes.
    for (const m of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref'] as const) {
      (conn as unknown as Record<string, () => unknown>)[m] = function (this: unknown) { return this }
    }
    conn.on('error', () => this.gone())
    conn.on('close', () => this.gone())
    this.child.stdin!.on('error', () => {})
    this.child.once('error', () => this.gone())
    this.child.once('exit', () => this.gone())
    class WorkerAgent extends http.Agent {
      override createConnection (): Duplex { return conn }
    }
    this.agent = new WorkerAgent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 })
  }

  get pid (): number | undefined { return this.child.pid }

  /** Registers a callback for when the worker dies or closes its connection. */
  onExit (fn: () => void): () => void {
    if (!this.alive) { fn(); return () => {} }
    this.onGone.push(fn)
    return () => { const i = this.onGone.indexOf(fn); if (i !== -1) this.onGone.splice(i, 1) }
  }

  /** Kills the worker's whole process group. */
  stop (): void {
    this.stopping = true
    this.gone()
    killGroup(this.child.pid)
  }

  private gone (): void {
    if (!this.alive) return
    this.alive = false
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.agent.destroy()
    killGroup(this.child.pid)
    for (const fn of this.onGone.splice(0)) fn()
  }
}
