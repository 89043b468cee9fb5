import { sumUnits, type MachineLoad, type Units } from '../placement/index.js'

// The capacity ledger (issue 19 item 2), pure: one KV record per machine, keyed by peer id,
// holding its capacity (written by the machine itself from host.json `resources`) and the
// demand of every service placed on it. An orchestrator changes a machine's record only by
// compare-and-set on the revision it read, in the same step as the placement it computed from
// it: two orchestrators placing different services at once cannot both add to a machine what
// only one of them saw room for; the second is refused, reads again and decides again.

export interface ServiceDemandUnits {
  best: Units
  min: Units
}

export interface LedgerEntry {
  host: string
  capacity: Units
  services: Record<string, ServiceDemandUnits>
  /** `conductor fleet drain HOST`: no new copies go there, its copies are placed elsewhere. */
  drained?: boolean
  updated_at: number
  by: string
}

export function emptyLedger(host: string, by: string, now: number): LedgerEntry {
  return { host, capacity: {}, services: {}, updated_at: now, by }
}

/** The machine as the placement rule sees it: sums over its services except `except`. */
export function ledgerLoad(e: LedgerEntry, except?: string, holds = false): MachineLoad {
  const others = Object.entries(e.services).filter(([name]) => name !== except)
  return {
    id: e.host,
    capacity: e.capacity,
    best: sumUnits(others.map(([, d]) => d.best)),
    min: sumUnits(others.map(([, d]) => d.min)),
    holds
  }
}

const sameUnits = (a: Units, b: Units): boolean => {
  const ka = Object.keys(a).filter(k => a[k] !== 0)
  const kb = Object.keys(b).filter(k => b[k] !== 0)
  return ka.length === kb.length && ka.every(k => a[k] === b[k])
}
export const sameDemand = (a: ServiceDemandUnits | undefined, b: ServiceDemandUnits | undefined): boolean =>
  a === undefined || b === undefined ? a === b : sameUnits(a.best, b.best) && sameUnits(a.min, b.min)

/** The entry with SERVICE set to DEMAND (undefined: removed); null when that changes nothing. */
export function withService(
  e: LedgerEntry,
  service: string,
  demand: ServiceDemandUnits | undefined,
  by: string,
  now: number
): LedgerEntry | null {
  if (sameDemand(e.services[service], demand)) return null
  const services = { ...e.services }
  if (demand === undefined) delete services[service]
  else services[service] = { best: { ...demand.best }, min: { ...demand.min } }
  return { ...e, services, updated_at: now, by }
}

/** Units where Σ best over the machine's services exceeds its capacity (what the race test checks). */
export function overCommitted(e: LedgerEntry, which: 'best' | 'min' = 'best'): string[] {
  const sums = sumUnits(Object.values(e.services).map(d => d[which]))
  return Object.entries(sums)
    .filter(([u, v]) => v > (e.capacity[u] ?? 0))
    .map(([u]) => u)
}

export interface PlacedHere {
  hosts: readonly string[]
  demand: ServiceDemandUnits
}

export interface LedgerAudit {
  /** Placed on the machine, missing from its ledger (or with another demand). */
  add: string[]
  /** In its ledger, placed elsewhere or nowhere. */
  remove: string[]
}

/** What a machine's ledger lacks or has too many against the placements (the placements are right). */
export function auditLedger(e: LedgerEntry, placements: ReadonlyMap<string, PlacedHere>): LedgerAudit {
  const add: string[] = []
  const remove: string[] = []
  for (const [name, p] of placements) {
    if (p.hosts.includes(e.host) && !sameDemand(e.services[name], p.demand)) add.push(name)
  }
  for (const name of Object.keys(e.services)) {
    if (!(placements.get(name)?.hosts.includes(e.host) ?? false)) remove.push(name)
  }
  return { add: add.sort(), remove: remove.sort() }
}

/** A ledger record as stored; undefined when it is not one (it is then rewritten by its machine). */
export function parseLedger(key: string, raw: unknown): LedgerEntry | undefined {
  const e = raw as Partial<LedgerEntry> | null
  if (typeof e !== 'object' || e === null || e.host !== key) return undefined
  if (typeof e.capacity !== 'object' || e.capacity === null) return undefined
  if (typeof e.services !== 'object' || e.services === null) return undefined
  return e as LedgerEntry
}
