import { killGroup } from '../cgi/index.js'
import type { ExitReason } from '../conductor/model/index.js'

// Remote commands in flight (POST and interactive), each the leader of its own process group.
// Commands are started detached from the gateway, so nothing kills them when the gateway goes
// away unless we do: the gateway's close (SIGTERM/SIGINT) stops every group here first, and a
// last synchronous SIGKILL on process exit catches whatever is left (the CLOSE_GRACE_MS exit).

/** SIGTERM first; SIGKILL the group if it is still there after this. */
export const KILL_GRACE_MS = 2000

export interface RunningCommand {
  readonly pid: number
  /** Why it was stopped (the first reason wins), or undefined while it runs on its own. */
  readonly reason: ExitReason | 'disconnected' | undefined
  /** SIGTERM to the group now, SIGKILL after KILL_GRACE_MS unless it exited. Idempotent. */
  stop: (reason: ExitReason | 'disconnected') => void
  /** The command exited; clears the SIGKILL and timeout timers and leaves the registry. */
  exited: () => void
}

export class RunningCommands {
  readonly #running = new Set<RunningCommand>()
  readonly #waiters = new Set<() => void>()

  get size(): number {
    return this.#running.size
  }

  /** Registers a started command; its timeout (ms, 0: none) stops it with reason "timeout". */
  add(pid: number, timeoutMs: number): RunningCommand {
    let reason: RunningCommand['reason']
    let killTimer: NodeJS.Timeout | undefined
    const timeout = timeoutMs > 0 ? setTimeout(() => entry.stop('timeout'), timeoutMs) : undefined
    timeout?.unref()
    const entry: RunningCommand = {
      pid,
      get reason() {
        return reason
      },
      stop: why => {
        if (reason !== undefined || !this.#running.has(entry)) return
        reason = why
        killGroup(pid, 'SIGTERM')
        killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS)
        killTimer.unref()
      },
      exited: () => {
        clearTimeout(timeout)
        clearTimeout(killTimer)
        // Whatever the leader left behind in its group goes with it.
        if (reason !== undefined) killGroup(pid, 'SIGKILL')
        this.#running.delete(entry)
        if (this.#running.size === 0) for (const w of this.#waiters) w()
      }
    }
    this.#running.add(entry)
    return entry
  }

  /** Stops every command and resolves once all have exited (at most KILL_GRACE_MS + 1 s later). */
  async stopAll(reason: ExitReason): Promise<void> {
    for (const c of this.#running) c.stop(reason)
    if (this.#running.size === 0) return
    await new Promise<void>(resolve => {
      const timer = setTimeout(done, KILL_GRACE_MS + 1000)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.#waiters.add(done)
    })
  }

  /** Last resort on process exit: SIGKILL every group still registered (synchronous). */
  killAllNow(): void {
    for (const c of this.#running) killGroup(c.pid, 'SIGKILL')
  }
}
