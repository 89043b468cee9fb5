import type { Service } from '../model/index.js'
import type { Demand } from './placement.js'

// A resolved service as the planner sees it. The defaults of issue 19 live here: only one of
// best/min given means the other equals it, neither means the service needs nothing (it fits
// anywhere, at load 0), instances default to 1, or to the number of hosts of a manual placement.

/** Copies of a scheduled service when fleet.instances is absent. */
export const DEFAULT_INSTANCES = 1

export type DemandSource = Pick<Service, 'name' | 'disable'> & Partial<Pick<Service, 'resources' | 'fleet'>>

export function serviceDemand(svc: DemandSource): Demand {
  const best = svc.resources?.best ?? svc.resources?.min ?? {}
  const min = svc.resources?.min ?? svc.resources?.best ?? {}
  const hosts = svc.fleet?.hosts
  return {
    name: svc.name,
    best,
    min,
    instances: svc.fleet?.instances ?? hosts?.length ?? DEFAULT_INSTANCES,
    ...(hosts !== undefined ? { hosts } : {}),
    ...(svc.disable ? { disabled: true } : {})
  }
}
