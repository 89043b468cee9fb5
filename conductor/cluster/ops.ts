import { readFileSync } from 'node:fs'
import { PeerInputInvalid, PeerMismatch, PeerNotFound, UsageError } from '../../errors/index.js'
import type { ClusterCtx } from './context.js'
import { convergePolicies } from './converge.js'
import { newInvite, parseInviteSecret, parsePubkey, pubkeyToken } from './credentials.js'
import {
  CONVERGE_WAIT_MS,
  DEFAULT_CLUSTER_LISTEN,
  DEFAULT_PEER_AUTHORIZATIONS,
  INVITE_MAX_TTL_SEC,
  PEERS_POLICY
} from './defaults.js'
import { selfRecord } from './identity.js'
import { applyJoin, clusterView, type ClusterView, type JoinOutcome } from './join.js'
import { checkNewMember, deleteMember, knownMembers, openMembers, putMember } from './members.js'
import { inviteIssuer } from './policy.js'
import { checkRecord, hostPort, type PeerRecord } from './records.js'
import { callBuiltin, parseTarget, readCaFile, signPeerToken } from './remote.js'
import { readState, updateState } from './state.js'
import { addPeerBody, parseView, type AddPeerResponse } from './wire.js'

// The `conductor peer` operations (cli/commands/peer.ts prints them): invite, add (by invite
// or by public key), remove. Each checks what it can before changing anything: the local NATS
// server answers, the arguments parse, the remote accepts; then applies, under the cluster lock.

export interface InviteResult {
  id: string
  secret: string
  expires_at: string
}

/** `peer invite`: a single-use invite key whose public half goes into the peers policy at once. */
export async function createInvite(cc: ClusterCtx, ttlSec: number): Promise<InviteResult> {
  if (!(ttlSec > 0 && ttlSec <= INVITE_MAX_TTL_SEC))
    throw new UsageError(`--ttl must be between 1 s and 7 days, got ${ttlSec} s`)
  const inv = newInvite()
  const now = cc.now()
  const expires = new Date(now + ttlSec * 1000).toISOString()
  await updateState(cc.identity.paths, 'conductor peer invite', async s => {
    s.invites.push({
      id: inv.id,
      public_key: inv.publicKeyPem,
      created_at: new Date(now).toISOString(),
      expires_at: expires
    })
    await convergePolicies(cc, s)
  })
  return { id: inv.id, secret: inv.secret, expires_at: expires }
}

export interface AddOptions {
  hostname: string
  secret?: string | undefined
  pubkey?: string | undefined
  /** --id for a plain public key (a cndpub1 key names its peer). */
  id?: string | undefined
  caFile?: string | undefined
  authorizations?: string[] | undefined
  gossip?: boolean | undefined
}

export interface AddResult {
  peer: PeerRecord
  /** What this host did. */
  outcome: 'joined' | 'formed' | 'added' | 'local'
  /** What the remote did (invite form). */
  remote?: AddPeerResponse['outcome'] | undefined
  cluster: string
}

/** `peer add HOSTNAME SECRET` (invite) or `peer add HOSTNAME --pubkey PUBKEY` (keys exchanged by hand). */
export async function addPeer(cc: ClusterCtx, o: AddOptions): Promise<AddResult> {
  const target = parseTarget(o.hostname)
  const authorizations =
    o.authorizations === undefined || o.authorizations.length === 0
      ? { ...DEFAULT_PEER_AUTHORIZATIONS }
      : Object.fromEntries(o.authorizations.map(a => [a, true]))
  if (o.secret !== undefined && o.pubkey !== undefined)
    throw new UsageError('give an invite secret or --pubkey, not both')
  if (o.secret === undefined && o.pubkey === undefined)
    throw new UsageError('give the invite secret printed by `conductor peer invite` on HOSTNAME, or --pubkey')
  // A damaged secret or key is refused first: a NATS server busy or down must not hide bad input.
  if (o.secret !== undefined) parseInviteSecret(o.secret)
  else parsePubkey(o.pubkey!)
  const ca = readCaFile(o.caFile)
  // NATS first: when it is down, nothing is sent (an invite would be used up for nothing).
  const gossip = o.gossip !== false
  const store = gossip ? await openMembers(cc) : undefined
  try {
    if (o.secret !== undefined) return await addByInvite(cc, o.secret, target, ca, store!)
    return await addByPubkey(cc, o, target, ca, authorizations, store)
  } finally {
    await store?.close()
  }
}

