import http from 'node:http'
import net from 'node:net'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { DAEMON_START_TIMEOUT_MS } from './defaults.js'
import { CgiBadGateway } from './errors.js'
import { exited, isProcessAlive, killGroup, spawnFunctionProcess } from './process.js'
import type { Spawner } from './spawner.js'
import type { FunctionSpec } from './types.js'

// parallel mode: one long-lived process serving HTTP/1.1 on a unix socket whose path it gets
// in CONDUCTOR_FUNCTION_SOCKET. Started by the first request (or at once when min_warm > 0),
// stopped after idle_timeout_sec without requests (scale to zero), started again by the next.

/** A started daemon, however it was started. */
interface DaemonProcess {
  pid: number | undefined
  /** True once the process is gone. */
  readonly gone: boolean
  /** Resolves when the process is gone. */
  exited: Promise<void>
  /** Rejects when the process could not be started. */
  failed: Promise<never>
}

/** How often a daemon started by a fork server (not our child: no exit event) is checked. */
const LIVENESS_POLL_MS = 500

export class Daemon {
  readonly socketPath: string
  readonly agent: http.Agent
  private child: DaemonProcess | undefined
  private starting: Promise<void> | undefined
  private inFlight = 0
  private idleTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Times the daemon was started (tests and stats read it). */
  starts = 0

  /**
   * `spawner`: a function with service_directives starts its daemon through its own fork
   * server, which runs in the function's scope (cgi/scope.ts) and sets its rlimits.
   */
  constructor(
    private readonly spec: FunctionSpec,
    private readonly spawner?: Spawner | undefined,
    private readonly exec?: string[] | undefined
  ) {
    this.socketPath = path.join(spec.socketDir, `${spec.id}.sock`)
    this.agent = new http.Agent({ keepAlive: true, maxSockets: spec.maxWorkers })
    if (spec.minWarm > 0) this.ensure().catch(() => {})
  }

  get pid(): number | undefined {
    return this.child?.pid
  }
  get running(): boolean {
    return this.child !== undefined
  }

  /** Resolves once the daemon accepts connections. */
  async ensure(): Promise<void> {
    if (this.closed) throw new CgiBadGateway('the function is being stopped')
    if (this.child !== undefined && this.starting === undefined) return
    this.starting ??= this.start().finally(() => {
      this.starting = undefined
    })
    await this.starting
  }

  /** Brackets each request, so the idle timer only runs while nothing is in flight. */
  begin(): void {
    this.inFlight++
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer)
      this.idleTimer = undefined
    }
  }

  end(): void {
    this.inFlight--
    if (this.inFlight === 0) this.armIdle()
  }

  async close(): Promise<void> {
    this.closed = true
    await this.stop()
  }

  private async start(): Promise<void> {
    rmSync(this.socketPath, { force: true })
    const env = { ...this.spec.env, CONDUCTOR_FUNCTION_SOCKET: this.socketPath }
    const child = this.spawner !== undefined ? await this.startThroughSpawner(this.spawner, env) : this.startChild(env)
    this.child = child
    this.starts++
    void child.exited.then(() => {
      if (this.child === child) this.child = undefined
      killGroup(child.pid)
      this.agent.destroy()
    })
    child.failed.catch(() => {})
    const deadline = Date.now() + DAEMON_START_TIMEOUT_MS
    for (;;) {
      if (child.gone) throw new CgiBadGateway(`${this.spec.exec[0]} exited before listening on ${this.socketPath}`)
      if (await canConnect(this.socketPath)) break
      if (Date.now() > deadline) {
        killGroup(child.pid)
        throw new CgiBadGateway(
          `${this.spec.exec[0]} did not listen on ${this.socketPath} within ${DAEMON_START_TIMEOUT_MS} ms`
        )
      }
      await Promise.race([new Promise(resolve => setTimeout(resolve, 10)), child.failed])
    }
    this.armIdle()
  }

  private startChild(env: Record<string, string>): DaemonProcess {
    const { exec, cwd } = this.spec
    const child = spawnFunctionProcess({ exec, cwd, env, stderrAsStdout: false, stdin: 'ignore' })
    child.stdout?.resume()
    const failed = new Promise<never>((_resolve, reject) => {
      child.once('error', err => reject(new CgiBadGateway(`cannot start ${exec[0]}: ${err.message}`)))
    })
    return {
      pid: child.pid,
      get gone() {
        return child.exitCode !== null || child.signalCode !== null
      },
      exited: exited(child),
      failed
    }
  }

  /**
   * Through the fork server, the daemon's stdin and stdout are a socket to the gateway: its
   * input is ended at once (what /dev/null gives) and its output read and dropped (what the
   * pipe of a child gets). It is the fork server's child, not ours: no exit event, so its pid
   * is checked every LIVENESS_POLL_MS, and at once when its end of the socket closes.
   */
  private async startThroughSpawner(spawner: Spawner, env: Record<string, string>): Promise<DaemonProcess> {
    await spawner.start()
    let conn: { socket: net.Socket; pid: number }
    try {
      conn = await spawner.connect(this.exec ?? this.spec.exec, this.spec.cwd, env, false)
    } catch (err) {
      throw new CgiBadGateway(`cannot start ${this.spec.exec[0]}: ${(err as Error).message}`, { cause: err })
    }
    const { socket, pid } = conn
    socket.on('error', () => {})
    socket.end()
    socket.resume()
    let gone = false
    const exitedP = new Promise<void>(resolve => {
      const check = (): void => {
        if (isProcessAlive(pid)) return
        gone = true
        clearInterval(timer)
        socket.destroy()
        resolve()
      }
      const timer = setInterval(check, LIVENESS_POLL_MS)
      timer.unref()
      socket.once('close', () => setTimeout(check, 20))
    })
    return {
      pid,
      get gone() {
        return gone
      },
      exited: exitedP,
      failed: new Promise<never>(() => {})
    }
  }

  private armIdle(): void {
    if (this.spec.minWarm > 0 || this.spec.idleTimeoutMs <= 0 || this.closed) return
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      if (this.inFlight === 0) void this.stop()
    }, this.spec.idleTimeoutMs)
    this.idleTimer.unref()
  }

  private async stop(): Promise<void> {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    const child = this.child
    if (child === undefined) return
    this.child = undefined
    this.agent.destroy()
    killGroup(child.pid, 'SIGTERM')
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 2000)
    await child.exited
    clearTimeout(timer)
    killGroup(child.pid, 'SIGKILL')
    rmSync(this.socketPath, { force: true })
  }
}

async function canConnect(socketPath: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = net.connect(socketPath)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}
