import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import type net from 'node:net'
import { Duplex } from 'node:stream'
import { exited, killGroup, spawnFunctionProcess } from './process.js'
import type { Spawner } from './spawner.js'
import type { FunctionSpec } from './types.js'

// An http-stdio worker: a process reading HTTP/1.1 requests on stdin and answering on stdout,
// behind a private keep-alive Agent with one connection, so Node's HTTP client writes the
// requests and parses the responses, one at a time, over the same process for as long as it
// keeps the connection alive.
//
// Two ways to start one. With the fork server (conductor-spawner), the worker's stdin and
// stdout are one unix socket to the gateway: the Agent gets a real net.Socket, and a worker
// costs a fork of a 20 KB process. Without it, child_process.spawn forks the gateway and the
// two pipes are joined in a Duplex (measured: ~2.5x the gateway CPU per request of the socket).

export class StdioWorker {
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
  private child: ChildProcess | undefined
  private socket: net.Socket | undefined
  private pidValue: number | undefined
  private readonly gonePromise: Promise<void>
  private resolveGone!: () => void

  /** `spawner.required`: the function's own fork server (its scope, its rlimits), waited for if not up yet. */
  constructor(spec: FunctionSpec, spawner?: { spawner: Spawner; exec: string[]; required?: boolean }) {
    this.gonePromise = new Promise(resolve => {
      this.resolveGone = resolve
    })
    let connection: Promise<Duplex>
    if (spawner !== undefined) {
      const ready = spawner.required === true ? spawner.spawner.start() : Promise.resolve()
      const { exec } = spawner
      const connected = ready.then(
        async () => await spawner.spawner.connect(exec, spec.cwd, spec.env, spec.stderrAsStdout)
      )
      connection = connected.then(({ socket, pid }) => {
        this.socket = socket
        this.pidValue = pid
        // The worker's end of the socket closes when it exits (or closes stdout): its "exit".
        socket.on('error', () => this.gone())
        socket.on('close', () => this.gone())
        if (!this.alive) {
          socket.destroy()
          killGroup(pid)
        }
        return socket
      })
      connection.catch(() => this.gone())
    } else {
      const child = spawnFunctionProcess({
        exec: spec.exec,
        cwd: spec.cwd,
        env: spec.env,
        stderrAsStdout: spec.stderrAsStdout,
        stdin: 'pipe'
      })
      this.child = child
      this.pidValue = child.pid
      const conn = Duplex.from({ readable: child.stdout!, writable: child.stdin! })
      // The Agent treats its connection as a net.Socket; these are the calls it makes.
      for (const m of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref'] as const) {
        ;(conn as unknown as Record<string, () => unknown>)[m] = function (this: unknown) {
          return this
        }
      }
      conn.on('error', () => this.gone())
      conn.on('close', () => this.gone())
      child.stdin!.on('error', () => {})
      child.once('error', () => this.gone())
      child.once('exit', () => this.gone())
      connection = Promise.resolve(conn)
    }
    class WorkerAgent extends http.Agent {
      // The callback form: Node's Agent waits for it, so a request can be queued on a
      // worker whose fork server has not answered yet.
      override createConnection(_opts: unknown, callback: (err: Error | null, conn?: Duplex) => void): undefined {
        connection.then(
          conn => callback(null, conn),
          (err: Error) => callback(err)
        )
        return undefined
      }
    }
    this.agent = new WorkerAgent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 })
  }

  /** The worker's pid (= its process group); undefined until the fork server has answered. */
  get pid(): number | undefined {
    return this.pidValue
  }

  /** Registers a callback for when the worker dies or closes its connection. */
  onExit(fn: () => void): () => void {
    if (!this.alive) {
      fn()
      return () => {}
    }
    this.onGone.push(fn)
    return () => {
      const i = this.onGone.indexOf(fn)
      if (i !== -1) this.onGone.splice(i, 1)
    }
  }

  /** Resolves when the process is gone (a spawned child has exited; a socket is closed). */
  async exited(): Promise<void> {
    await this.gonePromise
    if (this.child !== undefined) await exited(this.child)
  }

  /** Kills the worker's whole process group. */
  stop(): void {
    this.stopping = true
    this.gone()
  }

  private gone(): void {
    if (!this.alive) return
    this.alive = false
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.agent.destroy()
    this.socket?.destroy()
    killGroup(this.pidValue)
    this.resolveGone()
    for (const fn of this.onGone.splice(0)) fn()
  }
}
