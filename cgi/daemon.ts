import type { ChildProcess } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { DAEMON_START_TIMEOUT_MS } from './defaults.js'
import { CgiBadGateway } from './errors.js'
import { exited, killGroup, spawnFunctionProcess } from './process.js'
import type { FunctionSpec } from './types.js'

// parallel mode: one long-lived process serving HTTP/1.1 on a unix socket whose path it gets
// in CONDUCTOR_FUNCTION_SOCKET. Started by the first request (or at once when min_warm > 0),
// stopped after idle_timeout_sec without requests (scale to zero), started again by the next.

export class Daemon {
  readonly socketPath: string
  readonly agent: http.Agent
  private child: ChildProcess | undefined
  private starting: Promise<void> | undefined
  private inFlight = 0
  private idleTimer: NodeJS.Timeout | undefined
  private closed = false
  /** Times the daemon was started (tests and stats read it). */
  starts = 0

  constructor (private readonly spec: FunctionSpec) {
    this.socketPath = path.join(spec.socketDir, `${spec.id}.sock`)
    this.agent = new http.Agent({ keepAlive: true, maxSockets: spec.maxWorkers })
    if (spec.minWarm > 0) this.ensure().catch(() => {})
  }

  get pid (): number | undefined { return this.child?.pid }
  get running (): boolean { return this.child !== undefined }

  /** Resolves once the daemon accepts connections. */
  async ensure (): Promise<void> {
    if (this.closed) throw new CgiBadGateway('the function is being stopped')
    if (this.child !== undefined && this.starting === undefined) return
    this.starting ??= this.start().finally(() => { this.starting = undefined })
    await this.starting
  }

  /** Brackets each request, so the idle timer only runs while nothing is in flight. */
  begin (): void {
    this.inFlight++
    if (this.idleTimer !== undefined) { clearTimeout(this.idleTimer); this.idleTimer = undefined }
  }

  end (): void {
    this.inFlight--
    if (this.inFlight === 0) this.armIdle()
  }

  async close (): Promise<void> {
    this.closed = true
    await this.stop()
  }

  private async start (): Promise<void> {
    rmSync(this.socketPath, { force: true })
    const child = spawnFunctionProcess({ exec: this.spec.exec, cwd: this.spec.cwd, env: { ...this.spec.env, CONDUCTOR_FUNCTION_SOCKET: this.socketPath }, stderrAsStdout: false, stdin: 'ignore' })
    this.child = child
    this.starts++
    child.stdout?.resume()
    child.once('exit', () => {
      if (this.child === child) this.child = undefined
      killGroup(child.pid)
      this.agent.destroy()
    })
    const spawnError = new Promise<never>((_resolve, reject) => child.once('error', err => reject(new CgiBadGateway(`cannot start ${this.spec.exec[0]}: ${err.message}`))))
    spawnError.catch(() => {})
    const deadline = Date.now() + DAEMON_START_TIMEOUT_MS
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new CgiBadGateway(`${this.spec.exec[0]} exited before listening on ${this.socketPath}`)
      if (await canConnect(this.socketPath)) break
      if (Date.now() > deadline) {
        killGroup(child.pid)
        throw new CgiBadGateway(`${this.spec.exec[0]} did not listen on ${this.socketPath} within ${DAEMON_START_TIMEOUT_MS} ms`)
      }
      await Promise.race([new Promise(resolve => setTimeout(resolve, 10)), spawnError])
    }
    this.armIdle()
  }

  private armIdle (): void {
    if (this.spec.minWarm > 0 || this.spec.idleTimeoutMs <= 0 || this.closed) return
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => { if (this.inFlight === 0) void this.stop() }, this.spec.idleTimeoutMs)
    this.idleTimer.unref()
  }

  private async stop (): Promise<void> {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    const child = this.child
    if (child === undefined) return
    this.child = undefined
    this.agent.destroy()
    killGroup(child.pid, 'SIGTERM')
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 2000)
    await exited(child)
    clearTimeout(timer)
    killGroup(child.pid, 'SIGKILL')
    rmSync(this.socketPath, { force: true })
  }
}

async function canConnect (socketPath: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = net.connect(socketPath)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}
