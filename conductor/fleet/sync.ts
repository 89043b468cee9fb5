import type { KvEntry } from '@nats-io/kv'
import { recoverServiceVersions } from '../archive/index.js'
import { checkServiceNameOk } from './names.js'
import { updatePlacement, writeAtomic, type ServicePlacement } from '../state/index.js'
import type { Service } from '../model/index.js'
import { desiredReplicas, readState, type ClusterCtx, type DaemonEnv, type DaemonTask } from '../cluster/index.js'
import { applyRecord, removeInstalled, type ApplyOutcome } from './apply.js'
import { placementOf } from './placement.js'
import { parseRecord, type ServiceRecord } from './record.js'
import { fetchArchive, openServiceStore, type ServiceStore } from './store.js'

// The sync task of the fleet daemon (conductor-sync.service, issue 18 item 4): watches the
// records of conductor-service-versions; for each new version, fetches the object, checks and
// installs it (apply.ts), writes where it runs (LIB/fleet/placement.json) and reconciles that
// service alone. A refused version leaves the previous one as it was and is reported (status
// file and the conductor-sync-status bucket, which `fleet ls` reads).

export interface ServiceSyncState {
  version?: string
  digest?: string
  /** Runs here (placed here and reconciled without failure). */
  running: boolean
  placed_on: string[]
  /** The last version refused here, and why (the installed version stays). */
  refused?: { version: string; error: string; code?: string }
  at: number
}

export interface SyncStatus {
  updated_at: number
  pid: number
  host: string
  /** Last record revision applied (or refused) here, and the bucket's last revision. */
  applied_revision: number
  bucket_revision: number
  /** Since when a record seen here waits to be applied (0: nothing waits). */
  pending_since: number
  /** The buckets are open and watched; when not, why (`error`). */
  bucket_open: boolean
  error?: string
  services: Record<string, ServiceSyncState>
}

export interface SyncOptions {
  cc: ClusterCtx
  servicesDir: string
  libDir: string
  statusFile: string
  /** Reconciles only these services (the CLI gives reconcile(sctx, { only })); false when something failed. */
  reconcile: (names: string[]) => Promise<boolean>
  /**
   * The scheduler (issue 19): where the installed version of a service runs (its record at
   * REVISION), decided under the service's lock; without it, placementOf's default applies.
   */
  schedule?: (service: Service, revision: number) => Promise<ServicePlacement>
  /** The scheduler: the service left the fleet (its copies leave every ledger). */
  unschedule?: (name: string) => Promise<void>
}

export function serviceSyncTask(o: SyncOptions): DaemonTask {
  const status: SyncStatus = {
    updated_at: 0,
    pid: process.pid,
    host: o.cc.identity.id,
    applied_revision: 0,
    bucket_revision: 0,
    pending_since: 0,
    bucket_open: false,
    services: {}
  }
  const write = (): void => {
    status.updated_at = Date.now()
    writeAtomic(o.statusFile, JSON.stringify(status) + '\n')
  }
  let recovered = false
  // What this process last reconciled of each service (version and placement): a watch started
  // again delivers every record again, and those unchanged need no reconcile (a few hundred ms each).
  const reconciled = new Map<string, string>()
  return {
    name: 'service-sync',
    start: async (env: DaemonEnv) => {
      if (!recovered) {
        // A daemon killed mid-unpack or mid-switch: finish or undo it before anything else.
        await recoverServiceVersions(o.servicesDir)
        recovered = true
      }
      // Until this connection ends: a bucket not creatable yet (no stream leader) or a watch that
      // ended is tried again; every record is delivered again then, and applying one is idempotent.
      // The status file says the task runs even while the buckets cannot be opened (doctor shows why).
      const alive = setInterval(() => {
        if (!status.bucket_open) write()
      }, 1000)
      try {
        while (!env.signal.aborted) {
          let pause = 2000
          try {
            const s = readState(o.cc.identity.paths)
            const routeable = new Set(s.members.filter(m => m.route_cert !== undefined).map(m => m.id)).size
            const store = await openServiceStore(env.nc, desiredReplicas(routeable))
            env.log(
              `service sync: watching conductor-service-versions (${desiredReplicas(routeable)} replica(s) wanted)`
            )
            Object.assign(status, { bucket_open: true, error: undefined })
            await new SyncLoop(o, store, env, status, write, reconciled).run()
            // The watch ended by itself (not an error): the buckets are opened again soon.
            pause = 500
          } catch (err) {
            status.error = (err as Error).message
            env.log(`service sync: ${status.error}; trying again in 2 s`)
          }
          status.bucket_open = false
          if (!env.signal.aborted) await new Promise(resolve => setTimeout(resolve, pause))
        }
      } finally {
        clearInterval(alive)
      }
    }
  }
}