async function addByInvite(
  cc: ClusterCtx,
  secret: string,
  target: ReturnType<typeof parseTarget>,
  ca: string[] | undefined,
  store: Awaited<ReturnType<typeof openMembers>>
): Promise<AddResult> {
  const invite = parseInviteSecret(secret)
  const self = selfRecord(cc.identity)
  const view = clusterView(readState(cc.identity.paths), self.id, self)
  const token = await signPeerToken(
    { privateKeyPem: invite.privateKeyPem, alg: 'EdDSA', issuer: inviteIssuer(invite.id), subject: self.id },
    target.hostname
  )
  const body = addPeerBody(self, { cluster: view, expectHostname: target.hostname })
  const res = await callBuiltin<AddPeerResponse>({ target, fn: 'add-peer', body, token, ca })
  const remote = checkRecord(res.peer, '/peer')
  const remoteView = parseView(res.cluster, 'cluster')
  if (remote.hostname.toLowerCase() !== target.hostname) {
    throw new PeerMismatch(`${target.hostname} says its hostname is ${remote.hostname}: add it by that name`)
  }
  const outcome = await joinLocally(cc, remote, remoteView, store)
  return {
    peer: remote,
    outcome: outcomeName(outcome),
    remote: res.outcome,
    cluster: readState(cc.identity.paths).cluster_name
  }
}

async function addByPubkey(
  cc: ClusterCtx,
  o: AddOptions,
  target: ReturnType<typeof parseTarget>,
  ca: string[] | undefined,
  authorizations: Record<string, boolean>,
  store: Awaited<ReturnType<typeof openMembers>> | undefined
): Promise<AddResult> {
  const key = parsePubkey(o.pubkey!)
  const id = o.id ?? key.id
  if (id === undefined) throw new UsageError('a plain public key names no peer: give --id ID')
  if (key.id !== undefined && o.id !== undefined && o.id !== key.id) {
    throw new PeerMismatch(`the public key was made for peer "${key.id}", not "${o.id}"`)
  }
  let record: PeerRecord = checkRecord({
    id,
    hostname: target.hostname,
    public_key: key.public_key,
    authorizations,
    policy: PEERS_POLICY
  })
  let view: ClusterView | undefined
  if (key.route_cert !== undefined) {
    // A Conductor host: its identity (public) says its route and cluster; its key must be the one given.
    const found = await callBuiltin<{
      id: string
      hostname: string
      route: string
      public_key: string
      route_cert: string
      cluster: unknown
    }>({
      target,
      fn: 'identity',
      ca
    })
    const remote = checkRecord({ ...found, cluster: undefined, authorizations, policy: PEERS_POLICY }, '/identity')
    if (remote.id !== id || remote.public_key === undefined || !samePem(remote.public_key, key.public_key)) {
      throw new PeerMismatch(
        `${target.hostname} is peer "${remote.id}" with another key than the one given: the public key ` +
          'does not belong to that host (or it was reinstalled: get its new `conductor peer pubkey`)'
      )
    }
    record = {
      ...remote,
      hostname: target.hostname,
      route: remote.route ?? hostPort(target.hostname, DEFAULT_CLUSTER_LISTEN.split(':')[1]!)
    }
    view = parseView(found.cluster, 'cluster')
  }
  record = { ...record, added_by: cc.identity.id, added_at: new Date(cc.now()).toISOString() }
  if (store === undefined) {
    await updateState(cc.identity.paths, 'conductor peer add', async s => {
      checkNewMember(
        knownMembers(s).filter(k => k.id !== cc.identity.id),
        record
      )
      s.local_peers = [...s.local_peers.filter(p => p.id !== record.id), record]
      await convergePolicies(cc, s)
    })
    return { peer: record, outcome: 'local', cluster: readState(cc.identity.paths).cluster_name }
  }
  const outcome = view !== undefined ? await joinLocally(cc, record, view, store) : await putOnly(cc, record, store)
  return { peer: record, outcome: outcomeName(outcome), cluster: readState(cc.identity.paths).cluster_name }
}

