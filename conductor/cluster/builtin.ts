import {
  ConductorError,
  PeerInputInvalid,
  PeerInviteExpired,
  PeerInviteScope,
  PeerInviteUsed,
  PeerMismatch,
  PeerNotFound
} from '../../errors/index.js'
import type { ClusterCtx } from './context.js'
import { ADD_PEER_GATE, INVITE_AUTHORIZATION } from './defaults.js'
import { selfRecord } from './identity.js'
import { applyJoin, clusterView } from './join.js'
import { checkNewMember, deleteMember, knownMembers, openMembers, putMember, type MemberStore } from './members.js'
import { listPeers } from './list.js'
import { readState, updateState } from './state.js'
import { parseAddPeer, parseRemovePeer, type AddPeerResponse } from './wire.js'

// The seed's built-in functions ("Function: add peer", "remove peer", "list peers") and the
// public identity function, as CGI programs the gateway runs (`conductor _ builtin NAME`,
// declared by the built-in service conductor-peers that `system install` writes). The gateway
// has already checked the peers policy (add-peer: peer-add, granted to every entry; remove-peer:
// peer-list-write; list-peers: peer-list-read) and passes the decision as HTTP_X_CONDUCTOR_*
// (client-sent X-Conductor-* are dropped) and REMOTE_USER (the JWT's sub). What a policy alone
// cannot say is checked here: add-peer has two kinds of callers, an invite (an entry without
// peer-hostname: it may only join, itself, once, before it expires) and a peer (it needs
// peer-list-write to add others).

export interface CgiRequest {
  method: string
  query: URLSearchParams
  body: string
  env: NodeJS.ProcessEnv
}

export interface CgiAnswer {
  status: number
  body: unknown
}

export type BuiltinName = 'add-peer' | 'remove-peer' | 'list-peers' | 'identity'

export async function runBuiltin(cc: ClusterCtx, name: BuiltinName, req: CgiRequest): Promise<CgiAnswer> {
  try {
    if (name === 'identity') return { status: 200, body: identity(cc) }
    const caller = callerOf(req.env)
    if (name === 'list-peers') {
      const policy = req.query.get('policy') ?? undefined
      return { status: 200, body: { peers: listPeers(cc, policy) } }
    }
    if (req.method !== 'POST') return fail(405, 'CND_PEER_METHOD', `${name} takes a POST with a JSON body`)
    let raw: unknown
    try {
      raw = JSON.parse(req.body)
    } catch {
      throw new PeerInputInvalid('the body is not JSON')
    }
    if (name === 'add-peer') return { status: 200, body: await addPeer(cc, caller, raw) }
    return { status: 200, body: await removePeer(cc, caller, raw) }
  } catch (err) {
    if (err instanceof ConductorError) return fail(err.httpStatus, err.code, err.message)
    cc.log(`${name}: ${(err as Error).stack ?? String(err)}`)
    return fail(500, 'CND_INTERNAL', 'internal error (see the gateway log)')
  }
}

interface Caller {
  kind: 'invite' | 'peer' | 'other'
  /** The JWT's sub (REMOTE_USER). */
  subject: string | undefined
  invite: string | undefined
  peerId: string | undefined
  authorizations: Set<string>
}

function callerOf(env: NodeJS.ProcessEnv): Caller {
  const invite = env.HTTP_X_CONDUCTOR_PEER_INVITE
  const peerId = env.HTTP_X_CONDUCTOR_PEER_ID
  const hostname = env.HTTP_X_CONDUCTOR_PEER_HOSTNAME
  const kind = invite !== undefined && hostname === undefined ? 'invite' : peerId !== undefined ? 'peer' : 'other'
  return {
    kind,
    subject: env.REMOTE_USER,
    invite,
    peerId,
    authorizations: new Set((env.HTTP_X_CONDUCTOR_AUTHORIZATIONS ?? '').split(',').filter(a => a !== ''))
  }
}

function identity(cc: ClusterCtx): unknown {
  // A plain read (no lock) is enough for an answer.
  const s = readState(cc.identity.paths)
  const self = selfRecord(cc.identity)
  const view = clusterView(s, cc.identity.id, self)
  return {
    id: self.id,
    hostname: self.hostname,
    route: self.route,
    public_key: self.public_key,
    route_cert: self.route_cert,
    cluster: { name: view.name, lone: view.lone, clustered: view.clustered, members: [] }
  }
}

