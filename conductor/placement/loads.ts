import { add, chooseMachine, fromMicro, toMicro, type Demand, type Fit, type Units } from './placement.js'
import { fleetOf, type MachineLoad } from './explain.js'

// The rule on a live fleet (the scheduler's capacity ledger): machines come as sums over the
// services already on them, not as service lists, because each ledger entry records the demand
// a service had when it was placed there. Copies are placed one at a time by chooseMachine, so
// a live placement, `fleet plan` and `fleet explain` can never disagree on the same figures.

export interface LoadPlacement {
  /** New copies, in placement order. */
  hosts: string[]
  fits: Array<{ host: string; fit: Exclude<Fit, 'manual'>; load: number }>
  /** Copies that found no machine, and why each machine was not eligible. */
  unplaced?: { copies: number; reason: string; machines: Record<string, string> }
}

/**
 * Places COPIES new copies of SERVICE among MACHINES (machines with `holds` already run one and
 * are skipped, as every machine a copy goes to is for the next copy).
 */
export function placeOnLoads(service: Demand, machines: readonly MachineLoad[], copies: number): LoadPlacement {
  const fleet = fleetOf(service, machines)
  const x = fleet.demands.get(service.name)!
  const out: LoadPlacement = { hosts: [], fits: [] }
  for (let i = 0; i < copies; i++) {
    const choice = chooseMachine(fleet, x)
    if (choice.machine === undefined) {
      const why = Object.entries(choice.machines)
      const reason =
        why.length === 0
          ? 'the fleet has no eligible machine (none alive, declared and not drained)'
          : `no machine can hold its minimum: ${why.map(([id, r]) => `${id}: ${r}`).join('; ')}`
      out.unplaced = { copies: copies - i, reason, machines: choice.machines }
      return out
    }
    add(choice.machine, x)
    out.hosts.push(choice.machine.id)
    out.fits.push({ host: choice.machine.id, fit: choice.fit, load: choice.load })
  }
  return out
}

/** Σ of amounts per unit, exact in millionths (the planner's arithmetic). */
export function sumUnits(list: readonly Units[]): Record<string, number> {
  const micro: Record<string, number> = {}
  for (const u of list) for (const [k, v] of Object.entries(u)) micro[k] = (micro[k] ?? 0) + toMicro(v)
  return Object.fromEntries(Object.entries(micro).map(([k, v]) => [k, fromMicro(v)]))
}
