import { createHash } from 'node:crypto'
import { PeerInputInvalid } from '../../errors/index.js'
import { DEFAULT_PEER_AUTHORIZATIONS, PEERS_POLICY } from './defaults.js'
import type { ClusterView } from './join.js'
import { checkRecord, isPeerId, type PeerRecord } from './records.js'

// The bodies of the built-in functions, with the seed's input names ("Function: add peer":
// policy name, peer id, peer hostname, authentication methods, authorizations, gossip flag, the
// members that already received it), plus what a NATS route needs (route, route_cert) and, when
// a host joins, its cluster view and the host name it dialed.

export interface AddPeerBody {
  policy?: string
  peer_id: string
  peer_hostname: string
  /** Seed: "peer authentication method (list)": a public key (JWT) or a bearer token. */
  authentication: Array<{ public_key: string } | { token: string } | { token_sha256: string }>
  authorizations?: Record<string, boolean>
  gossip?: boolean
  received_by?: string[]
  route?: string
  route_cert?: string
  /** Sent by a host that joins: its side of the decision (join.ts). */
  cluster?: ClusterView
  /** The host name the caller dialed: the callee refuses when it is not its own. */
  expect_hostname?: string
}

export interface AddPeerRequest {
  record: PeerRecord
  gossip: boolean
  receivedBy: string[]
  cluster?: ClusterView | undefined
  expectHostname?: string | undefined
  /** The caller asked for exactly the default authorizations (an invite may ask for nothing else). */
  defaultAuthorizations: boolean
}

export interface AddPeerResponse {
  peer: PeerRecord
  /** The callee's cluster view before the call (both sides decide on the same views). */
  cluster: ClusterView
  /** What the callee did: joined (took the caller's cluster), formed (went clustered), added. */
  outcome: 'joined' | 'formed' | 'added' | 'local'
}

const bad = (p: string, why: string): never => {
  throw new PeerInputInvalid(`/${p}: ${why}`)
}

export function addPeerBody(
  r: PeerRecord,
  o: { gossip?: boolean; receivedBy?: string[]; cluster?: ClusterView; expectHostname?: string } = {}
): AddPeerBody {
  return {
    policy: r.policy,
    peer_id: r.id,
    peer_hostname: r.hostname,
    authentication: [
      ...(r.public_key !== undefined ? [{ public_key: r.public_key }] : []),
      ...(r.token_sha256 ?? []).map(t => ({ token_sha256: t }))
    ],
    authorizations: r.authorizations,
    gossip: o.gossip ?? true,
    received_by: o.receivedBy ?? [],
    ...(r.route !== undefined ? { route: r.route } : {}),
    ...(r.route_cert !== undefined ? { route_cert: r.route_cert } : {}),
    ...(o.cluster !== undefined ? { cluster: o.cluster } : {}),
    ...(o.expectHostname !== undefined ? { expect_hostname: o.expectHostname } : {})
  }
}

export function parseAddPeer(raw: unknown): AddPeerRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('', 'expected a JSON object')
  const b = raw as Record<string, unknown>
  const known = new Set([
    'policy',
    'peer_id',
    'peer_hostname',
    'authentication',
    'authorizations',
    'gossip',
    'received_by',
    'route',
    'route_cert',
    'cluster',
    'expect_hostname'
  ])
  for (const k of Object.keys(b)) if (!known.has(k)) bad(k, 'unknown field')
  if (!Array.isArray(b.authentication) || b.authentication.length === 0)
    bad('authentication', 'expected a non-empty list of {public_key} or {token} / {token_sha256}')
  let publicKey: string | undefined
  const tokens: string[] = []
  for (const [i, a] of (b.authentication as unknown[]).entries()) {
    const m = (a ?? {}) as Record<string, unknown>
    if (typeof m.public_key === 'string' && publicKey === undefined) publicKey = m.public_key
    else if (typeof m.token === 'string' && m.token.length >= 16)
      tokens.push(createHash('sha256').update(m.token).digest('hex'))
    else if (typeof m.token_sha256 === 'string') tokens.push(m.token_sha256.toLowerCase())
    else
      bad(
        `authentication/${i}`,
        'expected {public_key: PEM} (one), {token: at least 16 characters} or {token_sha256: hex}'
      )
  }
  if (b.gossip !== undefined && typeof b.gossip !== 'boolean') bad('gossip', 'expected true or false')
  const receivedBy = b.received_by ?? []
  if (!Array.isArray(receivedBy) || receivedBy.some(x => !isPeerId(x)))
    bad('received_by', 'expected a list of peer ids')
  if (b.expect_hostname !== undefined && typeof b.expect_hostname !== 'string')
    bad('expect_hostname', 'expected a host name')
  const authorizations = b.authorizations ?? { ...DEFAULT_PEER_AUTHORIZATIONS }
  const record = checkRecord({
    id: b.peer_id,
    hostname: b.peer_hostname,
    route: b.route,
    public_key: publicKey,
    route_cert: b.route_cert,
    token_sha256: tokens.length > 0 ? tokens : undefined,
    authorizations,
    policy: b.policy ?? PEERS_POLICY
  })
  return {
    record,
    gossip: b.gossip !== false,
    receivedBy: receivedBy as string[],
    cluster: b.cluster === undefined ? undefined : parseView(b.cluster, 'cluster'),
    expectHostname: b.expect_hostname as string | undefined,
    defaultAuthorizations:
      JSON.stringify(
        Object.entries(record.authorizations)
          .filter(([, v]) => v)
          .map(([k]) => k)
          .sort()
      ) === JSON.stringify(Object.keys(DEFAULT_PEER_AUTHORIZATIONS).sort())
  }
}

export function parseView(raw: unknown, where: string): ClusterView {
  if (typeof raw !== 'object' || raw === null) return bad(where, 'expected {name, lone, clustered, members}')
  const v = raw as Record<string, unknown>
  if (typeof v.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(v.name))
    bad(`${where}/name`, 'expected a cluster name')
  if (typeof v.lone !== 'boolean' || typeof v.clustered !== 'boolean')
    bad(where, 'expected lone and clustered booleans')
  if (!Array.isArray(v.members) || v.members.length > 1000) bad(`${where}/members`, 'expected a list of member records')
  return {
    name: v.name as string,
    lone: v.lone as boolean,
    clustered: v.clustered as boolean,
    members: (v.members as unknown[]).map((m, i) => checkRecord(m, `/${where}/members/${i}`))
  }
}

export interface RemovePeerRequest {
  policy: string
  peerId: string
  gossip: boolean
  receivedBy: string[]
}

export function parseRemovePeer(raw: unknown): RemovePeerRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('', 'expected a JSON object')
  const b = raw as Record<string, unknown>
  for (const k of Object.keys(b))
    if (!['policy', 'peer_id', 'gossip', 'received_by'].includes(k)) bad(k, 'unknown field')
  if (!isPeerId(b.peer_id)) bad('peer_id', 'expected a peer id')
  if (b.gossip !== undefined && typeof b.gossip !== 'boolean') bad('gossip', 'expected true or false')
  const receivedBy = b.received_by ?? []
  if (!Array.isArray(receivedBy) || receivedBy.some(x => !isPeerId(x)))
    bad('received_by', 'expected a list of peer ids')
  const policy = b.policy ?? PEERS_POLICY
  if (typeof policy !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(policy))
    bad('policy', 'expected a policy name')
  return {
    policy: policy as string,
    peerId: b.peer_id as string,
    gossip: b.gossip !== false,
    receivedBy: receivedBy as string[]
  }
}
