// Every default of the fleet scheduler (issue 19) in one place.

/** KV: one key per service, its lock (a lease renewed by compare-and-set). */
export const LOCKS_BUCKET = 'conductor-locks'
/** KV: one key per machine (peer id), its capacity and the demand of each service placed on it. */
export const LEDGER_BUCKET = 'conductor-ledger'
/** KV: one key per service, where its copies run; its revision fences every host's apply. */
export const PLACEMENTS_BUCKET = 'conductor-placements'
/** A lock's lease; renewed every third of it while held. */
export const LEASE_MS = 5000
/** Clocks of two hosts may differ by this much: a lease is taken over only this long after its end. */
export const LOCK_SKEW_MS = 1000
/** A host silent this long is dead, unless host.json `fleet.dead_after_sec` says otherwise. */
export const DEFAULT_DEAD_AFTER_SEC = 5
/** Compare-and-set conflicts on ledgers tolerated in one placement before it is given up (and tried later). */
export const MAX_ATTEMPTS = 50
/** The scheduler's tick: liveness checked, lost copies re-placed. */
export const TICK_MS = 500
/** A machine audits its own ledger against the placements this often. */
export const AUDIT_EVERY_MS = 10_000
/** Unplaced copies are tried again this often (room may have appeared). */
export const RETRY_UNPLACED_MS = 10_000
/**
 * The placements and ledgers are read again when their buckets moved past the watches, at most
 * this often. A watch whose stream leader was on a host just lost may stall: this bounds how long
 * a survivor takes to see a copy placed on it then, inside the 10 s a failover may take (5 s of
 * them to call the host dead). Each check is two stream-info requests.
 */
export const REFRESH_MS = 1000
/** Services a scheduler places at once after a loss (each under its own lock). */
export const PARALLEL_PLACEMENTS = 8