async function putOnly(
  cc: ClusterCtx,
  record: PeerRecord,
  store: Awaited<ReturnType<typeof openMembers>>
): Promise<JoinOutcome> {
  await updateState(cc.identity.paths, 'conductor peer add', async s => {
    checkNewMember(
      knownMembers(s).filter(k => k.id !== cc.identity.id),
      record
    )
    await putMember(store, record)
  })
  return { adopted: false, formed: false, write: [record] }
}

/** This host's side of the join decision, then the policies at once (the remote is trusted here now). */
async function joinLocally(
  cc: ClusterCtx,
  remote: PeerRecord,
  view: ClusterView,
  store: Awaited<ReturnType<typeof openMembers>>
): Promise<JoinOutcome> {
  if (remote.id === cc.identity.id)
    throw new PeerMismatch(`${remote.hostname} is this host itself (peer "${remote.id}")`)
  return await updateState(cc.identity.paths, 'conductor peer add', async s => {
    checkNewMember(
      knownMembers(s).filter(k => k.id !== cc.identity.id),
      remote
    )
    const self = selfRecord(cc.identity)
    const j = applyJoin(s, self.id, self, remote, view)
    for (const w of j.write) await putMember(store, w)
    // A join's seeds are trusted here at once; a record written to the bucket comes back through
    // the daemon's watch within milliseconds. The daemon restarts NATS for a join.
    await convergePolicies(cc, s)
    return j
  })
}

const outcomeName = (j: JoinOutcome): AddResult['outcome'] => (j.adopted ? 'joined' : j.formed ? 'formed' : 'added')
const samePem = (a: string, b: string): boolean => a.replace(/\s/g, '') === b.replace(/\s/g, '')

/** `peer remove ID`: out of the member list (every host drops its entry and routes), or out of the local-only ones. */
export async function removePeer(cc: ClusterCtx, id: string): Promise<{ removed: PeerRecord; replicated: boolean }> {
  if (id === cc.identity.id) {
    throw new UsageError(
      `"${id}" is this host: remove it from another member of the cluster (there: conductor peer remove ${id})`
    )
  }
  const local = readState(cc.identity.paths).local_peers.find(p => p.id === id)
  if (local !== undefined) {
    await updateState(cc.identity.paths, 'conductor peer remove', async s => {
      s.local_peers = s.local_peers.filter(p => p.id !== id)
      await convergePolicies(cc, s)
    })
    return { removed: local, replicated: false }
  }
  const store = await openMembers(cc)
  try {
    const removed = await deleteMember(store, id)
    return { removed, replicated: true }
  } finally {
    await store.close()
  }
}

/** Waits until the local state (the daemon's copy of the bucket) says PREDICATE; false after the wait. */
export async function waitForState(
  cc: ClusterCtx,
  predicate: (members: PeerRecord[]) => boolean,
  timeoutMs = CONVERGE_WAIT_MS
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const s = readState(cc.identity.paths)
    if (s.seeds.length === 0 && predicate(s.members)) return true
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return false
}

/** `peer pubkey [HOSTNAME]`: this host's (or a member's) public key line. */
export function peerPubkey(
  cc: ClusterCtx,
  which?: string
): { id: string; hostname: string; pubkey: string; public_key?: string | undefined } {
  const s = readState(cc.identity.paths)
  if (which === undefined) {
    return {
      id: cc.identity.id,
      hostname: cc.identity.hostname,
      pubkey: pubkeyLine(readFileSync(cc.identity.paths.routeCert, 'utf8')),
      public_key: cc.identity.publicKey
    }
  }
  const r = knownMembers(s).find(m => m.hostname === which || m.id === which)
  if (r === undefined) throw new PeerNotFound(`no peer with hostname or id "${which}" (conductor peer ls lists them)`)
  if (r.route_cert !== undefined)
    return { id: r.id, hostname: r.hostname, pubkey: pubkeyLine(r.route_cert), public_key: r.public_key }
  if (r.public_key === undefined)
    throw new PeerInputInvalid(`peer "${r.id}" authenticates with a bearer token only: it has no public key`)
  return { id: r.id, hostname: r.hostname, pubkey: r.public_key.trim(), public_key: r.public_key }
}

const pubkeyLine = (cert: string): string => pubkeyToken(cert)
