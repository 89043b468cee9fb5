import { PlacementInputInvalid } from '../../errors/index.js'
import {
  byId,
  chooseMachine,
  describeShortfall,
  evaluate,
  fromMicro,
  toMicro,
  unknownService,
  type Demand,
  type DemandVec,
  type Evaluation,
  type Fleet,
  type MachineSpec,
  type MachineVec,
  type Units
} from './placement.js'

// Why a service goes (or would go) where it goes: each machine's B, N and C per unit with the
// service added, and the reason it was chosen, passed over or excluded. The choice itself is
// placement.ts's chooseMachine, so an explanation can never disagree with a plan. The live
// `fleet explain` feeds it the capacity ledger; `fleet plan` and the tests feed it plain loads.

/** A machine as the ledger sees it: capacity, and the sums over the services already on it. */
export interface MachineLoad {
  id: string
  capacity: Units
  /** Σ best over the services on it, without the explained service. */
  best: Units
  /** Σ min over the services on it, without the explained service. */
  min: Units
  /** It runs a copy of the explained service already (not a candidate for another copy). */
  holds?: boolean | undefined
}

export interface UnitFigures {
  /** B[u]: Σ best over the services on the machine plus this one. */
  best: number
  /** N[u]: Σ min over the same. */
  min: number
  /** C[u]: the machine's capacity, 0 when undeclared. */
  capacity: number
  /** B/C: 0 when B is 0, Infinity when B > 0 = C. */
  ratio: number
}

export type Verdict = 'chosen' | 'not chosen' | 'excluded' | 'holds a copy'

export interface MachineExplanation {
  id: string
  units: Record<string, UnitFigures>
  /** max_u B/C. */
  load: number
  bestFit: boolean
  /** Units with N > C. */
  excludedBy: string[]
  verdict: Verdict
  why: string
}

export interface Explanation {
  service: string
  fit: 'best-fit' | 'over-commit' | 'unplaceable'
  chosen: string | null
  machines: MachineExplanation[]
}

/** Each machine's figures for `service` and why the rule chose it or not; machines in peer id order. */
export function explain(service: Demand, machines: readonly MachineLoad[]): Explanation {
  const fleet = fleetOf(service, machines)
  const x = fleet.demands.get(service.name)!
  const choice = chooseMachine(fleet, x)
  const chosen = choice.machine
  const mode = chosen === undefined ? 'unplaceable' : choice.fit
  const out: MachineExplanation[] = fleet.machines.map(m => {
    const e = evaluate(x, m)
    const excludedBy = e.excludedBy.map(u => fleet.units[u]!)
    const base = { id: m.id, units: figures(fleet, x, m), load: e.load, bestFit: e.fits, excludedBy }
    if (m.holds.has(service.name)) {
      return { ...base, verdict: 'holds a copy', why: 'runs a copy already: copies go to distinct machines' }
    }
    if (e.excludedBy.length > 0) {
      const why = 'excluded: ' + e.excludedBy.map(u => describeShortfall(fleet, m, x, u)).join(', ')
      return { ...base, verdict: 'excluded', why }
    }
    if (chosen === m) {
      return { ...base, verdict: 'chosen', why: whyChosen(mode, e.load, tiedWith(fleet, x, m, mode, e.load)) }
    }
    return { ...base, verdict: 'not chosen', why: whyNot(fleet, x, m, e, mode, chosen!) }
  })
  return { service: service.name, fit: mode, chosen: chosen?.id ?? null, machines: out }
}

/**
 * Loads of machines given as service lists (a hosts file), for explaining `service`: sums over
 * the other services on each machine, and `holds` where it runs already.
 */
export function machineLoads(
  service: string,
  machines: readonly MachineSpec[],
  services: readonly Demand[]
): MachineLoad[] {
  const byName = new Map(services.map(d => [d.name, d]))
  return machines.map(m => {
    const best: Record<string, number> = {}
    const min: Record<string, number> = {}
    for (const name of m.services) {
      if (name === service) continue
      const d = byName.get(name)
      if (d === undefined) throw unknownService(m.id, name)
      // Summed in millionths, as the planner does, so the figures match its own exactly.
      for (const [u, a] of Object.entries(d.best)) best[u] = fromMicro(toMicro(best[u] ?? 0) + toMicro(a))
      for (const [u, a] of Object.entries(d.min)) min[u] = fromMicro(toMicro(min[u] ?? 0) + toMicro(a))
    }
    return { id: m.id, capacity: m.capacity, best, min, holds: m.services.includes(service) }
  })
}

