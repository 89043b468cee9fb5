import { readFileSync } from 'node:fs'
import { GATEWAY_UNIT } from '../model/index.js'
import { readOr, writeAtomic } from '../state/index.js'
import type { ClusterCtx } from './context.js'
import { selfRecord, type Identity } from './identity.js'
import { type NatsConfigInput, renderNatsConfig, renderRouteCa } from './nats-config.js'
import { policyFile } from './paths.js'
import { isManagedPolicy, renderPolicies } from './policy.js'
import { spkiPin, type PeerRecord } from './records.js'
import type { ClusterState } from './state.js'
import { writeAtomicPrivate } from './state.js'

// Local convergence: the policy files and the NATS config this host should have, from its
// cluster state. Callers hold the cluster lock (state.ts). Writes only what differs, so a
// converge with nothing new does nothing.

/** The members this host renders: the bucket's (cached), itself, then its local-only peers. */
export function effectiveMembers(cc: ClusterCtx, s: ClusterState): PeerRecord[] {
  const self = s.members.find(m => m.id === cc.identity.id) ?? selfRecord(cc.identity)
  // Seeds (a join in progress) are trusted at once: the hosts this one joins call it next.
  const known = new Map([...s.seeds, ...s.members].filter(m => m.id !== cc.identity.id).map(m => [m.id, m]))
  return [...known.values(), self, ...s.local_peers]
}

/**
 * Writes the policy files that differ and reloads the gateway (SIGHUP through its unit) when
 * one did. Returns the files written. A policy file of the operator's own (no MANAGED_MARK) is
 * left alone and reported.
 */
export async function convergePolicies(cc: ClusterCtx, s: ClusterState): Promise<string[]> {
  const rendered = renderPolicies({
    audience: [cc.identity.hostname],
    members: effectiveMembers(cc, s),
    invites: s.invites,
    now: cc.now()
  })
  const written: string[] = []
  for (const [name, text] of rendered) {
    const file = policyFile(cc.roots, name)
    const current = readOr(file)
    if (current === text) continue
    if (!isManagedPolicy(current)) {
      cc.log(
        `policy ${file} is not managed by conductor: its peer entries are not written (move the file away, or ` +
          'give those peers another policy)'
      )
      continue
    }
    writeAtomic(file, text)
    written.push(file)
  }
  if (written.length > 0) await reloadGateway(cc)
  return written
}

/** SIGHUP to the gateway through its unit, when it runs; it reloads policies without dropping requests. */
export async function reloadGateway(cc: ClusterCtx): Promise<boolean> {
  try {
    const units = await cc.systemd.list([GATEWAY_UNIT])
    if (!units.some(u => u.unit === GATEWAY_UNIT && u.active === 'active')) return false
    await cc.systemd.reload(GATEWAY_UNIT)
    return true
  } catch (err) {
    cc.log(`gateway reload failed: ${(err as Error).message}`)
    return false
  }
}

export type NatsAction = 'none' | 'reload' | 'restart'

/**
 * Writes the NATS config (and the routes' CA file) the state calls for. `restart` when the
 * server must start over with a reset store (it joins a cluster, or leaves one); `reload` when
 * only routes or pins changed; `none` when the files are as they should be.
 */
export function convergeNatsFiles(id: Identity, s: ClusterState): NatsAction {
  const p = id.paths
  let cluster: NatsConfigInput['cluster']
  if (s.clustered) {
    const others = new Map<string, PeerRecord>()
    for (const r of [...s.seeds, ...s.members]) {
      if (r.id !== id.id && r.route !== undefined && r.route_cert !== undefined && r.public_key !== undefined)
        others.set(r.id, r)
    }
    const ca = renderRouteCa([readFileSync(p.routeCert, 'utf8'), ...[...others.values()].map(r => r.route_cert!)])
    if (readOr(p.routeCa) !== ca) writeAtomicPrivate(p.routeCa, ca)
    cluster = {
      name: s.cluster_name,
      listen: id.listen,
      advertise: id.route,
      certFile: p.routeCert,
      keyFile: p.privateKey,
      caFile: p.routeCa,
      pins: [spkiPin(id.publicKey), ...[...others.values()].map(r => spkiPin(r.public_key!))],
      routes: [...others.values()].map(r => r.route!)
    }
  }
  const text = renderNatsConfig({
    serverName: id.id,
    clientPort: id.clientPort,
    monitorPort: id.monitorPort,
    pidFile: p.natsPid,
    storeDir: p.natsStore,
    auth: s.nats_auth,
    cluster
  })
  const restart =
    s.applied !== undefined && (s.applied.clustered !== s.clustered || s.applied.cluster_name !== s.cluster_name)
  if (readOr(p.natsConfig) === text) return restart ? 'restart' : 'none'
  writeAtomicPrivate(p.natsConfig, text)
  return restart ? 'restart' : 'reload'
}