async function addPeer(cc: ClusterCtx, caller: Caller, raw: unknown): Promise<AddPeerResponse> {
  const req = parseAddPeer(raw)
  const r = req.record
  if (caller.kind === 'invite') {
    if (!caller.authorizations.has(INVITE_AUTHORIZATION))
      throw new PeerInviteScope('this invite does not grant joining')
    if (r.id !== caller.subject) {
      throw new PeerMismatch(
        `the token was signed for peer "${caller.subject ?? ''}" but the body adds "${r.id}": an invite ` +
          'adds the host that holds it, under the id it signed'
      )
    }
    if (
      !req.defaultAuthorizations ||
      !req.gossip ||
      req.receivedBy.length > 0 ||
      r.policy !== 'peers' ||
      req.cluster === undefined
    ) {
      throw new PeerInviteScope(
        'an invite may only join: its own host, into the peers policy, with the default ' +
          'authorizations and its cluster view; adding other peers or other authorizations needs peer-list-write'
      )
    }
  } else if (caller.kind === 'peer') {
    if (!caller.authorizations.has('peer-list-write')) {
      throw new PeerInviteScope(`peer "${caller.peerId ?? ''}" lacks peer-list-write: it cannot add peers`)
    }
  } else {
    throw new PeerInviteScope(`add-peer needs an invite or a peer of the peers policy (${ADD_PEER_GATE})`)
  }
  if (req.expectHostname !== undefined && req.expectHostname.toLowerCase() !== cc.identity.hostname.toLowerCase()) {
    throw new PeerMismatch(`this host is ${cc.identity.hostname}, not ${req.expectHostname}`)
  }
  const self = selfRecord(cc.identity)
  if (r.id === self.id) throw new PeerMismatch(`"${r.id}" is this host's own peer id`)
  // Connected before anything changes: with NATS down, nothing is consumed or written.
  const needsBucket = req.gossip
  const store: MemberStore | undefined = needsBucket ? await openMembers(cc) : undefined
  try {
    return await updateState(cc.identity.paths, 'add-peer', async s => {
      checkNewMember(
        knownMembers(s).filter(k => k.id !== self.id),
        r
      )
      const view = clusterView(s, self.id, self)
      if (caller.kind === 'invite') {
        const inv = s.invites.find(v => v.id === caller.invite)
        if (inv === undefined) throw new PeerInviteUsed(`invite ${caller.invite ?? ''} is no longer known here`)
        if (inv.used_at !== undefined)
          throw new PeerInviteUsed(`invite ${inv.id} was used already (${inv.used_at}); ask for a new one`)
        if (Date.parse(inv.expires_at) <= cc.now())
          throw new PeerInviteExpired(`invite ${inv.id} expired at ${inv.expires_at}; ask for a new one`)
        inv.used_at = new Date(cc.now()).toISOString()
        inv.used_by = r.id
      }
      const record = {
        ...r,
        added_by: caller.peerId ?? `invite ${caller.invite ?? ''}`,
        added_at: new Date(cc.now()).toISOString()
      }
      let outcome: AddPeerResponse['outcome'] = 'added'
      if (!req.gossip) {
        s.local_peers = [...s.local_peers.filter(p => p.id !== r.id), record]
        outcome = 'local'
      } else if (req.cluster !== undefined) {
        const j = applyJoin(s, self.id, self, record, req.cluster)
        outcome = j.adopted ? 'joined' : j.formed ? 'formed' : 'added'
        for (const w of j.write) await putMember(store!, w)
      } else {
        await putMember(store!, record)
      }
      return { peer: self, cluster: view, outcome }
    })
  } finally {
    await store?.close()
  }
}

async function removePeer(cc: ClusterCtx, caller: Caller, raw: unknown): Promise<unknown> {
  if (caller.kind !== 'peer' || !caller.authorizations.has('peer-list-write')) {
    throw new PeerInviteScope('remove-peer needs a peer with peer-list-write')
  }
  const req = parseRemovePeer(raw)
  if (!req.gossip) {
    return await updateState(cc.identity.paths, 'remove-peer', s => {
      if (!s.local_peers.some(p => p.id === req.peerId))
        throw new PeerNotFound(`no local-only peer "${req.peerId}" here`)
      s.local_peers = s.local_peers.filter(p => p.id !== req.peerId)
      return { removed: req.peerId, gossip: false }
    })
  }
  const store = await openMembers(cc)
  try {
    await deleteMember(store, req.peerId)
    return { removed: req.peerId, gossip: true }
  } finally {
    await store.close()
  }
}

function fail(status: number, code: string, message: string): CgiAnswer {
  return { status, body: { error: code, message } }
}
