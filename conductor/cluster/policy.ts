import {
  ADD_PEER_GATE,
  INVITE_AUTHORIZATION,
  INVITE_KEEP_MS,
  PEER_TOKEN_MAX_LIFETIME_SEC,
  PEERS_POLICY
} from './defaults.js'
import type { InviteRecord, PeerRecord } from './records.js'

// The peers policy (and any other policy a peer record names), rendered from the members, the
// local-only peers and the invites: pure, so the same input gives the same bytes and a file is
// rewritten (and the gateway reloaded) only when something changed. Each member is an entry
// of the seed's shape: `any` child with meta peer-id/peer-hostname, default_authorizations and
// its credentials. Invites are entries without peer-hostname, granting only peer-join.
//
// Files Conductor renders carry MANAGED_MARK in their description; a policy file without it is
// the operator's and is never written (a record naming it is refused by add-peer).

export const MANAGED_MARK = 'Managed by conductor'
const DESCRIPTION =
  `${MANAGED_MARK} (peer commands and the fleet daemon) from the cluster's member list; ` +
  'changes are overwritten. README "Cluster: peers".'

export interface PolicyInput {
  /** Names this host is dialed by: the audience every JWT sent to it must carry. */
  audience: string[]
  members: PeerRecord[]
  invites: InviteRecord[]
  now: number
}

type Json = Record<string, unknown>

/** Policy name -> file text, for every policy a record names (the peers policy always). */
export function renderPolicies(i: PolicyInput): Map<string, string> {
  const byPolicy = new Map<string, PeerRecord[]>([[PEERS_POLICY, []]])
  // One entry per peer id and policy: the later record (a local-only one overrides the replicated one).
  const seen = new Map<string, PeerRecord>()
  for (const r of i.members) seen.set(`${r.policy}\u0000${r.id}`, r)
  for (const r of seen.values()) byPolicy.set(r.policy, [...(byPolicy.get(r.policy) ?? []), r])
  const out = new Map<string, string>()
  for (const [name, records] of byPolicy) {
    const entries: Json[] = records
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(r => peerEntry(r, i.audience))
    if (name === PEERS_POLICY) entries.push(...liveInvites(i.invites, i.now).map(v => inviteEntry(v, i.audience)))
    const match: Json[] =
      entries.length === 0
        ? []
        : [
            name === PEERS_POLICY
              ? { default_authorizations: { [ADD_PEER_GATE]: true }, any: entries }
              : { any: entries }
          ]
    out.set(name, JSON.stringify({ description: DESCRIPTION, match }, null, 2) + '\n')
  }
  return out
}

/** Whether a policy file's text is one Conductor renders (or absent). */
export function isManagedPolicy(text: string | undefined): boolean {
  if (text === undefined) return true
  try {
    return String((JSON.parse(text) as { description?: unknown }).description ?? '').startsWith(MANAGED_MARK)
  } catch {
    return false
  }
}

/** Invites whose entry stays: unused and unexpired, or used/expired less than a day ago (so their holder is told why). */
export function liveInvites(invites: InviteRecord[], now: number): InviteRecord[] {
  return invites
    .filter(v => {
      const ended = Math.min(Date.parse(v.expires_at), v.used_at !== undefined ? Date.parse(v.used_at) : Infinity)
      return now < ended + INVITE_KEEP_MS
    })
    .sort((a, b) => (a.id < b.id ? -1 : 1))
}

function peerEntry(r: PeerRecord, audience: string[]): Json {
  const bearer: Json[] = []
  if (r.public_key !== undefined) {
    bearer.push({
      public_key: r.public_key.trim(),
      issuer: r.id,
      subject: r.id,
      audience,
      max_lifetime_sec: PEER_TOKEN_MAX_LIFETIME_SEC
    })
  }
  for (const t of r.token_sha256 ?? []) bearer.push({ token_sha256: t })
  return { meta: { 'peer-id': r.id, 'peer-hostname': r.hostname }, default_authorizations: r.authorizations, bearer }
}

function inviteEntry(v: InviteRecord, audience: string[]): Json {
  return {
    meta: { 'peer-invite': v.id },
    default_authorizations: { [INVITE_AUTHORIZATION]: true },
    // No subject: the joining host signs sub = its own peer id, which add-peer compares with the record it sends.
    bearer: [
      {
        public_key: v.public_key.trim(),
        issuer: inviteIssuer(v.id),
        audience,
        max_lifetime_sec: PEER_TOKEN_MAX_LIFETIME_SEC
      }
    ]
  }
}

export const inviteIssuer = (id: string): string => `invite-${id}`