/** A ratio for people: 3 decimals at most, "infinite" for B > 0 = C. */
export function formatRatio(r: number): string {
  return r === Infinity ? 'infinite' : String(Number(r.toFixed(3)))
}

// Private

function figures(fleet: Fleet, x: DemandVec, m: MachineVec): Record<string, UnitFigures> {
  const units: Record<string, UnitFigures> = {}
  fleet.units.forEach((unit, u) => {
    const b = m.best[u]! + x.best[u]!
    const c = m.capacity[u]!
    const ratio = b === 0 ? 0 : c === 0 ? Infinity : b / c
    units[unit] = { best: fromMicro(b), min: fromMicro(m.min[u]! + x.min[u]!), capacity: fromMicro(c), ratio }
  })
  return units
}

function whyChosen(mode: Explanation['fit'], load: number, tied: string[]): string {
  const what =
    mode === 'best-fit'
      ? `best fit with the lowest load (max B/C ${formatRatio(load)})`
      : `no machine is a best fit; lowest over-commit (max B/C ${formatRatio(load)})`
  return `chosen: ${what}${tied.length > 0 ? `, tied with ${tied.join(', ')} and first by peer id` : ''}`
}

function whyNot(
  fleet: Fleet,
  x: DemandVec,
  m: MachineVec,
  { fits, load }: Evaluation,
  mode: Explanation['fit'],
  chosen: MachineVec
): string {
  const chosenLoad = evaluate(x, chosen).load
  const against =
    load === chosenLoad
      ? `the same as ${chosen.id}, which comes first by peer id`
      : `above ${formatRatio(chosenLoad)} on ${chosen.id}`
  if (fits) return `best fit, load ${formatRatio(load)}: ${against}`
  const over = fleet.units.flatMap((unit, u) => {
    const b = m.best[u]! + x.best[u]!
    return b > m.capacity[u]! ? [`${unit} best ${fromMicro(b)} > capacity ${fromMicro(m.capacity[u]!)}`] : []
  })
  if (mode === 'best-fit') return `not a best fit (${over.join(', ')}) and ${chosen.id} is`
  return `over-commit ${formatRatio(load)} (${over.join(', ')}): ${against}`
}

function tiedWith(fleet: Fleet, x: DemandVec, chosen: MachineVec, mode: Explanation['fit'], load: number): string[] {
  return fleet.machines
    .filter(m => m !== chosen && !m.holds.has(x.demand.name))
    .filter(m => {
      const e = evaluate(x, m)
      const eligible = mode === 'best-fit' ? e.fits : e.excludedBy.length === 0
      return eligible && e.load === load
    })
    .map(m => m.id)
}

// The explained service and the machines' sums as the planner's vectors (loads.ts places on them too).
export function fleetOf(service: Demand, machines: readonly MachineLoad[]): Fleet {
  const unitSet = new Set([...Object.keys(service.best), ...Object.keys(service.min)])
  for (const m of machines) {
    for (const u of [...Object.keys(m.capacity), ...Object.keys(m.best), ...Object.keys(m.min)]) unitSet.add(u)
  }
  const units = [...unitSet].sort(byId)
  const index = new Map(units.map((u, i) => [u, i]))
  const vec = (amounts: Units): Float64Array => {
    const v = new Float64Array(units.length)
    for (const [u, a] of Object.entries(amounts)) {
      if (!Number.isFinite(a) || a < 0) {
        throw new PlacementInputInvalid(`${u}: ${String(a)} is not a non-negative finite number`)
      }
      v[index.get(u)!] = toMicro(a)
    }
    return v
  }
  const seen = new Set<string>()
  const vecs: MachineVec[] = [...machines]
    .sort((a, b) => byId(a.id, b.id))
    .map(m => {
      if (seen.has(m.id)) throw new PlacementInputInvalid(`machine "${m.id}" is given twice`)
      seen.add(m.id)
      return {
        id: m.id,
        capacity: vec(m.capacity),
        best: vec(m.best),
        min: vec(m.min),
        holds: new Set(m.holds === true ? [service.name] : []),
        declared: new Set(Object.keys(m.capacity).map(u => index.get(u)!))
      }
    })
  const x = { demand: service, best: vec(service.best), min: vec(service.min) }
  return { units, machines: vecs, demands: new Map([[service.name, x]]) }
}
