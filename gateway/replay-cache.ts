// Remembers the jti of every command token the gateway has accepted, until the token expires,
// so a captured token cannot run its command a second time. Bounded: when full of unexpired
// entries the cache refuses new tokens (fail closed) rather than forget one that could then
// be replayed.

export type ClaimOutcome = 'ok' | 'replayed' | 'full'

export class ReplayCache {
  private readonly seen = new Map<string, number>()
  private nextSweep = 0

  constructor(
    private readonly max: number,
    private readonly now: () => number = Date.now
  ) {}

  /** Records `id` until `untilMs`; 'replayed' when it is already there and not expired. */
  claim(id: string, untilMs: number): ClaimOutcome {
    const now = this.now()
    const prev = this.seen.get(id)
    if (prev !== undefined && prev > now) return 'replayed'
    if (this.seen.size >= this.max || now >= this.nextSweep) this.sweep(now)
    if (this.seen.size >= this.max) return 'full'
    this.seen.set(id, untilMs)
    return 'ok'
  }

  get size(): number {
    return this.seen.size
  }

  private sweep(now: number): void {
    for (const [k, until] of this.seen) if (until <= now) this.seen.delete(k)
    // Sweeping is O(n): at most once a second unless the cache is full.
    this.nextSweep = now + 1000
  }
}
