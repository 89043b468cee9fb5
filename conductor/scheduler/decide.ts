import { byId, placeOnLoads, type Demand } from '../placement/index.js'
import { ledgerLoad, sameDemand, type LedgerEntry, type ServiceDemandUnits } from './ledger.js'

// Where a service's copies go now (issue 19 items 2 and 4), pure: from its current placement,
// its demand, the ledgers and which machines are eligible (alive, with a ledger, not drained).
// A copy stays where it is while its machine is eligible, so a new version or a host lost
// elsewhere never moves a running copy; copies on a lost or drained machine, and missing
// copies, are placed by the rule among the eligible machines that hold no copy; extra copies
// (instances lowered) are dropped from the end of the list.

export type PlacementSource = 'scheduler' | 'file'

/** The KV record of a service's placement (bucket conductor-placements, key = service). */
export interface PlacementValue {
  service: string
  hosts: string[]
  source: PlacementSource
  demand: ServiceDemandUnits & { instances: number; hosts?: string[]; disabled?: boolean }
  /** Revision of the service's record (conductor-service-versions) the demand was read from. */
  record_revision: number
  /** Copies that found no machine, and why (`fleet where`, `fleet ls`). */
  unplaced?: { copies: number; reason: string }
  by: string
  at: number
  /** Why this placement was written (a new version, a host lost, a drain). */
  reason: string
}

export interface Decision {
  hosts: string[]
  source: PlacementSource
  kept: string[]
  added: string[]
  dropped: string[]
  unplaced?: { copies: number; reason: string }
}

export interface DecideInput {
  demand: Demand
  current: readonly string[]
  eligible: ReadonlySet<string>
  ledgers: readonly LedgerEntry[]
}

export function decideHosts(i: DecideInput): Decision {
  const d = i.demand
  if (d.disabled === true) return { hosts: [], source: 'scheduler', kept: [], added: [], dropped: [...i.current] }
  if (d.hosts !== undefined) {
    // Manual placement: the operator's word, whatever the machines' state.
    const hosts = [...d.hosts]
    return {
      hosts,
      source: 'file',
      kept: i.current.filter(h => hosts.includes(h)),
      added: hosts.filter(h => !i.current.includes(h)),
      dropped: i.current.filter(h => !hosts.includes(h))
    }
  }
  const kept = i.current.filter(h => i.eligible.has(h)).slice(0, d.instances)
  const dropped = i.current.filter(h => !kept.includes(h))
  const missing = d.instances - kept.length
  if (missing <= 0) return { hosts: kept, source: 'scheduler', kept, added: [], dropped }
  const machines = i.ledgers
    .filter(e => i.eligible.has(e.host))
    .sort((a, b) => byId(a.host, b.host))
    .map(e => ledgerLoad(e, d.name, kept.includes(e.host)))
  const placed = placeOnLoads(d, machines, missing)
  const out: Decision = { hosts: [...kept, ...placed.hosts], source: 'scheduler', kept, added: placed.hosts, dropped }
  if (placed.unplaced !== undefined) {
    const { copies, reason } = placed.unplaced
    out.unplaced = {
      copies,
      reason: d.instances > 1 ? `${copies} of ${d.instances} copies unplaced: ${reason}` : reason
    }
  }
  return out
}

export const demandUnits = (d: Demand): ServiceDemandUnits => ({ best: { ...d.best }, min: { ...d.min } })

export function placementDemand(d: Demand): PlacementValue['demand'] {
  return {
    ...demandUnits(d),
    instances: d.instances,
    ...(d.hosts !== undefined ? { hosts: [...d.hosts] } : {}),
    ...(d.disabled === true ? { disabled: true } : {})
  }
}

export function demandOf(service: string, p: PlacementValue['demand']): Demand {
  return {
    name: service,
    best: p.best,
    min: p.min,
    instances: p.instances,
    ...(p.hosts !== undefined ? { hosts: p.hosts } : {}),
    ...(p.disabled === true ? { disabled: true } : {})
  }
}

/** Same hosts, source, demand and unplaced copies: writing it again would change nothing. */
export function samePlacement(a: PlacementValue, b: PlacementValue): boolean {
  return (
    a.hosts.join() === b.hosts.join() &&
    a.source === b.source &&
    a.record_revision === b.record_revision &&
    a.demand.instances === b.demand.instances &&
    (a.demand.hosts ?? []).join() === (b.demand.hosts ?? []).join() &&
    a.demand.disabled === b.demand.disabled &&
    sameDemand(a.demand, b.demand) &&
    a.unplaced?.reason === b.unplaced?.reason
  )
}

/**
 * Placements that must be decided again: a scheduler-placed copy on a machine that is not
 * eligible any more (lost, drained, left the cluster), or copies still unplaced (tried again
 * by the caller's own pace, since room may have appeared).
 */
export function needsReplacing(p: PlacementValue, eligible: ReadonlySet<string>): 'lost' | 'unplaced' | undefined {
  if (p.source !== 'scheduler' || p.demand.disabled === true) return undefined
  if (p.hosts.some(h => !eligible.has(h))) return 'lost'
  if (p.unplaced !== undefined || p.hosts.length < p.demand.instances) return 'unplaced'
  return undefined
}

/** A placement record as stored, or undefined when it is not one Conductor writes. */
export function parsePlacement(key: string, raw: unknown): PlacementValue | undefined {
  const p = raw as Partial<PlacementValue> | null
  if (typeof p !== 'object' || p === null || p.service !== key || !Array.isArray(p.hosts)) return undefined
  if (typeof p.demand !== 'object' || p.demand === null || typeof p.demand.instances !== 'number') return undefined
  return p as PlacementValue
}
