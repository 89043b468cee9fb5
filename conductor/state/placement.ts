import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { readOr, writeAtomic } from './atomic.js'
import { fleetPlacementFile } from '../model/index.js'

// Where the synced services run (issue 18 item 4, issue 19 takes it over): the fleet sync daemon
// writes LIB/fleet/placement.json with, for each service it installed, the hosts it runs on and
// who decided it; reconcile treats a service placed only on other hosts as disabled here (its
// directory is unpacked, nothing of it runs). A service absent from the file is an operator's
// own: it runs as its file says, as before. The scheduler (issue 19) writes the same file with
// source "scheduler"; a service's own `fleet.hosts` stays first (manual placement).

export type PlacementSource = 'file' | 'pusher' | 'scheduler'

export interface ServicePlacement {
  hosts: string[]
  source: PlacementSource
  /**
   * Revision of the scheduler's placement record (KV conductor-placements) this entry follows:
   * an entry is only ever replaced by a newer revision (the fence of a host that comes back).
   */
  revision?: number
  /** Copies the scheduler could not place, and why. */
  unplaced?: string
}

export interface PlacementFile {
  /** This host's peer id, as the daemon that wrote the file knew it. */
  here: string
  services: Record<string, ServicePlacement>
  /**
   * This host's own word, above the placement (the enable/disable service functions): "disabled"
   * never runs here, "enabled" runs here wherever it is placed.
   */
  overrides?: Record<string, 'enabled' | 'disabled'>
  /** Peer id -> the name its Caddy is reached by (https://ADDRESS): discovery variables. */
  addresses?: Record<string, string>
}

export const placementFile = fleetPlacementFile

export function readPlacement(libDir: string): PlacementFile | undefined {
  const text = readOr(placementFile(libDir))
  if (text === undefined) return undefined
  try {
    const p = JSON.parse(text) as PlacementFile
    return typeof p.here === 'string' && typeof p.services === 'object' && p.services !== null ? p : undefined
  } catch {
    return undefined
  }
}

export function writePlacement(libDir: string, p: PlacementFile): void {
  mkdirSync(path.dirname(placementFile(libDir)), { recursive: true })
  writeAtomic(placementFile(libDir), JSON.stringify(p, null, 2) + '\n')
}

/**
 * Sets (or, with undefined, removes) one service's entry, unless the file holds a newer
 * scheduler revision for it already: two writers in one daemon (the sync step and the
 * placement watch) can finish in either order, and the newer placement must stay.
 */
export function setServicePlacement(
  libDir: string,
  here: string,
  name: string,
  p: ServicePlacement | undefined
): boolean {
  const file: PlacementFile = readPlacement(libDir) ?? { here, services: {} }
  file.here = here
  const cur = file.services[name]
  if (p !== undefined && cur?.revision !== undefined && (p.revision ?? 0) < cur.revision) return false
  if (p === undefined) delete file.services[name]
  else file.services[name] = p
  writePlacement(libDir, file)
  return true
}

/** Services placed, but not on this host: name -> the hosts they run on. */
export function placedElsewhere(p: PlacementFile | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>()
  const overrides = p?.overrides ?? {}
  for (const [name, s] of Object.entries(p?.services ?? {})) {
    if (overrides[name] === 'enabled') continue
    if (!s.hosts.includes(p!.here) || overrides[name] === 'disabled') out.set(name, s.hosts)
  }
  return out
}
