import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { PeerConflict, PeerNotFound } from '../../errors/index.js'
import type { ClusterCtx } from './context.js'
import { REMOVED_SUBJECT } from './defaults.js'
import { connectLocal, jetStreamReady, natsDown, openBuckets } from './nats.js'
import { checkRecord, sameCredentials, type PeerRecord } from './records.js'
import { readState, type ClusterState } from './state.js'

// The replicated member list as commands and functions use it: read a record, write one,
// delete one, each through the local NATS server (NatsUnavailable when it is down, before
// anything is changed), and the checks every addition passes wherever it comes from.

export interface MemberStore {
  nc: NatsConnection
  /** The local server's client port (for the error that says it does not answer). */
  port: number
  peers: KV
  heartbeats: KV
  close: () => Promise<void>
}

/** Connects to the local NATS server and opens the member list (JetStream must answer). */
export async function openMembers(cc: ClusterCtx): Promise<MemberStore> {
  const s = readState(cc.identity.paths)
  const nc = await connectLocal({ clientPort: cc.identity.clientPort, auth: s.nats_auth })
  try {
    await jetStreamReady(nc)
    const { peers, heartbeats } = await openBuckets(nc, Math.max(1, s.members.length))
    return {
      nc,
      port: cc.identity.clientPort,
      peers,
      heartbeats,
      close: async () => {
        await nc.close().catch(() => {})
      }
    }
  } catch (err) {
    await nc.close().catch(() => {})
    throw natsDown(cc.identity.clientPort, err)
  }
}

export async function getMember(m: MemberStore, id: string): Promise<PeerRecord | undefined> {
  const e = await m.peers.get(id)
  if (e === null || e.operation !== 'PUT') return undefined
  return checkRecord(e.json(), `conductor-peers/${id}`)
}

/** How long a member write waits out a JetStream that answers "not enabled" or not at all (an election). */
const WRITE_PATIENCE_MS = 15_000

/**
 * Writes a member's record. JetStream may be between meta leaders for seconds (right after a
 * join): a write is tried again until WRITE_PATIENCE_MS, since by now the other host may have
 * committed its side (an invite used); then NatsUnavailable, never an internal error.
 */
export async function putMember(m: MemberStore, r: PeerRecord): Promise<void> {
  const deadline = Date.now() + WRITE_PATIENCE_MS
  for (let attempt = 0; ; attempt++) {
    try {
      await m.peers.put(r.id, JSON.stringify(r))
      return
    } catch (err) {
      if (!transientJetStream(err)) throw err
      if (Date.now() > deadline) throw natsDown(m.port, err)
      await new Promise(resolve => setTimeout(resolve, Math.min(1000, 100 * 2 ** attempt)))
    }
  }
}

/** JetStream has no meta or stream leader to answer now (not a refusal of the write). */
export function transientJetStream(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: unknown }
  return /jetstream is not enabled|JetStreamNotEnabled|no responders|timeout|not currently available/i.test(
    `${e.name ?? ''} ${e.message ?? ''} ${String(e.code ?? '')}`
  )
}

/** Deletes a member; its heartbeat key goes too. PeerNotFound when it is not one. */
export async function deleteMember(m: MemberStore, id: string): Promise<PeerRecord> {
  const r = await getMember(m, id)
  if (r === undefined) throw new PeerNotFound(`no peer "${id}" in the cluster (conductor peer ls lists them)`)
  await m.peers.delete(id)
  // Told at once, over routes still up: its daemon leaves, and every member's daemon drops it,
  // even where the watch lags. The deletion's revision lets a daemon tell a later re-add apart.
  const revision = await m.peers.get(id).then(
    e => e?.revision ?? 0,
    () => 0
  )
  m.nc.publish(`${REMOVED_SUBJECT}.${id}`, JSON.stringify({ revision }))
  await m.heartbeats.purge(id).catch(() => {})
  await m.nc.flush().catch(() => {})
  return r
}

/**
 * A record may join the members: an id taken by another key, or a hostname taken by another
 * peer, is refused (PeerConflict), so nobody takes over a peer's name. The same peer again is
 * fine (an update: new authorizations, a new address).
 */
export function checkNewMember(known: PeerRecord[], r: PeerRecord): void {
  const same = known.find(k => k.id === r.id)
  if (same !== undefined && !sameCredentials(same, r)) {
    throw new PeerConflict(
      `peer id "${r.id}" is already a member with another key: remove it first ` +
        `(conductor peer remove ${r.id}) if that host was reinstalled`
    )
  }
  const host = known.find(k => k.id !== r.id && k.hostname === r.hostname)
  if (host !== undefined) throw new PeerConflict(`hostname ${r.hostname} is already peer "${host.id}"'s`)
}

/** The members this host knows (the bucket's cached copy, the seeds of a join, local-only ones). */
export function knownMembers(s: ClusterState): PeerRecord[] {
  return [...new Map([...s.members, ...s.seeds, ...s.local_peers].map(r => [r.id, r])).values()]
}
