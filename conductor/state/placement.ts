import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { FleetPlacementLocked } from '../../errors/index.js'
import { readOr, writeAtomic } from './atomic.js'
import { fleetPlacementFile } from '../model/index.js'
import { acquirePidLock } from './pid-lock.js'

// Where the synced services run (issue 18 item 4, issue 19 takes it over): the fleet sync daemon
// writes LIB/fleet/placement.json with, for each service it installed, the hosts it runs on and
// who decided it; reconcile treats a service placed only on other hosts as disabled here (its
// directory is unpacked, nothing of it runs). A service absent from the file is an operator's
// own: it runs as its file says, as before. The scheduler (issue 19) writes the same file with
// source "scheduler"; a service's own `fleet.hosts` stays first (manual placement).
//
// Several processes write it (the sync daemon placing what it installed, the enable/disable
// functions run by the gateway, later the scheduler): each change is a read-modify-write under
// a pid lock (updatePlacement), so none loses another's change. Readers (reconcile) take no
// lock: the file is replaced by rename, so a read sees the old file or the new one, whole.

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

export const placementLockFile = (libDir: string): string => path.join(libDir, 'fleet', 'placement.lock')

/** How long a writer waits for the lock: a holder only reads and renames a small file. */
const LOCK_WAIT_MS = 10_000

/**
 * Reads the placement file (a new one for HERE when absent), lets FN change it, and writes it
 * back if it changed, all under the file's lock; FN's value is handed back. A lock left by a dead
 * process is taken over; one held by a live process past LOCK_WAIT_MS is FleetPlacementLocked.
 */
export async function updatePlacement<T>(
  libDir: string,
  here: string,
  command: string,
  fn: (p: PlacementFile) => T | Promise<T>
): Promise<T> {
  const lockFile = placementLockFile(libDir)
  mkdirSync(path.dirname(lockFile), { recursive: true })
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    let lock: { release: () => void }
    try {
      lock = acquirePidLock(
        lockFile,
        command,
        holder =>
          new FleetPlacementLocked(
            `held by pid ${holder?.pid ?? '?'} (${holder?.command ?? 'changing hands'}) since ${holder?.since ?? '?'}; ` +
              'it is released when that process ends (a dead holder is taken over)',
            lockFile
          )
      )
    } catch (err) {
      if (!(err instanceof FleetPlacementLocked) || Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 10))
      continue
    }
    try {
      const p = readPlacement(libDir) ?? { here, services: {} }
      const before = JSON.stringify(p)
      const out = await fn(p)
      if (JSON.stringify(p) !== before) writePlacementFile(libDir, p)
      return out
    } finally {
      lock.release()
    }
  }
}

/** The whole file, by rename. Only under the lock (updatePlacement), or by a test setting one up. */
export function writePlacementFile(libDir: string, p: PlacementFile): void {
  mkdirSync(path.dirname(placementFile(libDir)), { recursive: true })
  writeAtomic(placementFile(libDir), JSON.stringify(p, null, 2) + '\n')
}

/**
 * Sets (or, with undefined, removes) one service's entry, unless the file holds a newer
 * scheduler revision for it already: two writers in one daemon (the sync step and the
 * placement watch) can finish in either order, and the newer placement must stay.
 */
export async function setServicePlacement(
  libDir: string,
  here: string,
  name: string,
  p: ServicePlacement | undefined
): Promise<boolean> {
  return await updatePlacement(libDir, here, 'conductor fleet daemon', file => {
    file.here = here
    const cur = file.services[name]
    if (p !== undefined && cur?.revision !== undefined && (p.revision ?? 0) < cur.revision) return false
    if (p === undefined) delete file.services[name]
    else file.services[name] = p
    return true
  })
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
