import type { Spawner } from './spawner.js'
import { StdioWorker } from './stdio-worker.js'
import type { FunctionSpec } from './types.js'

// Warm pool of http-stdio workers (multi mode; single mode is the same with one request per
// worker). `minWarm` idle workers are kept spawned ahead of demand: a request takes one that
// is already running, and the refill happens after, off the request path.

export class StdioPool {
  private readonly idle: StdioWorker[] = []
  private readonly all = new Set<StdioWorker>()
  private closed = false
  /** Workers spawned since the pool started (tests and stats read it). */
  spawned = 0
  /** Warm workers that died before serving anything, in a row: the refill backs off. */
  private crashes = 0
  private refillTimer: NodeJS.Timeout | undefined

  /**
   * `spawner`: the fork server and the program resolved against PATH (it calls execve); used
   * while it runs, else workers are started with child_process. `required`: the function's own
   * fork server (service_directives), the only way its workers may start.
   */
  constructor(
    private readonly spec: FunctionSpec,
    private readonly maxRequests: number,
    private readonly spawner?: { spawner: Spawner; exec: string[]; required?: boolean } | undefined
  ) {
    // The first warm workers wait for the fork server (it starts with the gateway, in tens of
    // milliseconds) so they are forked by it; without it they start right away. A request
    // meanwhile gets a worker started with child_process.
    if (spawner === undefined) this.refill()
    else
      void spawner.spawner
        .start()
        .catch(() => {})
        .finally(() => this.refill())
  }

  /** An idle live worker, or a fresh one when none is idle. */
  take(): StdioWorker {
    let w: StdioWorker | undefined
    while ((w = this.idle.pop()) !== undefined) {
      if (w.alive) break
    }
    if (w === undefined) w = this.spawn()
    if (w.idleTimer !== undefined) {
      clearTimeout(w.idleTimer)
      w.idleTimer = undefined
    }
    // Refill once the current request has been dispatched.
    setImmediate(() => this.refill())
    return w
  }

  /** Back from a request: keep it warm, or recycle it (max_requests, failure). */
  give(w: StdioWorker, healthy: boolean): void {
    w.served++
    if (this.closed || !healthy || !w.alive || w.served >= this.maxRequests) {
      w.stop()
      this.refill()
      return
    }
    this.idle.push(w)
    if (this.spec.idleTimeoutMs > 0) {
      w.idleTimer = setTimeout(() => this.expire(w), this.spec.idleTimeoutMs)
      w.idleTimer.unref()
    }
  }

  stats(): { workers: number; idle: number; spawned: number; pids: number[] } {
    return {
      workers: this.all.size,
      idle: this.idle.length,
      spawned: this.spawned,
      pids: [...this.all].map(w => w.pid).filter((p): p is number => p !== undefined)
    }
  }

  /** Idle workers' pids, ready to serve. */
  idlePids(): number[] {
    return this.idle
      .filter(w => w.alive)
      .map(w => w.pid)
      .filter((p): p is number => p !== undefined)
  }

  close(): void {
    this.closed = true
    if (this.refillTimer !== undefined) clearTimeout(this.refillTimer)
    for (const w of this.all) w.stop()
    this.idle.length = 0
  }

  private expire(w: StdioWorker): void {
    // Idle too long: recycle, but never below the warm floor.
    const i = this.idle.indexOf(w)
    if (i === -1) return
    if (this.idle.length <= this.spec.minWarm) {
      w.idleTimer = setTimeout(() => this.expire(w), this.spec.idleTimeoutMs)
      w.idleTimer.unref()
      return
    }
    this.idle.splice(i, 1)
    w.stop()
  }

  private refill(): void {
    if (this.closed || this.refillTimer !== undefined) return
    while (
      this.idle.filter(w => w.alive).length < this.spec.minWarm &&
      this.all.size < this.spec.maxWorkers + this.spec.minWarm
    ) {
      const w = this.spawn()
      this.idle.push(w)
    }
  }

  private spawn(): StdioWorker {
    const usable = this.spawner !== undefined && (this.spawner.required === true || this.spawner.spawner.isRunning)
    const w = new StdioWorker(this.spec, usable ? this.spawner : undefined)
    this.spawned++
    this.all.add(w)
    w.onExit(() => {
      this.all.delete(w)
      const i = this.idle.indexOf(w)
      if (i !== -1) this.idle.splice(i, 1)
      // A warm worker that died is replaced, so the floor holds; one that keeps dying at
      // start (a broken script) is retried with a growing delay instead of a fork loop.
      if (this.closed) return
      if (!w.stopping && w.served === 0) this.crashes++
      else if (w.served > 0) this.crashes = 0
      if (this.crashes === 0) {
        setImmediate(() => this.refill())
        return
      }
      if (this.refillTimer !== undefined) return
      this.refillTimer = setTimeout(
        () => {
          this.refillTimer = undefined
          this.refill()
        },
        Math.min(30_000, 100 * 2 ** this.crashes)
      )
      this.refillTimer.unref()
    })
    return w
  }
}
