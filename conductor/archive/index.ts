// Public surface of conductor/archive/: the service archives of config sync (issue 18) and their
// installation as versions of the services directory. node-tar costs 100-300 ms to load, and
// commands that never pack or unpack must not pay for it: those two are loaded on demand.
import type * as Pack from './pack.js'
import type * as Unpack from './unpack.js'
export type { PackedService } from './pack.js'
export type { UnpackOptions, UnpackStep, UnpackedService } from './unpack.js'

/** A service directory as a deterministic tar, its SHA-256 and its entries (archive-pack.ts). */
export async function packServiceDir(...args: Parameters<typeof Pack.packServiceDir>): Promise<Pack.PackedService> {
  return await (await import('./pack.js')).packServiceDir(...args)
}

/** A checked archive into a fresh directory, validated as a service, or a refusal (archive-unpack.ts). */
export async function unpackServiceArchive(
  ...args: Parameters<typeof Unpack.unpackServiceArchive>
): Promise<Unpack.UnpackedService> {
  return await (await import('./unpack.js')).unpackServiceArchive(...args)
}
export type { ArchiveEntry, ArchiveEntryType, ArchiveLimits } from './format.js'
export {
  MAX_ARCHIVE_BYTES,
  MAX_ARCHIVE_ENTRIES,
  VERSIONS_DIR_NAME,
  VERSION_PATTERN
} from './defaults.js'
export {
  installServiceVersion,
  rollbackServiceVersion,
  recoverServiceVersions,
  serviceVersions,
  versionsDir,
  type InstallOptions,
  type InstallResult,
  type InstallStep,
  type ServiceVersions
} from './version-store.js'
export { checkServiceName, checkVersion } from './paths.js'
