// Public surface of conductor/fleet/: the pure placement rule and its explanation, the service
// archives of config sync and their installation. What pulls in heavy modules is loaded on
// demand to keep CLI start-up light: the hosts file reader (zod), packing and unpacking (node-tar).
export {
  planPlacements, byId,
  type Demand, type Decision, type Fit, type MachineSpec, type Plan, type PlanInput, type Unplaced, type Units
} from './placement.js'
export {
  explain, formatRatio, machineLoads,
  type Explanation, type MachineExplanation, type MachineLoad, type UnitFigures, type Verdict
} from './explain.js'
export { serviceDemand, DEFAULT_INSTANCES, type DemandSource } from './demand.js'

export async function readHostsFile (file: string): Promise<import('./placement.js').MachineSpec[]> {
  return (await import('./hosts-file.js')).readHostsFile(file)
}

// Service archives (issue 18): node-tar costs 100-300 ms to load, and `fleet plan` needs none of it.
import type * as Pack from './archive-pack.js'
import type * as Unpack from './archive-unpack.js'
export type { PackedService } from './archive-pack.js'
export type { UnpackOptions, UnpackStep, UnpackedService } from './archive-unpack.js'

/** A service directory as a deterministic tar, its SHA-256 and its entries (archive-pack.ts). */
export async function packServiceDir (...args: Parameters<typeof Pack.packServiceDir>): Promise<Pack.PackedService> {
  return await (await import('./archive-pack.js')).packServiceDir(...args)
}

/** A checked archive into a fresh directory, validated as a service, or a refusal (archive-unpack.ts). */
export async function unpackServiceArchive (...args: Parameters<typeof Unpack.unpackServiceArchive>):
Promise<Unpack.UnpackedService> {
  return await (await import('./archive-unpack.js')).unpackServiceArchive(...args)
}
export type { ArchiveEntry, ArchiveEntryType, ArchiveLimits } from './archive-format.js'
export {
  MAX_ARCHIVE_BYTES, MAX_ARCHIVE_ENTRIES, VERSIONS_DIR_NAME, VERSION_PATTERN
} from './archive-defaults.js'
export {
  installServiceVersion, rollbackServiceVersion, recoverServiceVersions, serviceVersions, versionsDir,
  type InstallOptions, type InstallResult, type InstallStep, type ServiceVersions
} from './version-store.js'
