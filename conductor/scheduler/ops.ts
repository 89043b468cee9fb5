import { FleetHostUnknown, FleetServiceUnknown } from '../../errors/index.js'
import {
  clusterDefaults,
  connectLocal,
  desiredReplicas,
  jetStreamBusy,
  natsPackage,
  readState,
  type ClusterCtx
} from '../cluster/index.js'
import { explain, type Demand, type Explanation } from '../placement/index.js'
import { DEFAULT_DEAD_AFTER_SEC } from './defaults.js'
import { demandOf, type PlacementValue } from './decide.js'
import {
  openSchedulerKv,
  readAllPlacements,
  readLedgers,
  readPlacementKv,
  type SchedulerKv,
  type Versioned
} from './kv.js'
import { ledgerLoad, type LedgerEntry } from './ledger.js'
import { Orchestrator } from './orchestrator.js'

// The scheduler's commands (`conductor fleet where|explain|drain|undrain`, the placements of
// `fleet ls`): each opens the local NATS server's scheduler buckets, reads or does one thing,
// and closes. Liveness here is read from the heartbeats bucket (the last beat's own time).

export interface MachineState {
  id: string
  /** The name its Caddy answers on: https://ADDRESS. */
  address: string
  alive: boolean
  /** Seconds since its last heartbeat (null: none recorded). */
  silent_sec: number | null
  drained: boolean
  capacity: Record<string, number>
}

export interface SchedulerView {
  kv: SchedulerKv
  machines: Map<string, MachineState>
  ledgers: Map<string, Versioned<LedgerEntry>>
}

export async function withScheduler<T>(cc: ClusterCtx, fn: (v: SchedulerView) => Promise<T>): Promise<T> {
  const s = readState(cc.identity.paths)
  const nc = await connectLocal({ clientPort: cc.identity.clientPort, auth: s.nats_auth }, { name: 'conductor fleet' })
  try {
    const routeable = new Set(s.members.filter(m => m.route_cert !== undefined).map(m => m.id)).size
    const kv = await openSchedulerKv(nc, desiredReplicas(routeable), false)
    const { Kvm } = await natsPackage(import('@nats-io/kv'))
    const beats = await new Kvm(nc).open(clusterDefaults.HEARTBEAT_BUCKET).catch(() => undefined)
    const ledgers = await readLedgers(kv)
    const deadAfter = (cc.host.fleet?.dead_after_sec ?? DEFAULT_DEAD_AFTER_SEC) * 1000
    const addresses = new Map(s.members.map(m => [m.id, m.hostname]))
    addresses.set(cc.identity.id, cc.identity.hostname)
    const machines = new Map<string, MachineState>()
    for (const [id, l] of ledgers) {
      const beat = await beats?.get(id).catch(() => null)
      const at = beat?.operation === 'PUT' ? Number((beat.json() as { at?: unknown }).at) : Number.NaN
      const silent = Number.isFinite(at) ? Math.max(0, cc.now() - at) : null
      machines.set(id, {
        id,
        address: addresses.get(id) ?? id,
        alive: id === cc.identity.id || (silent !== null && silent <= deadAfter && addresses.has(id)),
        silent_sec: silent === null ? null : Math.round(silent / 100) / 10,
        drained: l.value.drained === true,
        capacity: { ...l.value.capacity }
      })
    }
    return await fn({ kv, machines, ledgers })
  } catch (err) {
    throw jetStreamBusy("the fleet's scheduler buckets", err)
  } finally {
    await nc.close().catch(() => {})
  }
}

export interface Where {
  service: string
  hosts: Array<{ id: string; address: string; alive: boolean }>
  source: PlacementValue['source']
  revision: number
  unplaced: NonNullable<PlacementValue['unplaced']> | null
  reason: string
  at: string
}

export async function whereIs(v: SchedulerView, service: string): Promise<Where> {
  const p = await readPlacementKv(v.kv, service)
  if (p === undefined) {
    throw new FleetServiceUnknown(`"${service}" has no placement: it is not in the fleet (conductor fleet ls lists it)`)
  }
  return whereOf(v, p)
}

