// Every default of the cluster in one place (kamal-proxy service.go const block).

/** Key pair of this host in the keys directory (`conductor key` files): signs its calls, keys its NATS routes. */
export const PEER_KEY_NAME = 'conductor-peer'
/** The policy that holds peers and invites (seed "Clustering"). */
export const PEERS_POLICY = 'peers'
/** Replicated member list: one key per peer id, the value its record (JSON). */
export const PEERS_BUCKET = 'conductor-peers'
/** One key per peer id, written by its fleet daemon every second (issue 19's liveness reads it too). */
export const HEARTBEAT_BUCKET = 'conductor-heartbeats'
/** Core NATS subject prefix of heartbeats: delivered over the routes, no stream leader needed. */
export const HEARTBEAT_SUBJECT = 'conductor.heartbeat'
/**
 * `conductor.removed.ID`: published by whoever deleted ID from the member list, so that ID's
 * daemon hears it before the members' reloads close its routes (its watch may be behind).
 */
export const REMOVED_SUBJECT = 'conductor.removed'
/**
 * A member's daemon that sees a deletion publishes the notice too, then waits this long before
 * its NATS reload drops the removed member's route: the notice must cross that route first (the
 * deleting command's own notice may come after the first reloads, and the removed member's
 * watch is served over those routes). Trust is dropped before the wait: keys are refused at once.
 */
export const REMOVAL_NOTICE_GRACE_MS = 500
export const HEARTBEAT_INTERVAL_MS = 1000
/**
 * A peer is reachable when a heartbeat of it arrived within this long. Heartbeats go every
 * second: three missed ones, so a host down is shown within 5 s (issue 17), one lost message
 * never is.
 */
export const REACHABLE_WITHIN_MS = 3000
/** The daemon's status file older than this: the daemon is not running. */
export const STATUS_STALE_MS = 5000
/** Buckets get min(MAX_REPLICAS, members) replicas: a majority of 3 survives one host lost. */
export const MAX_REPLICAS = 3

export const DEFAULT_CLUSTER_LISTEN = '0.0.0.0:6222'
export const DEFAULT_CLIENT_PORT = 4222
export const DEFAULT_MONITOR_PORT = 8222

/** The seed's authorizations of a peer added by `peer add` (add-peer's default). */
export const DEFAULT_PEER_AUTHORIZATIONS: Readonly<Record<string, boolean>> = Object.freeze({
  'peer-list-read': true,
  'peer-list-write': true,
  'service-write': true
})
/** What an invite entry grants: joining, and nothing else. */
export const INVITE_AUTHORIZATION = 'peer-join'
/**
 * Granted to every entry of the peers policy (its one top-level matcher): the gate of the
 * add-peer function, which accepts two kinds of callers (an invite that joins, a peer with
 * peer-list-write that adds others) and checks which one itself.
 */
export const ADD_PEER_GATE = 'peer-add'

export const INVITE_DEFAULT_TTL_SEC = 3600
export const INVITE_MAX_TTL_SEC = 7 * 24 * 3600
/** Used and expired invites stay this long, so their holder is told "used"/"expired", not "unknown". */
export const INVITE_KEEP_MS = 24 * 3600 * 1000
/** Calls between peers carry a JWT this short-lived. */
export const PEER_TOKEN_TTL_SEC = 60
/** The longest JWT lifetime the peers policy accepts from a peer or an invite. */
export const PEER_TOKEN_MAX_LIFETIME_SEC = 300

/** A call to another host's built-in function gives up after this long. */
export const REMOTE_TIMEOUT_MS = 30_000
/** How long the cluster state lock is waited for. */
export const LOCK_WAIT_MS = 15_000
/** `peer add` / `peer remove` wait this long for the local daemon to apply the change. */
export const CONVERGE_WAIT_MS = 15_000

export const INVITE_SECRET_PREFIX = 'cndinv1.'
export const PUBKEY_PREFIX = 'cndpub1.'
