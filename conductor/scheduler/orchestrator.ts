import type { Demand, Units } from '../placement/index.js'
import { casWrite, leaderGet } from '../fleet/index.js'
import { LEASE_MS, LOCK_SKEW_MS, MAX_ATTEMPTS } from './defaults.js'
import { decideHosts, demandOf, demandUnits, placementDemand, samePlacement, type PlacementValue } from './decide.js'
import {
  casPutStrict,
  isConflict,
  readLedger,
  readLedgers,
  readPlacementKv,
  readAllPlacements,
  type SchedulerKv,
  type Versioned
} from './kv.js'
import { leaseStep, newLease, parseLock, renewed, type LockValue } from './lease.js'
import { auditLedger, emptyLedger, withService, type LedgerEntry, type PlacedHere } from './ledger.js'

// The orchestrator every host runs (issue 19 item 2, the seed's "take a lock on a service
// definition, evaluate where it should be scheduled, then release the lock"): for one service,
// take its lock, read its placement and every machine's ledger, decide (decide.ts), write the
// ledgers that change by compare-and-set on their revisions (a conflict: read again, decide
// again), then the placement by compare-and-set on its own revision, and release the lock.
// Only I/O and sequencing here; every decision is in the pure modules beside it.

export interface OrchestratorOptions {
  kv: SchedulerKv
  /** This machine's peer id. */
  self: string
  /** Lock holder name (default: the peer id): a CLI and a daemon on one host hold locks apart. */
  holder?: string
  /** Machines that may receive copies: alive members (the caller knows heartbeats and members). */
  alive: (peer: string) => boolean
  log: (msg: string) => void
  now?: () => number
  leaseMs?: number
  /** The machines known (members, ledgers seen): ledgers are read by key, not listed (cheaper). */
  machines?: () => Iterable<string>
  /** The placements known (a daemon's watch): the audit reads them there, not from the bucket. */
  placements?: () => ReadonlyMap<string, Versioned<PlacementValue>>
}

export type EnsureResult =
  | { outcome: 'written' | 'unchanged'; placement: Versioned<PlacementValue> }
  | { outcome: 'busy'; holder: string }
  | { outcome: 'none' }

export interface EnsureRequest {
  /** The service's demand as its current version declares it (absent: the placement's own). */
  demand?: Demand
  /** Revision of the service record the demand comes from: an older one never replaces a newer. */
  recordRevision?: number
  reason: string
}

export class Orchestrator {
  /** Ledger compare-and-set conflicts met (each one: read again, decided again). */
  conflicts = 0
  private readonly holder: string
  private readonly now: () => number
  private readonly leaseMs: number

  constructor(private readonly o: OrchestratorOptions) {
    this.holder = o.holder ?? o.self
    this.now = o.now ?? Date.now
    this.leaseMs = o.leaseMs ?? LEASE_MS
  }

  /** Places SERVICE (or checks its placement still holds) under its lock. */
  async ensure(service: string, req: EnsureRequest): Promise<EnsureResult> {
    const lock = await this.lock(service)
    if ('holder' in lock) return { outcome: 'busy', holder: lock.holder }
    try {
      return await this.decideAndWrite(service, req, lock)
    } finally {
      await this.unlock(service, lock)
    }
  }

