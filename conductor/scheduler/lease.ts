// The lock of a service (issue 19 item 2), as pure decisions. nats-server 2.9 has no per-key
// TTL, so a lock is a KV record {holder, expires_at} created only if absent, renewed by
// compare-and-set on its revision, and expired by its timestamp: a holder that died (a host
// lost mid-placement) stops renewing, and once `expires_at` (the holder's clock) plus the
// allowed clock skew is past on the reader's clock, the lock is taken over by compare-and-set
// on the revision it was read at, so two takers cannot both win. Hosts' clocks are assumed to
// agree within LOCK_SKEW_MS (NTP); a larger skew only delays a takeover or shortens a lease.

export interface LockValue {
  /** Who holds it: the peer id, and the process when several may hold locks on one host. */
  holder: string
  acquired_at: number
  /** The holder's clock; the lease ends here unless renewed. */
  expires_at: number
}

export type LeaseStep =
  | { do: 'create' }
  | { do: 'take-over'; from: string; expiredMs: number }
  | { do: 'wait'; holder: string; untilMs: number }

/** What a would-be holder does with the lock as read (undefined: absent or deleted). */
export function leaseStep(current: LockValue | undefined, now: number, skewMs: number): LeaseStep {
  if (current === undefined) return { do: 'create' }
  const end = current.expires_at + skewMs
  // Its own lock left by a process of the same name that is gone (a restarted daemon) is
  // still someone else's lease until it ends: the old process may be alive and mid-write.
  if (now > end) return { do: 'take-over', from: current.holder, expiredMs: now - current.expires_at }
  return { do: 'wait', holder: current.holder, untilMs: end - now }
}

export function newLease(holder: string, now: number, leaseMs: number): LockValue {
  return { holder, acquired_at: now, expires_at: now + leaseMs }
}

export function renewed(lock: LockValue, now: number, leaseMs: number): LockValue {
  return { ...lock, expires_at: now + leaseMs }
}

/** A lock record as stored, or undefined when it is not one (it is then treated as expired long ago). */
export function parseLock(raw: unknown): LockValue | undefined {
  const l = raw as Partial<LockValue> | null
  if (typeof l !== 'object' || l === null) return undefined
  if (typeof l.holder !== 'string' || typeof l.expires_at !== 'number' || !Number.isFinite(l.expires_at)) {
    return undefined
  }
  return {
    holder: l.holder,
    acquired_at: typeof l.acquired_at === 'number' ? l.acquired_at : 0,
    expires_at: l.expires_at
  }
}
