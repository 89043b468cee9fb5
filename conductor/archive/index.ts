// Public surface of conductor/archive/: the service archives of config sync (issue 18) and their
// installation as versions of the services directory. node-tar costs 100-300 ms to load, and
// commands that never pack or unpack must not pay for it: those two are loaded on demand (lazy.ts).
export type { PackedService } from './pack.js'
export type { UnpackOptions, UnpackStep, UnpackedService } from './unpack.js'
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
export { packServiceDir, unpackServiceArchive } from './lazy.js'
