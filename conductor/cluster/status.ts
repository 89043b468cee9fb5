import { readOr, writeAtomic } from '../state/index.js'
import { REACHABLE_WITHIN_MS, STATUS_STALE_MS } from './defaults.js'

// What the fleet daemon saw last, rewritten every second (ROOT/run/conductor/fleet-status.json):
// `peer ls`, the list-peers function and `doctor` read it, so none of them needs NATS to answer.

export interface DaemonStatus {
  updated_at: number
  pid: number
  nats: { ok: boolean; error?: string | undefined; clustered: boolean; cluster_name: string }
  /** Peer id -> ms since the epoch of its last heartbeat seen here. */
  last_seen: Record<string, number>
}

export function writeStatus(file: string, s: DaemonStatus): void {
  writeAtomic(file, JSON.stringify(s) + '\n')
}

export function readStatus(file: string): DaemonStatus | undefined {
  const text = readOr(file)
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as DaemonStatus
  } catch {
    return undefined
  }
}

export interface Liveness {
  /** The daemon wrote its status recently. */
  daemon: boolean
  reachable: boolean | undefined
  lastSeen: number | undefined
}

/** Whether peer ID is reachable now, as the status says (unknown when the daemon is not running). */
export function liveness(s: DaemonStatus | undefined, id: string, now: number): Liveness {
  const daemon = s !== undefined && now - s.updated_at < STATUS_STALE_MS
  const lastSeen = s?.last_seen[id]
  return {
    daemon,
    reachable: !daemon ? undefined : lastSeen !== undefined && now - lastSeen < REACHABLE_WITHIN_MS,
    lastSeen
  }
}
