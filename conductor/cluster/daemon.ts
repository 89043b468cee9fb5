import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs'
import type { KV } from '@nats-io/kv'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import { isProcessAlive } from '../../cgi/index.js'
import { NATS_UNIT } from '../model/index.js'
import type { ClusterCtx } from './context.js'
import { convergeNatsFiles, convergePolicies } from './converge.js'
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_SUBJECT, REMOVAL_NOTICE_GRACE_MS, REMOVED_SUBJECT } from './defaults.js'
import { newState, selfRecord } from './identity.js'
import {
  connectLocal,
  desiredReplicas,
  jetStreamReady,
  openBuckets,
  removeServer,
  scaleBuckets,
  type Buckets
} from './nats.js'
import { liveInvites } from './policy.js'
import { checkRecord, sameRecord, type PeerRecord } from './records.js'
import { readState, updateState, type ClusterState } from './state.js'
import { writeStatus } from './status.js'

// The fleet daemon (conductor-sync.service, `conductor _ fleet-daemon`), one per host:
//   - converges this host's NATS config and policy files from its cluster state (state.ts),
//     reloading the NATS server (SIGHUP) or restarting it with a reset store when it joins or
//     leaves a cluster, and reloading the gateway when a policy changed;
//   - watches the replicated member list (bucket conductor-peers) and keeps the state's copy of
//     it, so adding C on A makes B trust and route to C too; when a member is deleted, removes
//     its server from the JetStream meta group and scales the buckets down; when THIS host is
//     deleted, it leaves: a lone standalone host again;
//   - heartbeats every second, on a core NATS subject (liveness without any stream leader:
//     `peer ls` reachability) and into the conductor-heartbeats bucket (issue 19 reads it);
//   - writes what it saw into the status file every second.
// Service sync (issue 18) and scheduling (issue 19) join as DaemonTasks: each gets the
// connection every time the daemon (re)connects, and stops when it ends.

export interface DaemonEnv {
  cc: ClusterCtx
  nc: NatsConnection
  buckets: Buckets
  /** Aborted when this connection ends (the task then returns; it is started again on the next one). */
  signal: AbortSignal
  log: (msg: string) => void
}

export interface DaemonTask {
  name: string
  start: (env: DaemonEnv) => Promise<void>
}

export interface DaemonOptions {
  tasks?: DaemonTask[]
  /** Stops the daemon (tests); SIGTERM does in the unit. */
  signal?: AbortSignal
  tickMs?: number
}