  /** The service left the fleet: its copies leave every ledger and its placement is deleted. */
  async release(service: string): Promise<boolean> {
    const lock = await this.lock(service)
    if ('holder' in lock) return false
    try {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (await this.writeLedgers(service, [], undefined)) break
      }
      const p = await readPlacementKv(this.o.kv, service)
      if (p !== undefined) {
        // A deletion marker written by the same compare-and-set as every placement write.
        await casWrite(this.o.kv.cas.placements, service, p.revision, null)
        this.o.log(`scheduler: ${service} left the fleet: released from ${p.value.hosts.join(', ') || 'no host'}`)
      }
      return true
    } finally {
      await this.unlock(service, lock)
    }
  }

  /** Writes this machine's capacity (and drained flag when given) into its ledger record. */
  async writeMachine(host: string, change: { capacity?: Units; drained?: boolean }): Promise<LedgerEntry> {
    for (let attempt = 0; ; attempt++) {
      const cur = await readLedger(this.o.kv, host)
      const base = cur?.value ?? emptyLedger(host, this.holder, this.now())
      const next: LedgerEntry = {
        ...base,
        ...(change.capacity !== undefined ? { capacity: { ...change.capacity } } : {}),
        updated_at: this.now(),
        by: this.holder
      }
      if (change.drained === true) next.drained = true
      if (change.drained === false) delete next.drained
      const same =
        cur !== undefined &&
        JSON.stringify(cur.value.capacity) === JSON.stringify(next.capacity) &&
        cur.value.drained === next.drained
      if (same) return cur.value
      try {
        await casPutStrict(this.o.kv.cas.ledger, host, next, cur?.revision ?? 0)
        return next
      } catch (err) {
        if (!isConflict(err) || attempt >= MAX_ATTEMPTS) throw err
      }
    }
  }

  /**
   * A machine's ledger against the placements (the placements are right): what it lacks is
   * added, what it has too many is removed, and that is logged. Services whose lock is held
   * are skipped (a placement in progress writes its ledgers before its placement).
   */
  async audit(host: string): Promise<{ added: string[]; removed: string[] }> {
    const cur = await readLedger(this.o.kv, host)
    if (cur === undefined) return { added: [], removed: [] }
    const placements = new Map(this.o.placements?.() ?? (await readAllPlacements(this.o.kv)))
    const view = new Map<string, PlacedHere>(
      [...placements].map(([name, p]) => [name, { hosts: p.value.hosts, demand: p.value.demand }])
    )
    let diff = auditLedger(cur.value, view)
    if (this.o.placements !== undefined && diff.add.length + diff.remove.length > 0) {
      // A watched copy lags behind the bucket (a placement just written): the disagreeing
      // services are read again from the bucket before anything is changed.
      for (const name of [...diff.add, ...diff.remove]) {
        const fresh = await readPlacementKv(this.o.kv, name)
        if (fresh === undefined) view.delete(name)
        else {
          view.set(name, { hosts: fresh.value.hosts, demand: fresh.value.demand })
          placements.set(name, fresh)
        }
      }
      diff = auditLedger(cur.value, view)
    }
    const busy = new Set<string>()
    for (const name of [...diff.add, ...diff.remove]) if (await this.lockLive(name)) busy.add(name)
    const add = diff.add.filter(n => !busy.has(n))
    const remove = diff.remove.filter(n => !busy.has(n))
    if (add.length === 0 && remove.length === 0) return { added: [], removed: [] }
    const services = { ...cur.value.services }
    for (const n of add) services[n] = demandUnits(demandOf(n, placements.get(n)!.value.demand))
    for (const n of remove) delete services[n]
    try {
      await casPutStrict(
        this.o.kv.cas.ledger,
        host,
        { ...cur.value, services, updated_at: this.now(), by: this.holder },
        cur.revision
      )
    } catch (err) {
      if (isConflict(err)) return { added: [], removed: [] } // changed meanwhile: the next audit looks again
      throw err
    }
    this.o.log(
      `scheduler: the ledger of ${host} disagreed with the placements: reconciled from them` +
        `${add.length > 0 ? `, added ${add.join(', ')}` : ''}${remove.length > 0 ? `, removed ${remove.join(', ')}` : ''}`
    )
    return { added: add, removed: remove }
  }

  // --- one placement

  private async decideAndWrite(service: string, req: EnsureRequest, lock: HeldLock): Promise<EnsureResult> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (lock.lost) throw new Error(`the lock of ${service} was taken over while placing it`)
      const cur = await readPlacementKv(this.o.kv, service)
      const fresh =
        req.demand !== undefined && (cur === undefined || (req.recordRevision ?? 0) >= cur.value.record_revision)
      const demand = fresh ? req.demand : cur !== undefined ? demandOf(service, cur.value.demand) : undefined
      if (demand === undefined) return { outcome: 'none' }
      const ledgers = await readLedgers(this.o.kv, this.o.machines?.())
      const eligible = new Set(
        [...ledgers.values()].filter(l => l.value.drained !== true && this.o.alive(l.value.host)).map(l => l.value.host)
      )
      const d = decideHosts({
        demand,
        current: cur?.value.hosts ?? [],
        eligible,
        ledgers: [...ledgers.values()].map(l => l.value)
      })
      const next: PlacementValue = {
        service,
        hosts: d.hosts,
        source: d.source,
        demand: placementDemand(demand),
        record_revision: fresh ? (req.recordRevision ?? 0) : (cur?.value.record_revision ?? 0),
        ...(d.unplaced !== undefined ? { unplaced: d.unplaced } : {}),
        by: this.holder,
        at: this.now(),
        reason: req.reason
      }
      if (!(await this.writeLedgers(service, d.hosts, demandUnits(demand), ledgers))) {
        this.conflicts++
        continue
      }
      if (cur !== undefined && samePlacement(cur.value, next)) return { outcome: 'unchanged', placement: cur }
      try {
        const revision = await casPutStrict(this.o.kv.cas.placements, service, next, cur?.revision ?? 0)
        const moves = [
          d.added.length > 0 ? `+${d.added.join(',+')}` : '',
          d.dropped.length > 0 ? `-${d.dropped.join(',-')}` : ''
        ].filter(s => s !== '')
        this.o.log(
          `scheduler: ${service} placed on ${d.hosts.join(', ') || 'no host'} (${req.reason}` +
            `${moves.length > 0 ? `; ${moves.join(' ')}` : ''})` +
            `${d.unplaced !== undefined ? `; unplaceable: ${d.unplaced.reason}` : ''}`
        )
        return { outcome: 'written', placement: { value: next, revision } }
      } catch (err) {
        if (!isConflict(err)) throw err
        this.conflicts++
      }
    }
    throw new Error(`${service}: ${MAX_ATTEMPTS} compare-and-set conflicts in a row: tried again later`)
  }

  /**
   * Every ledger made to agree with HOSTS for SERVICE: added (or its demand updated) where it
   * goes, removed elsewhere, each by compare-and-set. False on a conflict (read again).
   */
  private async writeLedgers(
    service: string,
    hosts: readonly string[],
    demand: ReturnType<typeof demandUnits> | undefined,
    read?: Map<string, Versioned<LedgerEntry>>
  ): Promise<boolean> {
    const ledgers = read ?? (await readLedgers(this.o.kv, this.o.machines?.()))
    // Additions first: a copy is counted on its new machine before it is uncounted on the old.
    const order = [...ledgers.values()].sort(
      (a, b) => Number(hosts.includes(b.value.host)) - Number(hosts.includes(a.value.host))
    )
    for (const l of order) {
      const want = hosts.includes(l.value.host) ? demand : undefined
      const next = withService(l.value, service, want, this.holder, this.now())
      if (next === null) continue
      try {
        await casPutStrict(this.o.kv.cas.ledger, l.value.host, next, l.revision)
      } catch (err) {
        if (isConflict(err)) return false
        throw err
      }
    }
    return true
  }

  // --- the lock

  // Every read of a lock from the stream's leader and every write by the stream-wide
  // compare-and-set of fleet/cas.ts: a KV create or update could grant one lock twice on a
  // nats-server 2.9 cluster, and a KV get may be answered by a replica behind the leader.
  private async readLock(service: string): Promise<{ value: LockValue; revision: number } | undefined> {
    const m = await leaderGet(this.o.kv.cas.locks, service)
    if (m === undefined) return undefined
    let raw: unknown
    try {
      raw = JSON.parse(m.value)
    } catch {
      raw = undefined
    }
    return { value: parseLock(raw) ?? expiredLock, revision: m.revision }
  }

  private async lock(service: string): Promise<HeldLock | { holder: string }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const cur = await this.readLock(service)
      const step = leaseStep(cur?.value, this.now(), LOCK_SKEW_MS)
      if (step.do === 'wait') return { holder: step.holder }
      const value = newLease(this.holder, this.now(), this.leaseMs)
      try {
        const revision = await casPutStrict(this.o.kv.cas.locks, service, value, cur?.revision ?? 0)
        if (step.do === 'take-over') {
          this.o.log(
            `scheduler: lock of ${service} taken over from ${step.from} (its lease ended ${step.expiredMs} ms ago)`
          )
        }
        const held: HeldLock = { value, revision, lost: false, timer: undefined }
        held.timer = setInterval(() => void this.renew(service, held), Math.max(100, Math.floor(this.leaseMs / 3)))
        return held
      } catch (err) {
        if (!isConflict(err)) throw err
        // Someone created or took it between the read and the write: read again.
      }
    }
    return { holder: (await this.readLock(service))?.value.holder ?? '(unknown)' }
  }

  private async renew(service: string, held: HeldLock): Promise<void> {
    if (held.lost || held.renewing) return
    held.renewing = true
    try {
      const value = renewed(held.value, this.now(), this.leaseMs)
      held.revision = await casPutStrict(this.o.kv.cas.locks, service, value, held.revision)
      held.value = value
    } catch (err) {
      if (isConflict(err)) {
        held.lost = true
        this.o.log(`scheduler: lost the lock of ${service} (taken over): this placement is abandoned`)
      }
    } finally {
      held.renewing = false
    }
  }

  private async unlock(service: string, held: HeldLock): Promise<void> {
    clearInterval(held.timer)
    held.lost = true
    while (held.renewing) await new Promise(resolve => setTimeout(resolve, 5))
    // Deleted only at the revision it holds: a lock someone took over stays theirs.
    await casWrite(this.o.kv.cas.locks, service, held.revision, null).catch(() => {})
  }

  private async lockLive(service: string): Promise<boolean> {
    const cur = await this.readLock(service)
    return cur !== undefined && leaseStep(cur.value, this.now(), LOCK_SKEW_MS).do === 'wait'
  }
}

interface HeldLock {
  value: LockValue
  revision: number
  lost: boolean
  renewing?: boolean
  timer: NodeJS.Timeout | undefined
}

const expiredLock: LockValue = { holder: '(unreadable)', acquired_at: 0, expires_at: 0 }
