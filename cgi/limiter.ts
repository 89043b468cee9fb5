import { CgiBusy, CgiClosed } from './errors.js'

// Per-function concurrency limit with a bounded FIFO queue. A request past the queue gets
// CgiBusy (503 + Retry-After) at once instead of piling up in memory.

export class Limiter {
  private active = 0
  private readonly waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = []
  private closed = false

  constructor(
    private readonly max: number,
    private readonly maxQueue: number
  ) {}

  /**
   * A release function when a slot is free right now, else undefined (then `enqueue` waits).
   * The common case needs no promise and no AbortSignal: both cost measurable CPU per request.
   */
  tryAcquire(): (() => void) | undefined {
    if (this.closed || this.active >= this.max) return undefined
    this.active++
    return this.releaser()
  }

  /**
   * Waits for a slot: `slot` resolves to a release function once one is free. `cancel` takes
   * the request out of the queue (its client went away); `slot` then rejects with CgiClosed.
   */
  enqueue(): { slot: Promise<() => void>; cancel: () => void } {
    const now = this.tryAcquire()
    if (now !== undefined) return { slot: Promise.resolve(now), cancel: () => {} }
    if (this.closed) return { slot: Promise.reject(new CgiClosed('the function is being stopped')), cancel: () => {} }
    if (this.waiting.length >= this.maxQueue)
      return {
        slot: Promise.reject(new CgiBusy(`all ${this.max} workers are busy and ${this.maxQueue} requests are queued`)),
        cancel: () => {}
      }
    let entry!: { resolve: () => void; reject: (e: Error) => void }
    const queued = new Promise<void>((resolve, reject) => {
      entry = { resolve, reject }
    })
    this.waiting.push(entry)
    const cancel = (): void => {
      const i = this.waiting.indexOf(entry)
      if (i !== -1) {
        this.waiting.splice(i, 1)
        entry.reject(new CgiClosed('the client went away while queued'))
      }
    }
    return { slot: queued.then(() => this.releaser()), cancel }
  }

  get stats(): { active: number; queued: number } {
    return { active: this.active, queued: this.waiting.length }
  }

  close(): void {
    this.closed = true
    for (const w of this.waiting.splice(0)) w.reject(new CgiClosed('the function is being stopped'))
  }

  private releaser(): () => void {
    let done = false
    return () => {
      if (done) return
      done = true
      const next = this.waiting.shift()
      // The slot passes straight to the next waiter: active stays the same.
      if (next !== undefined) next.resolve()
      else this.active--
    }
  }
}
