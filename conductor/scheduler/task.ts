import { existsSync } from 'node:fs'
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
import { readPlacement, setServicePlacement, writePlacement, type ServicePlacement } from '../state/index.js'
import { AUDIT_EVERY_MS, DEFAULT_DEAD_AFTER_SEC, RETRY_UNPLACED_MS, TICK_MS } from './defaults.js'
import { needsReplacing, type PlacementValue } from './decide.js'
import { openSchedulerKv, placementOfEntry, readAllPlacements, type SchedulerKv, type Versioned } from './kv.js'
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
  /** A full reconcile (Caddy converged too: proxy snippets that use a moved service rendered again). */
  reconcileAll: () => Promise<boolean>
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
    for (let i = 0; ; i++) {
      const r = await orch.ensure(name, { demand, recordRevision, reason: `record revision ${recordRevision}` })
      if (r.outcome === 'written' || r.outcome === 'unchanged') {
        const newer = this.placements.get(name)
        const p = newer !== undefined && newer.revision > r.placement.revision ? newer : r.placement
        return toLocal(p)
      }
      // Another host places it now: its placement arrives through the watch.
      const known = this.placements.get(name)
      if (known !== undefined && known.value.record_revision >= recordRevision) return toLocal(known)
      if (i >= 100)
        throw new Error(`${name}: its lock is held by ${r.outcome === 'busy' ? r.holder : '?'}: tried again`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  async unschedule(name: string): Promise<void> {
    const { orch } = await this.ready()
    await orch.release(name)
  }

  // --- the task

  private async run(env: DaemonEnv): Promise<void> {
    const state = readState(this.o.cc.identity.paths)
    const routeable = new Set(state.members.filter(m => m.route_cert !== undefined).map(m => m.id)).size
    let kv: SchedulerKv
    for (;;) {
      try {
        kv = await openSchedulerKv(env.nc, desiredReplicas(routeable))
        break
      } catch (err) {
        env.log(`scheduler: buckets not open yet (${(err as Error).message}): trying again in 2 s`)
        await new Promise(resolve => setTimeout(resolve, 2000))
        if (env.signal.aborted) return
      }
    }
    // A new connection: peers are given dead_after_sec from now, as after a start.
    this.liveness = new Liveness(this.here, Date.now(), this.deadAfterMs)
    const orch = new Orchestrator({
      kv,
      self: this.here,
      alive: peer => this.isMember(peer) && this.liveness.alive(peer, Date.now()),
      log: env.log
    })
    await this.fence(kv, env)
    await orch.writeMachine(this.here, { capacity: this.o.cc.host.resources ?? {} })
    const heard: Subscription = env.nc.subscribe(`${clusterDefaults.HEARTBEAT_SUBJECT}.>`, {
      callback: (err, m) => {
        if (err === null) this.liveness.beat(m.subject.slice(clusterDefaults.HEARTBEAT_SUBJECT.length + 1), Date.now())
      }
    })
    this.live = { kv, orch, signal: env.signal }
    for (const w of this.waiting.splice(0)) w()
    const watches = [
      this.watch(kv.placements, env, e => this.onPlacement(e, env)),
      this.watch(kv.ledger, env, e => {
        const l = e.operation === 'PUT' ? parseLedger(e.key, e.json()) : undefined
        if (l === undefined) this.ledgers.delete(e.key)
        else this.ledgers.set(e.key, l)
      })
    ]
    const timer = setInterval(() => void this.tick(orch, env), TICK_MS)
    try {
      await Promise.all(watches)
    } finally {
      clearInterval(timer)
      heard.unsubscribe()
      if (this.live?.kv === kv) this.live = undefined
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
    const file = readPlacement(this.o.libDir) ?? { here: this.here, services: {} }
    const stop: string[] = []
    for (const [name, p] of all) {
      this.placements.set(name, p)
      const cur = file.services[name]
      if (cur !== undefined && (cur.revision ?? 0) >= p.revision) continue
      if (cur?.hosts.includes(this.here) === true && !p.value.hosts.includes(this.here)) stop.push(name)
      file.services[name] = toLocal(p)
    }
    file.here = this.here
    file.addresses = this.addresses()
    writePlacement(this.o.libDir, file)
    if (stop.length > 0) {
      env.log(`scheduler: no longer placed here, stopped before anything else: ${stop.join(', ')}`)
      await this.o.reconcile(stop.filter(n => this.installed(n)))
    }
  }

  private async watch(
    kv: SchedulerKv['placements'],
    env: DaemonEnv,
    on: (e: KvEntry) => void | Promise<void>
  ): Promise<void> {
    const iter = await kv.watch()
    const stop = (): void => iter.stop()
    env.signal.addEventListener('abort', stop)
    try {
      for await (const e of iter) {
        try {
          await on(e)
        } catch (err) {
          env.log(`scheduler: ${e.key}: ${(err as Error).message}`)
        }
      }
    } finally {
      env.signal.removeEventListener('abort', stop)
    }
  }

  private async onPlacement(e: KvEntry, env: DaemonEnv): Promise<void> {
    const p = placementOfEntry(e)
    const before = readPlacement(this.o.libDir)?.services[e.key]
    if (p === undefined) {
      this.placements.delete(e.key)
      if (e.operation === 'PUT') return
      // Released (the service left the fleet): it runs nowhere; sync removes its directory.
      const gone: ServicePlacement = { hosts: [], source: 'scheduler', revision: e.revision }
      if (!setServicePlacement(this.o.libDir, this.here, e.key, gone)) return
      if (before?.hosts.includes(this.here) === true && this.installed(e.key)) await this.o.reconcile([e.key])
      return
    }
    this.placements.set(e.key, p)
    if (!setServicePlacement(this.o.libDir, this.here, e.key, toLocal(p))) return
    const file = readPlacement(this.o.libDir)
    if (file !== undefined) writePlacement(this.o.libDir, { ...file, addresses: this.addresses() })
    const wasHere = before?.hosts.includes(this.here) === true
    const isHere = p.value.hosts.includes(this.here)
    if (wasHere !== isHere && this.installed(e.key)) {
      env.log(`scheduler: ${e.key} ${isHere ? 'placed here: starting it' : 'placed elsewhere: stopping it'}`)
      await this.o.reconcile([e.key])
    }
    if ((before?.hosts ?? []).join() !== p.value.hosts.join()) {
      const dependents = await this.dependentsOf(e.key)
      if (dependents.length > 0) {
        env.log(`scheduler: ${e.key} moved: proxy snippets of ${dependents.join(', ')} rendered again`)
        await this.o.reconcileAll()
      }
    }
  }

  private async tick(orch: Orchestrator, env: DaemonEnv): Promise<void> {
    if (this.ticking || env.signal.aborted) return
    this.ticking = true
    try {
      const now = Date.now()
      const eligible = new Set(
        [...this.ledgers.values()]
          .filter(l => l.drained !== true && this.isMember(l.host) && this.liveness.alive(l.host, now))
          .map(l => l.host)
      )
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
        await orch.ensure(name, { reason }).catch(err => env.log(`scheduler: ${name}: ${(err as Error).message}`))
      }
      if (now - this.lastAudit > AUDIT_EVERY_MS) {
        this.lastAudit = now
        await orch.audit(this.here).catch(err => env.log(`scheduler: audit: ${(err as Error).message}`))
      }
    } finally {
      this.ticking = false
    }
  }

  private ticking = false

  private isMember(peer: string): boolean {
    if (peer === this.here) return true
    return readState(this.o.cc.identity.paths).members.some(m => m.id === peer && m.route !== undefined)
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
