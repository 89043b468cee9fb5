import { chmodSync, mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ClusterLocked, ClusterStateInvalid, PeerIdentityMissing } from '../../errors/index.js'
import { acquirePidLock, writeAtomic } from '../state/index.js'
import { LOCK_WAIT_MS } from './defaults.js'
import type { ClusterPaths } from './paths.js'
import { checkRecord, type InviteRecord, type PeerRecord } from './records.js'

// cluster.json: what this host knows of its cluster, written whole (atomic rename) under one
// lock (cluster.lock) by the CLI, the add-peer function and the fleet daemon. The members list
// is a cache of the replicated bucket (the daemon refreshes it), so policy and routes can be
// rendered while NATS is down and `peer ls` never needs NATS.

export interface NatsAuth {
  /** Conductor's own clients (the CLI, the daemon, the built-in functions): account CONDUCTOR. */
  user: string
  password: string
  /** The system account: JetStream server removal, server info. */
  system_user: string
  system_password: string
}

export interface ClusterState {
  version: 1
  /** The NATS cluster's name: every member's cluster block says it. */
  cluster_name: string
  /** NATS runs with a cluster block (false: a lone host, JetStream standalone). */
  clustered: boolean
  /** Records to write into the cluster's bucket once this host is connected to it (a join resets the store). */
  seeds: PeerRecord[]
  /** The members last seen in the bucket, this host included. */
  members: PeerRecord[]
  /** Added with gossip false: on this host only, never replicated. */
  local_peers: PeerRecord[]
  invites: InviteRecord[]
  nats_auth: NatsAuth
  /** What the running NATS server was last (re)started with (the daemon's, to know when a restart is due). */
  applied?: { clustered: boolean; cluster_name: string } | undefined
}

export function readState(p: ClusterPaths): ClusterState {
  let text: string
  try {
    text = readFileSync(p.state, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new PeerIdentityMissing(
        'this host has no cluster state yet: run conductor system install (it creates the ' + 'peer identity)',
        p.state
      )
    }
    throw new ClusterStateInvalid(`cannot read it: ${(err as Error).message}`, p.state)
  }
  let raw: Partial<ClusterState>
  try {
    raw = JSON.parse(text) as Partial<ClusterState>
  } catch {
    throw new ClusterStateInvalid(
      'not JSON; it is written by conductor only: restore it from a backup, or remove it ' +
        'and run conductor system install (a new cluster identity: the peers must add this host again)',
      p.state
    )
  }
  if (raw.version !== 1 || typeof raw.cluster_name !== 'string' || typeof raw.nats_auth?.password !== 'string') {
    throw new ClusterStateInvalid('not a cluster state of this version of conductor', p.state)
  }
  const records = (list: unknown, key: string): PeerRecord[] =>
    (Array.isArray(list) ? list : []).map((r, i) => checkRecord(r, `${p.state}: /${key}/${i}`))
  return {
    version: 1,
    cluster_name: raw.cluster_name,
    clustered: raw.clustered === true,
    seeds: records(raw.seeds, 'seeds'),
    members: records(raw.members, 'members'),
    local_peers: records(raw.local_peers, 'local_peers'),
    invites: Array.isArray(raw.invites) ? raw.invites : [],
    nats_auth: raw.nats_auth,
    applied: raw.applied
  }
}

export function writeState(p: ClusterPaths, s: ClusterState): void {
  mkdirSync(p.dir, { recursive: true, mode: 0o700 })
  // The temporary file is created 0600 before the rename: the passwords are never readable by others.
  writeAtomicPrivate(p.state, JSON.stringify(s, null, 2) + '\n')
}

/** writeAtomic, with the file mode 0600 from its creation. */
export function writeAtomicPrivate(file: string, content: string): void {
  mkdirSync(path.dirname(file), { recursive: true })
  const old = process.umask(0o077)
  try {
    writeAtomic(file, content)
  } finally {
    process.umask(old)
  }
  chmodSync(file, 0o600)
}

/**
 * Runs FN holding the cluster lock (waiting for it up to LOCK_WAIT_MS): the state and the
 * policy files it renders have one writer at a time. A lock left by a dead process is taken over.
 */
export async function withClusterLock<T>(p: ClusterPaths, command: string, fn: () => Promise<T> | T): Promise<T> {
  mkdirSync(path.dirname(p.lock), { recursive: true })
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      const lock = acquirePidLock(
        p.lock,
        command,
        holder =>
          new ClusterLocked(
            `held by pid ${holder?.pid ?? '?'} (${holder?.command ?? 'changing hands'}) since ${holder?.since ?? '?'}`,
            p.lock
          )
      )
      try {
        return await fn()
      } finally {
        lock.release()
      }
    } catch (err) {
      if (!(err instanceof ClusterLocked) || Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
}

/** Reads, changes and writes the state under the lock; FN returns the value to hand back. */
export async function updateState<T>(
  p: ClusterPaths,
  command: string,
  fn: (s: ClusterState) => Promise<T> | T
): Promise<T> {
  return await withClusterLock(p, command, async () => {
    const s = readState(p)
    const before = JSON.stringify(s)
    const out = await fn(s)
    if (JSON.stringify(s) !== before) writeState(p, s)
    return out
  })
}