export async function allPlacements(v: SchedulerView): Promise<Where[]> {
  return [...(await readAllPlacements(v.kv)).values()].map(p => whereOf(v, p))
}

function whereOf(v: SchedulerView, p: Versioned<PlacementValue>): Where {
  return {
    service: p.value.service,
    hosts: p.value.hosts.map(id => ({
      id,
      address: v.machines.get(id)?.address ?? id,
      alive: v.machines.get(id)?.alive ?? false
    })),
    source: p.value.source,
    revision: p.revision,
    unplaced: p.value.unplaced ?? null,
    reason: p.value.reason,
    at: new Date(p.value.at).toISOString()
  }
}

export interface LiveExplanation extends Explanation {
  placed_on: string[]
  /** Machines not considered now: dead or drained. */
  ineligible: Record<string, string>
}

/** The rule on the live ledgers for SERVICE (its own copies left out), and where it runs now. */
export async function explainLive(v: SchedulerView, service: string, local?: Demand): Promise<LiveExplanation> {
  const p = await readPlacementKv(v.kv, service)
  const demand = p !== undefined ? demandOf(service, p.value.demand) : local
  if (demand === undefined) {
    throw new FleetServiceUnknown(`"${service}" is neither placed in the fleet nor a service of this host`)
  }
  const ineligible: Record<string, string> = {}
  const loads = []
  for (const [id, l] of v.ledgers) {
    const m = v.machines.get(id)!
    if (m.drained) ineligible[id] = 'drained'
    else if (!m.alive) ineligible[id] = m.silent_sec === null ? 'never heard' : `dead: silent for ${m.silent_sec} s`
    else loads.push(ledgerLoad(l.value, service, false))
  }
  return { ...explain({ ...demand, instances: 1 }, loads), placed_on: p?.value.hosts ?? [], ineligible }
}

export interface DrainResult {
  host: string
  /** service -> where its copy went (empty: nowhere yet). */
  moved: Record<string, string[]>
  /** Manual placements (fleet.hosts) stay: the operator's word. */
  manual: string[]
  /** Still placed there when the wait ended. */
  left: string[]
}

/**
 * Marks HOST drained (or not) in its ledger; draining, waits up to WAITMS for the fleet's
 * schedulers to place its copies elsewhere.
 */
export async function drainHost(
  v: SchedulerView,
  cc: ClusterCtx,
  host: string,
  drained: boolean,
  waitMs: number
): Promise<DrainResult> {
  if (!v.ledgers.has(host)) {
    const known = [...v.ledgers.keys()].sort().join(', ') || 'none'
    throw new FleetHostUnknown(`no machine "${host}" in the capacity ledger (machines: ${known})`)
  }
  const orch = new Orchestrator({
    kv: v.kv,
    self: cc.identity.id,
    holder: `${cc.identity.id}/cli-${process.pid}`,
    alive: () => true,
    log: () => {}
  })
  // Read before the flag is written: the daemons may move its copies before a later read.
  const before = await readAllPlacements(v.kv)
  await orch.writeMachine(host, { drained })
  const on = [...before.values()].filter(p => p.value.hosts.includes(host))
  const manual = on.filter(p => p.value.source === 'file').map(p => p.value.service)
  const moving = on.filter(p => p.value.source !== 'file').map(p => p.value.service)
  const out: DrainResult = { host, moved: {}, manual, left: [] }
  if (!drained) return out
  const deadline = Date.now() + waitMs
  let left = moving
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 300))
    // One get per service still there (listing the bucket costs a consumer each time).
    const still: string[] = []
    for (const s of left) {
      const p = await readPlacementKv(v.kv, s).catch(() => undefined)
      if (p === undefined || p.value.hosts.includes(host)) still.push(s)
      else out.moved[s] = p.value.hosts
    }
    left = still
  }
  out.left = left
  return out
}
