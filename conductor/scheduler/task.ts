import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'
import type { KvEntry } from '@nats-io/kv'
import type { Subscription } from '@nats-io/transport-node'
import {
  clusterDefaults,
  desiredReplicas,
  readState,
  type ClusterCtx,
  type DaemonEnv,
  type DaemonTask
} from '../cluster/index.js'
import { loadAllServices, type Service } from '../model/index.js'
import { serviceDemand } from '../placement/index.js'
import { readPlacement, setServicePlacement, updatePlacement, type ServicePlacement } from '../state/index.js'
import {
  AUDIT_EVERY_MS,
  DEFAULT_DEAD_AFTER_SEC,
  PARALLEL_PLACEMENTS,
  REFRESH_MS,
  RETRY_UNPLACED_MS,
  TICK_MS
} from './defaults.js'
import { needsReplacing, type PlacementValue } from './decide.js'
import {
  openSchedulerKv,
  placementOfEntry,
  readAllPlacements,
  readLedgers,
  readPlacementKv,
  type SchedulerKv,
  type Versioned
} from './kv.js'
import { parseLedger, type LedgerEntry } from './ledger.js'
import { Liveness } from './liveness.js'
import { Orchestrator } from './orchestrator.js'

// The scheduler task of the fleet daemon (issue 19), one per host, beside service sync:
//   1. at every (re)connection, before anything else, the fence: placements newer than what
//      this host last applied are applied, and what is no longer placed here is stopped;
//   2. this machine's capacity (host.json `resources`) into its ledger record;
//   3. heartbeats heard (core NATS), placements and ledgers watched: a placement change is
//      applied here (the placement file, then a reconcile of that service, and of the services
//      that depend on it: their proxy snippets use its hosts);
//   4. every tick: copies on a dead (silent > fleet.dead_after_sec) or drained machine are
//      placed again, unplaced copies are tried again now and then, and this machine's ledger
//      is audited against the placements.
// Service sync calls `schedule` for each version it installed (the placement of that version,
// decided under the service's lock) and `unschedule` for a service that left the fleet.

export interface SchedulerOptions {
  cc: ClusterCtx
  servicesDir: string
  libDir: string
  /** Reconciles these services only; false when something failed. */
  reconcile: (names: string[]) => Promise<boolean>
  /** Renders again and registers the proxy snippets of these services (they use a moved service's hosts). */
  renderSnippets: (names: string[]) => Promise<boolean>
}

export class Scheduler {
  private live: { kv: SchedulerKv; orch: Orchestrator; signal: AbortSignal } | undefined
  private waiting: Array<() => void> = []
  private readonly placements = new Map<string, Versioned<PlacementValue>>()
  private readonly ledgers = new Map<string, LedgerEntry>()
  private liveness: Liveness
  private readonly here: string
  private readonly deadAfterMs: number
  private lastAudit = 0
  private readonly lastRetry = new Map<string, number>()

  constructor(private readonly o: SchedulerOptions) {
    this.here = o.cc.identity.id
    this.deadAfterMs = (o.cc.host.fleet?.dead_after_sec ?? DEFAULT_DEAD_AFTER_SEC) * 1000
    this.liveness = new Liveness(this.here, Date.now(), this.deadAfterMs)
  }

  task(): DaemonTask {
    return { name: 'scheduler', start: async env => await this.run(env) }
  }

