import type { ClusterCtx } from './context.js'
import { effectiveMembers } from './converge.js'
import { readState } from './state.js'
import { liveness, readStatus } from './status.js'

// The members as `peer ls` and the list-peers function show them: from the state's copy of the
// member list and the daemon's status file (last heartbeat seen), so it answers without NATS.

export interface PeerListing {
  id: string
  hostname: string
  /** NATS route address (HOST:PORT), or null for a key-only peer. */
  address: string | null
  self: boolean
  /** Whether a heartbeat of it arrived in the last 3 s; null when the daemon is not running. */
  reachable: boolean | null
  /** ISO time of its last heartbeat seen here, or null. */
  last_seen: string | null
  authorizations: string[]
  policy: string
  /** false: added with gossip false, on this host only. */
  replicated: boolean
}

export function listPeers(cc: ClusterCtx, policy?: string): PeerListing[] {
  const s = readState(cc.identity.paths)
  const status = readStatus(cc.identity.paths.status)
  const now = cc.now()
  const local = new Set(s.local_peers.map(p => p.id))
  return effectiveMembers(cc, s)
    .filter(r => policy === undefined || r.policy === policy)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(r => {
      const live = liveness(status, r.id, now)
      return {
        id: r.id,
        hostname: r.hostname,
        address: r.route ?? null,
        self: r.id === cc.identity.id,
        reachable: live.reachable ?? null,
        last_seen: live.lastSeen === undefined ? null : new Date(live.lastSeen).toISOString(),
        authorizations: Object.entries(r.authorizations)
          .filter(([, v]) => v)
          .map(([k]) => k)
          .sort(),
        policy: r.policy,
        replicated: !local.has(r.id)
      }
    })
}

/** Whether the daemon's status is fresh, and what it says of NATS. */
export function daemonState(cc: ClusterCtx): {
  running: boolean
  nats: { ok: boolean; error?: string | undefined } | undefined
} {
  const status = readStatus(cc.identity.paths.status)
  const live = liveness(status, cc.identity.id, cc.now())
  return { running: live.daemon, nats: status?.nats }
}
