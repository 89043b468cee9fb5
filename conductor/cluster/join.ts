import { PeerConflict } from '../../errors/index.js'
import type { PeerRecord } from './records.js'
import type { ClusterState } from './state.js'

// Which NATS cluster two hosts end up in when one adds the other. Both sides apply the same
// rule to the same two views (exchanged by add-peer, or read from the identity function), so
// they agree without a second round:
//   - a host with other members keeps its cluster; a lone one joins it;
//   - two lone hosts: the cluster whose name sorts first (deterministic, nothing to lose);
//   - two hosts that both have other members, in different clusters: refused (merging two
//     JetStream clusters would lose one side's data): remove one from its cluster first.
// A host that takes another cluster's name, or a lone host going from standalone to clustered,
// restarts its NATS server once with a reset store (daemon.ts); the records it knew are kept as
// seeds and written into the cluster's bucket once it is connected.

export interface ClusterView {
  name: string
  /** No member but itself. */
  lone: boolean
  clustered: boolean
  /** Its members (itself included): a joining host routes to them at once. */
  members: PeerRecord[]
}

/** This host's view, as sent to the other side. */
export function clusterView(s: ClusterState, selfId: string, self: PeerRecord): ClusterView {
  const members = [...new Map([...s.members, ...s.seeds, self].map(r => [r.id, r])).values()]
  return { name: s.cluster_name, lone: members.every(r => r.id === selfId), clustered: s.clustered, members }
}

/** The cluster both end up in, or undefined when both have other members in different clusters. */
export function chooseCluster(
  a: Pick<ClusterView, 'name' | 'lone'>,
  b: Pick<ClusterView, 'name' | 'lone'>
): string | undefined {
  if (!a.lone && !b.lone) return a.name === b.name ? a.name : undefined
  if (!a.lone) return a.name
  if (!b.lone) return b.name
  // biome-ignore lint/complexity/useMathMinMax: names are strings; the smaller in code-unit order wins
  return a.name < b.name ? a.name : b.name
}

export interface JoinOutcome {
  /** This host takes the other's cluster (restart with a reset store). */
  adopted: boolean
  /** This host goes from standalone to clustered, keeping its name (restart with a reset store). */
  formed: boolean
  /** Records to write into this host's bucket now (its cluster stays as it is). */
  write: PeerRecord[]
}

/**
 * Applies the decision to this host's state S (changed in place): OTHER is the other host's
 * record, VIEW its cluster view. Throws PeerConflict for two clusters with members each.
 */
export function applyJoin(
  s: ClusterState,
  selfId: string,
  self: PeerRecord,
  other: PeerRecord,
  view: ClusterView
): JoinOutcome {
  const mine = clusterView(s, selfId, self)
  const winner = chooseCluster(mine, view)
  if (winner === undefined) {
    throw new PeerConflict(
      `both hosts already have members in different clusters (this one: ${mine.name}, ` +
        `${mine.members.length} members; ${other.id}: ${view.name}, ${view.members.length} members): remove one of them from ` +
        'its cluster first (conductor peer remove on a member of that cluster)'
    )
  }
  if (winner !== s.cluster_name) {
    s.cluster_name = winner
    s.clustered = true
    s.seeds = [...new Map([other, ...view.members].filter(r => r.id !== selfId).map(r => [r.id, r])).values()]
    s.members = []
    return { adopted: true, formed: false, write: [] }
  }
  if (!s.clustered) {
    s.clustered = true
    s.seeds = [...new Map([...s.members, ...s.seeds, other].filter(r => r.id !== selfId).map(r => [r.id, r])).values()]
    return { adopted: false, formed: true, write: [] }
  }
  return { adopted: false, formed: false, write: [other] }
}