  /** Where the version of SERVICE at record REVISION runs (decided now if nobody has yet). */
  async schedule(service: Service, recordRevision: number): Promise<ServicePlacement> {
    const { orch } = await this.ready()
    const name = service.name
    const demand = serviceDemand(service)
    // Placed for this record already, on machines still eligible: nothing to decide (every host
    // installs every version and asks; the first one to take the lock decided).
    const known = this.placements.get(name)
    if (known !== undefined && known.value.record_revision >= recordRevision) {
      if (needsReplacing(known.value, this.eligible(Date.now())) === undefined) return await this.fromSync(known)
    }
    for (let i = 0; ; i++) {
      const r = await orch.ensure(name, { demand, recordRevision, reason: `record revision ${recordRevision}` })
      if (r.outcome === 'written' || r.outcome === 'unchanged') {
        const newer = this.placements.get(name)
        const p = newer !== undefined && newer.revision > r.placement.revision ? newer : r.placement
        return await this.fromSync(p)
      }
      // Another host places it now: its placement arrives through the watch.
      const known = this.placements.get(name)
      if (known !== undefined && known.value.record_revision >= recordRevision) return await this.fromSync(known)
      if (i >= 100)
        throw new Error(`${name}: its lock is held by ${r.outcome === 'busy' ? r.holder : '?'}: tried again`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  /**
   * A placement sync is about to write and reconcile: applied here first but for that service's
   * own reconcile (sync does it), so the services that depend on it see it moved.
   */
  private async fromSync(p: Versioned<PlacementValue>): Promise<ServicePlacement> {
    await this.applyPlacement(p.value.service, p, this.o.cc.log, false)
    return toLocal(p)
  }

  async unschedule(name: string): Promise<void> {
    const { orch } = await this.ready()
    await orch.release(name)
  }

  // --- the task

  private async run(env: DaemonEnv): Promise<void> {
    // Until this connection ends: a step that fails (no stream leader yet, a watch that ended)
    // starts the whole sequence again, the fence first.
    while (!env.signal.aborted) {
      try {
        await this.session(env)
      } catch (err) {
        env.log(`scheduler: ${(err as Error).message}; starting again in 2 s`)
      }
      if (this.live?.signal === env.signal) this.live = undefined
      if (!env.signal.aborted) await new Promise(resolve => setTimeout(resolve, 2000))
    }
  }

  private async session(env: DaemonEnv): Promise<void> {
    const state = readState(this.o.cc.identity.paths)
    const routeable = new Set(state.members.filter(m => m.route_cert !== undefined).map(m => m.id)).size
    const kv = await openSchedulerKv(env.nc, desiredReplicas(routeable))
    // A new session: peers are given dead_after_sec from now, as after a start.
    this.liveness = new Liveness(this.here, Date.now(), this.deadAfterMs)
    const heard: Subscription = env.nc.subscribe(`${clusterDefaults.HEARTBEAT_SUBJECT}.>`, {
      callback: (err, m) => {
        if (err === null) this.liveness.beat(m.subject.slice(clusterDefaults.HEARTBEAT_SUBJECT.length + 1), Date.now())
      }
    })
    const orch = new Orchestrator({
      kv,
      self: this.here,
      alive: peer => this.isMember(peer) && this.liveness.alive(peer, Date.now()),
      log: env.log,
      machines: () => this.machineIds(),
      placements: () => this.placements
    })
    const stop = new AbortController()
    const abort = (): void => stop.abort()
    env.signal.addEventListener('abort', abort)
    let timer: NodeJS.Timeout | undefined
    try {
      await this.fence(kv, env)
      await orch.writeMachine(this.here, { capacity: this.o.cc.host.resources ?? {} })
      await this.refresh(kv, env, true)
      this.live = { kv, orch, signal: env.signal }
      for (const w of this.waiting.splice(0)) w()
      timer = setInterval(() => void this.tick(kv, orch, env), TICK_MS)
      // Watches deliver changes at once; refresh() (every tick) reads again what a stalled watch
      // missed (after a stream leader moved, a watch may wait without an end).
      await Promise.race([
        this.watch(kv.placements, stop.signal, async e => await this.onPlacement(e, env)),
        this.watch(kv.ledger, stop.signal, e => this.onLedger(e)),
        new Promise<void>(resolve => stop.signal.addEventListener('abort', () => resolve()))
      ])
      if (!env.signal.aborted) throw new Error('a watch ended')
    } finally {
      stop.abort()
      env.signal.removeEventListener('abort', abort)
      clearInterval(timer)
      heard.unsubscribe()
    }
  }

  private onLedger(e: KvEntry): void {
    const l = e.operation === 'PUT' ? parseLedger(e.key, e.json()) : undefined
    if (l === undefined) this.ledgers.delete(e.key)
    else this.ledgers.set(e.key, l)
    this.seen.ledger = Math.max(this.seen.ledger, e.revision)
  }

  private readonly seen = { placements: 0, ledger: 0 }
  private lastRefresh = 0

  /** Reads every placement and ledger again when their buckets moved past what the watches delivered. */
  private async refresh(kv: SchedulerKv, env: DaemonEnv, force = false): Promise<void> {
    const now = Date.now()
    if (!force && now - this.lastRefresh < REFRESH_MS) return
    this.lastRefresh = now
    const [p, l] = await Promise.all([kv.placements.status(), kv.ledger.status()])
    if (force || l.streamInfo.state.last_seq > this.seen.ledger) {
      const ledgers = await readLedgers(kv, force ? undefined : this.machineIds())
      for (const key of [...this.ledgers.keys()]) if (!ledgers.has(key)) this.ledgers.delete(key)
      for (const [key, v] of ledgers) this.ledgers.set(key, v.value)
      this.seen.ledger = Math.max(this.seen.ledger, l.streamInfo.state.last_seq)
    }
    if (force || p.streamInfo.state.last_seq > this.seen.placements) {
      // The services known (watched, installed here) by key; the whole bucket listed only at
      // a session's start (a listing is a consumer the meta leader must create).
      const all = force ? await readAllPlacements(kv) : await this.readKnownPlacements(kv)
      for (const [name, v] of all) {
        if ((this.placements.get(name)?.revision ?? 0) < v.revision) await this.applyPlacement(name, v, env.log)
      }
      this.seen.placements = Math.max(this.seen.placements, p.streamInfo.state.last_seq)
    }
  }

  private async ready(): Promise<{ kv: SchedulerKv; orch: Orchestrator }> {
    for (let i = 0; this.live === undefined || this.live.signal.aborted; i++) {
      if (i >= 60) throw new Error('the scheduler is not connected to its buckets yet: tried again')
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, 500)
        this.waiting.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
    return this.live
  }

  /**
   * Before anything else on a (re)connection: every placement newer than the one this host
   * applied replaces it, and the services no longer placed here are stopped first of all (a
   * host back from the dead must not run what now runs elsewhere).
   */
  private async fence(kv: SchedulerKv, env: DaemonEnv): Promise<void> {
    const all = await readAllPlacements(kv)
    const stop: string[] = []
    await updatePlacement(this.o.libDir, this.here, 'conductor fleet daemon (scheduler)', file => {
      for (const [name, p] of all) {
        this.placements.set(name, p)
        const cur = file.services[name]
        if (cur !== undefined && (cur.revision ?? 0) >= p.revision) continue
        if (cur?.hosts.includes(this.here) === true && !p.value.hosts.includes(this.here)) stop.push(name)
        file.services[name] = toLocal(p)
      }
      file.here = this.here
      file.addresses = this.addresses()
    })
    if (stop.length > 0) {
      env.log(`scheduler: no longer placed here, stopped before anything else: ${stop.join(', ')}`)
      await this.o.reconcile(stop.filter(n => this.installed(n)))
    }
  }

  private async watch(
    kv: SchedulerKv['placements'],
    signal: AbortSignal,
    on: (e: KvEntry) => void | Promise<void>
  ): Promise<void> {
    const iter = await kv.watch()
    const stop = (): void => iter.stop()
    signal.addEventListener('abort', stop)
    try {
      for await (const e of iter) {
        try {
          await on(e)
        } catch (err) {
          this.o.cc.log(`scheduler: ${e.key}: ${(err as Error).message}`)
        }
      }
    } finally {
      signal.removeEventListener('abort', stop)
    }
  }

  private async onPlacement(e: KvEntry, env: DaemonEnv): Promise<void> {
    this.seen.placements = Math.max(this.seen.placements, e.revision)
    const p = placementOfEntry(e)
    if (p !== undefined) {
      await this.applyPlacement(e.key, p, env.log)
      return
    }
    if (e.operation === 'PUT') return
    this.placements.delete(e.key)
    // Released (the service left the fleet): it runs nowhere; sync removes its directory.
    const before = readPlacement(this.o.libDir)?.services[e.key]
    const gone: ServicePlacement = { hosts: [], source: 'scheduler', revision: e.revision }
    if (!(await setServicePlacement(this.o.libDir, this.here, e.key, gone))) return
    if (before?.hosts.includes(this.here) === true && this.installed(e.key)) this.reconcileSoon(e.key)
  }

  /** A placement newer than the one applied here: the placement file, then a reconcile when it concerns this host. */
  private async applyPlacement(
    name: string,
    p: Versioned<PlacementValue>,
    log: (msg: string) => void,
    reconcileSelf = true
  ): Promise<void> {
    const cached = this.placements.get(name)
    if (cached === undefined || cached.revision < p.revision) this.placements.set(name, p)
    // Read, compared and written under the file's lock (the sync step writes it too).
    const step = await updatePlacement(this.o.libDir, this.here, 'conductor fleet daemon (scheduler)', file => {
      const before = file.services[name]
      const cur = before?.revision
      if (cur !== undefined && p.revision <= cur) return { before, changed: false }
      file.here = this.here
      file.services[name] = toLocal(p)
      file.addresses = this.addresses()
      return { before, changed: true }
    })
    if (!step.changed) return
    const before = step.before
    const wasHere = before?.hosts.includes(this.here) === true
    const isHere = p.value.hosts.includes(this.here)
    if (reconcileSelf && wasHere !== isHere && this.installed(name)) {
      log(`scheduler: ${name} ${isHere ? 'placed here: starting it' : 'placed elsewhere: stopping it'}`)
      this.reconcileSoon(name)
    }
    if ((before?.hosts ?? []).join() !== p.value.hosts.join()) {
      const dependents = await this.dependentsOf(name)
      if (dependents.length > 0) {
        log(`scheduler: ${name} moved: proxy snippets of ${dependents.join(', ')} rendered again`)
        void this.o.renderSnippets(dependents)
      }
    }
  }

  private async tick(kv: SchedulerKv, orch: Orchestrator, env: DaemonEnv): Promise<void> {
    if (this.ticking || env.signal.aborted) return
    this.ticking = true
    try {
      const now = Date.now()
      const eligible = this.eligible(now)
      const work: Array<{ name: string; reason: string }> = []
      for (const [name, p] of [...this.placements]) {
        const why = needsReplacing(p.value, eligible)
        if (why === undefined) continue
        if (why === 'unplaced' && now - (this.lastRetry.get(name) ?? 0) < RETRY_UNPLACED_MS) continue
        this.lastRetry.set(name, now)
        const lost = p.value.hosts.filter(h => !eligible.has(h))
        const reason =
          why === 'lost'
            ? lost
                .map(h =>
                  this.ledgers.get(h)?.drained === true
                    ? `${h} drained`
                    : `${h} silent for ${Math.round(this.liveness.silentFor(h, now) / 100) / 10} s`
                )
                .join(', ')
            : 'unplaced copies tried again'
        work.push({ name, reason })
      }
      // Each service under its own lock, several at once: a lost machine's copies move together
      // (their ledger writes may conflict; each conflict is read again and decided again).
      const queue = [...work]
      await Promise.all(
        Array.from({ length: Math.min(PARALLEL_PLACEMENTS, queue.length) }, async () => {
          for (let w = queue.shift(); w !== undefined; w = queue.shift()) {
            const { name, reason } = w
            await orch.ensure(name, { reason }).catch(err => env.log(`scheduler: ${name}: ${(err as Error).message}`))
          }
        })
      )
      if (now - this.lastAudit > AUDIT_EVERY_MS) {
        this.lastAudit = now
        await orch.audit(this.here).catch(err => env.log(`scheduler: audit: ${(err as Error).message}`))
      }
      await this.refresh(kv, env).catch(err => env.log(`scheduler: refresh: ${(err as Error).message}`))
    } finally {
      this.ticking = false
    }
  }

  /** Reconciles NAME soon, with whatever else changed meanwhile: one reconcile for a burst of placements. */
  private reconcileSoon(name: string): void {
    this.toReconcile.add(name)
    if (this.flushTimer !== undefined) return
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined
      const names = [...this.toReconcile]
      this.toReconcile.clear()
      void this.o.reconcile(names)
    }, 20)
  }

  private readonly toReconcile = new Set<string>()
  private flushTimer: NodeJS.Timeout | undefined

  private ticking = false

  /** Machines that may hold copies now: a ledger, alive, a member, not drained. */
  private eligible(now: number): Set<string> {
    return new Set(
      [...this.ledgers.values()]
        .filter(l => l.drained !== true && this.isMember(l.host) && this.liveness.alive(l.host, now))
        .map(l => l.host)
    )
  }

  private isMember(peer: string): boolean {
    if (peer === this.here) return true
    return readState(this.o.cc.identity.paths).members.some(m => m.id === peer && m.route !== undefined)
  }

  private async readKnownPlacements(kv: SchedulerKv): Promise<Map<string, Versioned<PlacementValue>>> {
    const names = new Set([...this.placements.keys(), ...this.installedNames()])
    const read = await Promise.all([...names].map(async n => [n, await readPlacementKv(kv, n)] as const))
    return new Map(read.filter((r): r is [string, Versioned<PlacementValue>] => r[1] !== undefined))
  }

  private installedNames(): string[] {
    try {
      return readdirSync(this.o.servicesDir).filter(n => !n.startsWith('.'))
    } catch {
      return []
    }
  }

  /** Members (with a route), this host, and every machine whose ledger was seen. */
  private machineIds(): string[] {
    const s = readState(this.o.cc.identity.paths)
    return [
      ...new Set([this.here, ...s.members.filter(m => m.route !== undefined).map(m => m.id), ...this.ledgers.keys()])
    ]
  }

  private addresses(): Record<string, string> {
    const s = readState(this.o.cc.identity.paths)
    const out: Record<string, string> = { [this.here]: this.o.cc.identity.hostname }
    for (const m of s.members) out[m.id] = m.hostname
    return out
  }

  private installed(name: string): boolean {
    return existsSync(path.join(this.o.servicesDir, name))
  }

  private async dependentsOf(name: string): Promise<string[]> {
    const entries = await loadAllServices(this.o.servicesDir)
    return entries.filter(e => e.service?.fleet?.depends_on?.includes(name) === true).map(e => e.name)
  }
}

function toLocal(p: Versioned<PlacementValue>): ServicePlacement {
  return {
    hosts: [...p.value.hosts],
    source: p.value.source,
    revision: p.revision,
    ...(p.value.unplaced !== undefined ? { unplaced: p.value.unplaced.reason } : {})
  }
}