export async function runFleetDaemon(cc: ClusterCtx, o: DaemonOptions = {}): Promise<void> {
  await new FleetDaemon(cc, o).run()
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

class FleetDaemon {
  private readonly self: string
  private readonly tasks: DaemonTask[]
  private conn: { nc: NatsConnection; sys: NatsConnection; abort: AbortController; buckets: Buckets } | undefined
  private connecting = false
  private natsError: string | undefined = 'not connected yet'
  private readonly lastSeen = new Map<string, number>()
  /** The bucket's members as the watch delivered them (undefined until it did). */
  private members: Map<string, PeerRecord> | undefined
  private readonly removals = new Set<string>()
  /** Peers a member announced as deleted (conductor.removed.ID), with the deletion's revision (0: unknown). */
  private readonly noticedRemoved = new Map<string, number>()
  /** Removal notices this daemon published, flushed and waited for: the NATS reload waits for them. */
  private announcing: Promise<unknown> | undefined
  private leaving = false
  private applyTimer: NodeJS.Timeout | undefined
  private restartFailedAt = 0
  private lastScale = 0
  /** The watch delivered its first values (until then `members` may be partial: no scaling). */
  private snapshotDone = false
  /** Last revision of the member list the watch delivered, and when the watchdog last saw it move. */
  private watched = { revision: 0, checkedAt: 0, behindSince: 0 }
  private restartWatch: (() => void) | undefined
  private readonly logged = new Map<string, number>()

  constructor(
    private readonly cc: ClusterCtx,
    private readonly o: DaemonOptions
  ) {
    this.self = cc.identity.id
    this.tasks = o.tasks ?? []
  }

  async run(): Promise<void> {
    this.cc.log(`fleet daemon of ${this.self} (${this.cc.identity.hostname}) starting`)
    const tick = this.o.tickMs ?? 500
    // The status (peer ls's liveness) on a timer of its own: a tick can wait seconds on NATS
    // (a stream without its leader), and a status that old reads as "daemon not running".
    const status = setInterval(() => {
      try {
        this.writeStatusNow()
      } catch (err) {
        this.warn('status', (err as Error).message)
      }
    }, 1000)
    while (this.o.signal?.aborted !== true) {
      try {
        await this.tick()
      } catch (err) {
        this.warn('tick', `${(err as Error).message}`)
      }
      await sleep(tick)
    }
    clearInterval(status)
    this.disconnect()
    if (this.applyTimer !== undefined) clearTimeout(this.applyTimer)
  }

  /** Converge files, connect when needed, write the status. */
  private async tick(): Promise<void> {
    await this.convergeLocal()
    if (this.conn === undefined && !this.connecting) await this.connect()
    if (this.conn !== undefined && this.removals.size === 0 && Date.now() - this.lastScale > 5000)
      await this.scale(false)
    if (this.conn !== undefined) await this.watchdog(this.conn.buckets.peers)
    this.writeStatusNow()
  }

  private writeStatusNow(): void {
    const s = readState(this.cc.identity.paths)
    writeStatus(this.cc.identity.paths.status, {
      updated_at: Date.now(),
      pid: process.pid,
      nats: {
        ok: this.conn !== undefined,
        error: this.natsError,
        clustered: s.clustered,
        cluster_name: s.cluster_name
      },
      last_seen: Object.fromEntries(this.lastSeen)
    })
  }

  /** Everything local: the state's members from the watch, expired invites out, NATS files and policies. */
  private async convergeLocal(): Promise<void> {
    await updateState(this.cc.identity.paths, 'conductor fleet daemon', async s => {
      if (this.leaving) {
        this.leaving = false
        this.cc.log(`${this.self} was removed from cluster ${s.cluster_name}: leaving it, a lone host again`)
        Object.assign(s, { ...newState(), nats_auth: s.nats_auth, applied: s.applied })
        this.members = undefined
      } else if (this.members !== undefined) {
        s.members = [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : 1))
      }
      s.invites = liveInvites(s.invites, this.cc.now())
      // Trust first: a restart of the NATS server (a join) takes seconds, a policy milliseconds.
      const written = await convergePolicies(this.cc, s)
      if (written.length > 0) this.cc.log(`policies written: ${written.join(', ')} (gateway reloaded)`)
      // A removed member hears of it over its route before this host's reload closes that route.
      while (this.announcing !== undefined) {
        const a = this.announcing
        await a
        if (this.announcing === a) this.announcing = undefined
      }
      const action = convergeNatsFiles(this.cc.identity, s)
      if (action === 'restart') await this.restartNats(s)
      else if (action === 'reload') this.reloadNats()
    })
  }

  /**
   * Joining or leaving a cluster: the server starts over with an empty store (the lone host's
   * store holds nothing the cluster needs: its own record, re-written from the seeds).
   */
  private async restartNats(s: ClusterState): Promise<void> {
    if (Date.now() - this.restartFailedAt < 10_000) return
    const p = this.cc.identity.paths
    this.cc.log(
      `restarting the NATS server ${s.clustered ? `into cluster ${s.cluster_name}` : 'standalone'} with a reset store`
    )
    this.disconnect()
    try {
      await this.cc.systemd.stop([NATS_UNIT])
      if (existsSync(p.natsStore)) {
        const aside = `${p.natsStore}.reset-${process.pid}`
        renameSync(p.natsStore, aside)
        rmSync(aside, { recursive: true, force: true })
      }
      await this.cc.systemd.start([NATS_UNIT])
      s.applied = { clustered: s.clustered, cluster_name: s.cluster_name }
    } catch (err) {
      this.restartFailedAt = Date.now()
      this.natsError = `cannot restart ${NATS_UNIT}: ${(err as Error).message}`
      this.warn('restart', this.natsError)
    }
  }

  /** SIGHUP to the running server (its pid file): it re-reads routes, pins and CA without a restart. */
  private reloadNats(): void {
    let pid = 0
    try {
      pid = Number(readFileSync(this.cc.identity.paths.natsPid, 'utf8').trim())
    } catch {
      return
    }
    if (pid > 0 && isProcessAlive(pid)) {
      try {
        process.kill(pid, 'SIGHUP')
      } catch (err) {
        this.warn('reload', `SIGHUP to nats-server ${pid}: ${(err as Error).message}`)
      }
    }
  }

  private async connect(): Promise<void> {
    this.connecting = true
    const abort = new AbortController()
    let nc: NatsConnection | undefined
    let sys: NatsConnection | undefined
    try {
      const n = { clientPort: this.cc.identity.clientPort, auth: readState(this.cc.identity.paths).nats_auth }
      nc = await connectLocal(n, { name: `conductor-sync ${this.self}` })
      sys = await connectLocal(n, { name: `conductor-sync ${this.self} (system)`, system: true })
      await jetStreamReady(nc)
      const s = readState(this.cc.identity.paths)
      const buckets = await openBuckets(nc, routeable([...s.members, ...s.seeds, selfRecord(this.cc.identity)]))
      await this.writeSeeds(buckets.peers, s)
      this.conn = { nc, sys, abort, buckets }
      this.natsError = undefined
      this.cc.log(`connected to NATS (${s.clustered ? `cluster ${s.cluster_name}` : 'standalone'})`)
      const closed = (): void => {
        if (this.conn?.nc !== nc) return
        this.natsError = 'connection to the NATS server lost'
        this.disconnect()
      }
      void nc.closed().then(closed)
      void sys.closed().then(closed)
      this.heartbeat(nc, buckets.heartbeats, abort.signal)
      void this.watch(buckets.peers, abort.signal)
      for (const task of this.tasks) {
        void task
          .start({ cc: this.cc, nc, buckets, signal: abort.signal, log: this.cc.log })
          .catch(err => this.warn(`task ${task.name}`, (err as Error).message))
      }
    } catch (err) {
      this.natsError = (err as Error).message
      this.warn('connect', this.natsError)
      await nc?.close().catch(() => {})
      await sys?.close().catch(() => {})
    } finally {
      this.connecting = false
    }
  }

  private disconnect(): void {
    const c = this.conn
    if (c === undefined) return
    this.conn = undefined
    this.snapshotDone = false
    this.watched = { revision: 0, checkedAt: 0, behindSince: 0 }
    c.abort.abort()
    void c.nc.close().catch(() => {})
    void c.sys.close().catch(() => {})
  }

  /**
   * After a join, the records this host knew (the host it joined through, the members it was
   * told about) and its own go into the cluster's bucket, only where a key is new: a record
   * someone deleted meanwhile is not brought back. Its own record is also written over a
   * deletion while a join is in progress (a host removed once and invited again).
   */
  private async writeSeeds(kv: KV, s: ClusterState): Promise<void> {
    const self = selfRecord(this.cc.identity)
    const own = await kv.get(this.self)
    const joining = s.seeds.length > 0
    if (own === null || (joining && own.operation !== 'PUT')) {
      await kv.put(this.self, JSON.stringify({ ...self, added_by: this.self, added_at: new Date().toISOString() }))
    } else if (own.operation === 'PUT') {
      // Keep its own record current (a new hostname, a new route certificate), the rest as the cluster set it.
      const current = checkRecord(own.json(), `${this.self}`)
      const next = {
        ...current,
        hostname: self.hostname,
        route: self.route,
        public_key: self.public_key,
        route_cert: self.route_cert
      }
      if (!sameRecord(current, next)) await kv.put(this.self, JSON.stringify(next))
    }
    for (const r of s.seeds) {
      if (r.id === this.self) continue
      if ((await kv.get(r.id)) === null) await kv.create(r.id, JSON.stringify(r)).catch(() => {})
    }
    if (joining) {
      const written = new Set(s.seeds.map(r => r.id))
      await updateState(this.cc.identity.paths, 'conductor fleet daemon', st => {
        st.members = [...new Map([...st.members, ...st.seeds].map(r => [r.id, r])).values()]
        st.seeds = st.seeds.filter(r => !written.has(r.id))
      })
    }
  }

  /**
   * Watches the member list. The watch is an ordered consumer on the bucket's stream: when that
   * stream's leader moves (a scale, a host lost), nats.js may leave it waiting without an end;
   * the watchdog (below) then starts a new one, which delivers the current values again.
   */
  private async watch(kv: KV, signal: AbortSignal): Promise<void> {
    for (;;) {
      const again = new AbortController()
      this.restartWatch = () => again.abort()
      const stop = (): void => again.abort()
      signal.addEventListener('abort', stop)
      try {
        const iter = await kv.watch()
        again.signal.addEventListener('abort', () => iter.stop())
        const members = new Map<string, PeerRecord>()
        const previous = this.members
        let snapshot = true
        for await (const e of iter) {
          this.watched.revision = Math.max(this.watched.revision, e.revision)
          if (e.operation === 'PUT') {
            try {
              members.set(e.key, checkRecord(e.json(), `conductor-peers/${e.key}`))
            } catch (err) {
              this.warn(`record ${e.key}`, `ignored: ${(err as Error).message}`)
            }
          } else {
            // A live deletion, or one found while re-reading after a restart of the watch.
            const was = members.delete(e.key) || (snapshot && previous?.has(e.key) === true)
            if (e.key === this.self) {
              // Deleted while it was a member (or found deleted at a start with no join pending): removed.
              if (e.isUpdate ? was : previous === undefined || was) this.leaving = true
            } else if (was) {
              this.removals.add(e.key)
              this.announceRemoval(e.key, e.revision)
            }
          }
          if (e.isUpdate) {
            snapshot = false
            this.snapshotDone = true
          }
          // Published once the first values are all in: a partial list would drop members for a moment.
          const noticed = this.noticedRemoved.get(e.key)
          if (noticed !== undefined && (e.operation !== 'PUT' || (noticed > 0 && e.revision > noticed))) {
            this.noticedRemoved.delete(e.key)
          }
          if (!snapshot) {
            // A deletion some member announced and this watch has not reached yet stays out.
            this.members = new Map([...members].filter(([id]) => !this.noticedRemoved.has(id)))
            this.scheduleApply()
          }
        }
      } catch (err) {
        if (!signal.aborted && !again.signal.aborted) this.warn('watch', (err as Error).message)
      } finally {
        signal.removeEventListener('abort', stop)
      }
      if (signal.aborted) return
      if (!again.signal.aborted) {
        // The watch ended by itself (connection lost, stream gone): reconnect from scratch.
        this.natsError = 'member list watch ended'
        this.disconnect()
        return
      }
      this.cc.log('member list watch restarted (it fell behind the bucket)')
    }
  }

  /** Every 2 s: a watch behind the bucket's last revision for more than 3 s is started again. */
  private async watchdog(kv: KV): Promise<void> {
    const now = Date.now()
    if (now - this.watched.checkedAt < 2000) return
    this.watched.checkedAt = now
    let last = 0
    try {
      last = (await kv.status()).streamInfo.state.last_seq
    } catch {
      return
    }
    if (last <= this.watched.revision) {
      this.watched.behindSince = 0
      return
    }
    if (this.watched.behindSince === 0) {
      this.watched.behindSince = now
      return
    }
    if (now - this.watched.behindSince > 3000) {
      this.watched.behindSince = 0
      this.restartWatch?.()
    }
  }

  /** Members changed: converge soon (a burst of entries gives one converge). */
  private scheduleApply(): void {
    if (this.applyTimer !== undefined) return
    this.applyTimer = setTimeout(() => {
      this.applyTimer = undefined
      void this.apply().catch(err => this.warn('apply', (err as Error).message))
    }, 20)
  }

  private async apply(): Promise<void> {
    await this.convergeLocal()
    for (const id of [...this.removals]) void this.removeFromMeta(id)
    await this.scale(false)
  }

  /** A deleted member's server out of the JetStream meta group (any host may do it first; it is idempotent). */
  private async removeFromMeta(id: string): Promise<void> {
    const deadline = Date.now() + 60_000
    while (this.removals.has(id) && Date.now() < deadline) {
      const c = this.conn
      if (c !== undefined) {
        const r = await removeServer(c.sys, id)
        if (r.ok || /not (a )?(member|found)|unknown|no (such )?peer/i.test(r.error ?? '')) {
          this.cc.log(`server ${id} ${r.ok ? 'removed from' : 'no longer in'} the JetStream meta group`)
          this.removals.delete(id)
          await this.scale(true)
          return
        }
        this.warn(`remove ${id}`, r.error ?? '')
      }
      await sleep(1000)
    }
    this.removals.delete(id)
  }

  /**
   * Buckets at min(3, members) replicas; a scale the cluster cannot do yet is tried again later.
   * Only up, except right after a removed member left the meta group (DOWN): scaling down while
   * a gone server still holds a replica could drop a live one instead.
   */
  private async scale(down: boolean): Promise<void> {
    const c = this.conn
    if (c === undefined || this.members === undefined || !this.snapshotDone || this.removals.size > 0) return
    this.lastScale = Date.now()
    try {
      const changed = await scaleBuckets(c.nc, desiredReplicas(routeable([...this.members.values()])), down)
      if (changed.length > 0) this.cc.log(`buckets scaled: ${changed.join(', ')}`)
    } catch (err) {
      this.warn('scale', (err as Error).message)
    }
  }

  private heartbeat(nc: NatsConnection, kv: KV, signal: AbortSignal): void {
    const prefix = `${HEARTBEAT_SUBJECT}.`
    const sub: Subscription = nc.subscribe(`${prefix}>`, {
      callback: (err, m) => {
        if (err === null) this.lastSeen.set(m.subject.slice(prefix.length), Date.now())
      }
    })
    const beat = (): void => {
      const at = Date.now()
      nc.publish(`${prefix}${this.self}`, JSON.stringify({ at }))
      // The bucket write needs the stream's leader: best effort, the core message already went.
      kv.put(this.self, JSON.stringify({ at, hostname: this.cc.identity.hostname })).catch(() => {})
    }
    beat()
    const timer = setInterval(beat, HEARTBEAT_INTERVAL_MS)
    const removed = nc.subscribe(`${REMOVED_SUBJECT}.*`, {
      callback: (err, m) => {
        if (err !== null) return
        const id = m.subject.slice(REMOVED_SUBJECT.length + 1)
        let rev = 0
        try {
          rev = Number((m.json() as { revision?: unknown }).revision) || 0
        } catch {
          /* no revision given */
        }
        if (id === this.self) {
          this.cc.log(`removal notice: a member says ${this.self} was deleted (revision ${rev})`)
          void this.removedNotice(rev)
        } else this.peerRemovedNotice(id, rev)
      }
    })
    signal.addEventListener('abort', () => {
      clearInterval(timer)
      sub.unsubscribe()
      removed.unsubscribe()
    })
  }

  /**
   * Tells ID it was deleted (at bucket revision REV) while its route to this host is still up:
   * the deleting command's notice may come after some members' reloads cut ID off, and ID's
   * watch is served over those routes, so without this a removed host could stay clustered,
   * alone. Every member that sees the deletion says it once; a duplicate changes nothing there.
   */
  private announceRemoval(id: string, revision: number): void {
    const nc = this.conn?.nc
    if (nc === undefined || nc.isClosed()) return
    try {
      nc.publish(`${REMOVED_SUBJECT}.${id}`, JSON.stringify({ revision }))
    } catch {
      return
    }
    // Bounded: a connection that does not answer its flush is no route to wait for.
    const sent = Promise.race([nc.flush().catch(() => {}), sleep(2000)]).then(
      async () => await sleep(REMOVAL_NOTICE_GRACE_MS)
    )
    this.announcing = Promise.all([this.announcing, sent])
  }

  /**
   * A member deleted peer ID (at bucket revision REV): dropped from the list at once, so its key
   * is refused without waiting for the watch (which lags after a stream leader moved). Any
   * member may delete any other, so the notice carries no more power than the deletion. The
   * watch's records of ID up to REV are ignored from now on; a newer PUT (added again) counts.
   */
  private peerRemovedNotice(id: string, rev: number): void {
    this.noticedRemoved.set(id, rev)
    if (this.members?.delete(id) === true) {
      this.cc.log(`a member deleted ${id} from the member list`)
      this.removals.add(id)
      this.announceRemoval(id, rev)
      this.scheduleApply()
    }
  }

  /**
   * A member says it deleted this host. Only members publish over the routes (the client port is
   * loopback with a password), and any member may delete any other, so the notice is believed,
   * unless the bucket still holds this host's record (it was added again since).
   */
  private async removedNotice(rev: number): Promise<void> {
    const kv = this.conn?.buckets.peers
    try {
      const own = await Promise.race([
        kv?.get(this.self),
        new Promise<undefined>(resolve => setTimeout(() => resolve(undefined), 1500))
      ])
      // A get may be answered by this host's own replica, behind the deletion: only a record
      // newer than the deletion (added again) outweighs the notice.
      if (own !== undefined && own !== null && own.operation === 'PUT' && (rev === 0 || own.revision > rev)) {
        this.cc.log(
          `a member said ${this.self} was deleted (revision ${rev}), but the bucket holds it at revision ${own.revision}: staying`
        )
        return
      }
    } catch {
      /* the bucket does not answer (routes closing): the notice stands */
    }
    if (this.leaving || readState(this.cc.identity.paths).clustered === false) return
    this.cc.log(`a member deleted ${this.self} from the member list`)
    this.leaving = true
    this.scheduleApply()
  }

  /** One line per kind of problem at most every 30 s: the journal stays readable in a long outage. */
  private warn(what: string, msg: string): void {
    const key = `${what}: ${msg}`
    const last = this.logged.get(key) ?? 0
    if (Date.now() - last < 30_000) return
    this.logged.set(key, Date.now())
    this.cc.log(`${what}: ${msg}`)
  }
}

/** Members NATS routes to (a key-only member, e.g. a CI, has no route): what the replica count follows. */
function routeable(records: PeerRecord[]): number {
  return new Set(records.filter(r => r.route_cert !== undefined).map(r => r.id)).size
}