/**
 * The watch is behind the bucket's last revision for this long: it is started again. A watch
 * (an ordered consumer) can go silent for good when the records stream's leader moves (the
 * buckets scaled when a member joins, a host lost); it is also started again as soon as the
 * leader is seen to move, before a record waits on it (a push right after a join waited 7 s).
 */
const WATCH_STALL_MS = 1500

class SyncLoop {
  private readonly pending = new Map<string, KvEntry>()
  private working = false
  private readonly here: string

  constructor(
    private readonly o: SyncOptions,
    private readonly store: ServiceStore,
    private readonly env: DaemonEnv,
    private readonly status: SyncStatus,
    private readonly write: () => void,
    private readonly reconciled: Map<string, string>
  ) {
    this.here = o.cc.identity.id
  }

  private seen = 0
  private behindSince = 0
  private stop: (() => void) | undefined
  /** Why the current watch is being started again (undefined: it ended by itself, or the task stops). */
  private restartReason: string | undefined
  /** The records stream's leader as first seen during the current watch. */
  private watchLeader: string | undefined

  /** Stops the current watch; run() starts a new one at once (it delivers every record again). */
  private restartWatch(reason: string): void {
    if (this.restartReason !== undefined) return
    this.restartReason = reason
    this.behindSince = 0
    this.stop?.()
  }

  async run(): Promise<void> {
    const timer = setInterval(() => {
      void this.publish()
    }, 1000)
    const abort = (): void => this.stop?.()
    this.env.signal.addEventListener('abort', abort)
    try {
      while (!this.env.signal.aborted) {
        this.restartReason = undefined
        this.watchLeader = undefined
        const iter = await this.store.records.watch()
        this.stop = () => iter.stop()
        if (this.env.signal.aborted) iter.stop()
        for await (const e of iter) {
          this.seen = Math.max(this.seen, e.revision)
          this.pending.set(e.key, e)
          if (this.status.pending_since === 0) this.status.pending_since = Date.now()
          void this.work()
        }
        // Ended by itself (the connection, the stream): the task opens the buckets again.
        if (this.restartReason === undefined) return
        this.env.log(`service sync: watch started again (${this.restartReason})`)
      }
    } finally {
      clearInterval(timer)
      this.env.signal.removeEventListener('abort', abort)
      await this.waitIdle()
    }
  }

  private async waitIdle(): Promise<void> {
    while (this.working) await new Promise(resolve => setTimeout(resolve, 50))
  }

  private async work(): Promise<void> {
    if (this.working) return
    this.working = true
    try {
      while (this.pending.size > 0 && !this.env.signal.aborted) {
        const [key, e] = this.pending.entries().next().value as [string, KvEntry]
        this.pending.delete(key)
        await this.applyEntry(e)
        this.status.applied_revision = Math.max(this.status.applied_revision, e.revision)
      }
      this.status.pending_since = 0
    } finally {
      this.working = false
      await this.publish()
    }
  }

