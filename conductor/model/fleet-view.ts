import { readFileSync } from 'node:fs'
import path from 'node:path'

// Where every service of the fleet runs, as this host knows it (issue 19 item 5, discovery):
// the placement file the fleet daemon keeps (conductor/state/placement.ts writes it), read here
// for the variables of templates and hooks. Read-only, and tolerant: no file, no fleet.

export const fleetPlacementFile = (libDir: string): string => path.join(libDir, 'fleet', 'placement.json')

export interface FleetView {
  here: string
  services: Record<string, { hosts: string[] }>
  addresses: Record<string, string>
}

export function readFleetView(libDir: string): FleetView | undefined {
  try {
    const p = JSON.parse(readFileSync(fleetPlacementFile(libDir), 'utf8')) as Partial<FleetView>
    if (typeof p.here !== 'string' || typeof p.services !== 'object' || p.services === null) return undefined
    return { here: p.here, services: p.services, addresses: p.addresses ?? {} }
  } catch {
    return undefined
  }
}

/** DEP as a variable name part: upper case, every character but A-Z and 0-9 as "_". */
export const variableSuffix = (service: string): string => service.toUpperCase().replace(/[^A-Z0-9]/g, '_')
