// Which machines are alive (issue 19 item 4), pure: every fleet daemon publishes a heartbeat
// each second on a core NATS subject (no stream leader needed: a lost stream leader must not
// make the whole fleet look dead); a reader notes when it last heard each peer, on its own
// clock, so no two clocks are compared. A peer silent for more than `dead_after_sec` is dead.
// A peer never heard since this reader started is given the same time from the start.

export class Liveness {
  private readonly heard = new Map<string, number>()

  constructor(
    private readonly self: string,
    private readonly startedAt: number,
    private readonly deadAfterMs: number
  ) {}

  beat(peer: string, now: number): void {
    this.heard.set(peer, now)
  }

  alive(peer: string, now: number): boolean {
    if (peer === this.self) return true
    return now - (this.heard.get(peer) ?? this.startedAt) <= this.deadAfterMs
  }

  /** Milliseconds since PEER was last heard (since the start when never). */
  silentFor(peer: string, now: number): number {
    return peer === this.self ? 0 : now - (this.heard.get(peer) ?? this.startedAt)
  }
}