  private async applyEntry(e: KvEntry): Promise<void> {
    const name = e.key
    const log = this.env.log
    if (!checkServiceNameOk(name)) {
      log(`service sync: key "${name}" refused: not a plain service name`)
      return
    }
    if (e.operation !== 'PUT') {
      const r = await removeInstalled(this.o.servicesDir, name)
      await this.o.unschedule?.(name).catch(err => log(`service sync: ${name}: ${(err as Error).message}`))
      await this.setPlacement(name, undefined)
      delete this.status.services[name]
      this.reconciled.delete(name)
      if (r.outcome === 'removed') {
        log(`service sync: ${name} removed from the fleet: removed here`)
        await this.o.reconcile([name])
      }
      return
    }
    let record: ServiceRecord
    try {
      record = parseRecord(name, e.json())
    } catch (err) {
      log(`service sync: ${(err as Error).message}`)
      return
    }
    const state: ServiceSyncState = this.status.services[name] ?? { running: false, placed_on: [], at: Date.now() }
    this.status.services[name] = state
    let outcome: ApplyOutcome
    const started = Date.now()
    try {
      const applied = await applyRecord(
        { servicesDir: this.o.servicesDir, fetch: async r => await fetchArchive(this.store, r) },
        record
      )
      outcome = applied.outcome
      const installed = Date.now()
      const placement =
        applied.service !== undefined && this.o.schedule !== undefined
          ? await this.o.schedule(applied.service, e.revision)
          : placementOf(applied.service, record)
      const override = await this.setPlacement(name, placement)
      const runsHere = override === 'enabled' || (override !== 'disabled' && placement.hosts.includes(this.here))
      Object.assign(state, {
        version: record.version,
        digest: record.digest,
        placed_on: placement.hosts,
        at: Date.now()
      })
      delete state.refused
      const done = `${record.digest} ${placement.source}:${placement.hosts.join(',')}`
      let ok = true
      if (applied.fresh === true && !runsHere) {
        // New here and placed elsewhere: no unit of it exists, none is to start. A reconcile
        // (a load of every service, the units observed) would change nothing: 100 services
        // pushed at once cost every host 100 of them.
        this.reconciled.set(name, done)
      } else if (outcome !== 'unchanged' || this.reconciled.get(name) !== done) {
        ok = await this.o.reconcile([name])
        if (ok) this.reconciled.set(name, done)
        else this.reconciled.delete(name)
      }
      state.running = ok && placement.hosts.includes(this.here)
      if (outcome !== 'unchanged') {
        // Where a push's time goes on each host: waiting (the record's own time, as this clock
        // reads it), fetching and installing, then reconciling.
        log(
          `service sync: ${name} ${outcome} at version ${record.version} in ${installed - started} ms ` +
            `(record ${started - e.created.getTime()} ms old; reconciled in ${Date.now() - installed} ms); ` +
            `runs on ${placement.hosts.join(', ')}${ok ? '' : ' (reconcile failed, see above)'}`
        )
      }
    } catch (err) {
      const error = (err as Error).message
      const code = (err as { code?: unknown }).code
      if (typeof code !== 'string' || !code.startsWith('CND_')) {
        // Not a refusal of the version (a fetch timed out, the bucket's leader moved): tried
        // again soon unless a newer record came meanwhile. A timeout has waited 5 s already (seen
        // on the first fetch after a join, while the cluster's peers settle): 0.5 s more, not 2.
        log(`service sync: ${name} version ${record.version} not applied yet (${error}): trying again in 0.5 s`)
        setTimeout(() => {
          if (this.env.signal.aborted || this.pending.has(name)) return
          this.pending.set(name, e)
          if (this.status.pending_since === 0) this.status.pending_since = Date.now()
          void this.work()
        }, 500)
        return
      }
      state.refused = { version: record.version, error, code: (err as { code?: string }).code }
      state.at = Date.now()
      log(`service sync: ${name} version ${record.version} refused, the installed version stays: ${error}`)
    }
  }

  /**
   * Writes where NAME runs (never over a newer scheduler placement the scheduler's own watch
   * wrote meanwhile); returns this host's own word on it (the enable/disable override), if any.
   */
  private async setPlacement(
    name: string,
    p: ServicePlacement | undefined
  ): Promise<'enabled' | 'disabled' | undefined> {
    return await updatePlacement(this.o.libDir, this.here, 'conductor fleet daemon (service sync)', file => {
      file.here = this.here
      const cur = file.services[name]?.revision
      if (p === undefined) delete file.services[name]
      else if (cur === undefined || (p.revision ?? 0) >= cur) file.services[name] = p
      return file.overrides?.[name]
    })
  }

  private async publish(): Promise<void> {
    try {
      const info = (await this.store.records.status()).streamInfo
      this.status.bucket_revision = info.state.last_seq
      const leader = info.cluster?.leader
      if (leader !== undefined && leader !== '') {
        if (this.watchLeader === undefined) this.watchLeader = leader
        else if (leader !== this.watchLeader) this.restartWatch(`the records' stream leader moved to ${leader}`)
      }
    } catch {
      /* later */
    }
    if (this.status.bucket_revision > this.seen) {
      if (this.behindSince === 0) this.behindSince = Date.now()
      else if (Date.now() - this.behindSince > WATCH_STALL_MS) this.restartWatch('it fell behind the bucket')
    } else {
      this.behindSince = 0
    }
    this.write()
    await this.store.status.put(this.here, JSON.stringify(this.status)).catch(() => {})
  }
}
