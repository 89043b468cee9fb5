// Public surface of conductor/fleet/ (issue 18: service directories synced through the JetStream
// object store). Light: the NATS packages load inside the functions that connect (store.ts
// imports them on call), node-tar through conductor/archive's own on-demand functions.
export { MAX_FUNCTION_BODY_BYTES, SERVICE_WRITE, SYNC_STATUS_FILE, SYNC_STATUS_STALE_MS } from './defaults.js'
export type { ServiceRecord, StoredVersion } from './record.js'
export { type CasBucket, casBucket, casWrite, leaderGet, leaderKeys } from './cas.js'
export { type PushResult, type ServiceStore, openServiceStore, pushVersion, readRecord, fetchArchive } from './store.js'
export {
  type FleetListing,
  type PushRequest,
  checkAndPush,
  hostStatuses,
  listFleet,
  pushDir,
  removeService,
  rollbackRecord,
  withStore
} from './ops.js'
export { type ServiceSyncState, type SyncOptions, type SyncStatus, serviceSyncTask } from './sync.js'
export { applyRecord, removeInstalled, type Applied, type ApplyDeps } from './apply.js'
export { placementOf } from './placement.js'
export { type SyncCheckResult, checkSync } from './doctor.js'
export {
  SERVICE_BUILTINS,
  type ServiceBuiltinDeps,
  type ServiceBuiltinName,
  type ServiceBuiltinRequest,
  runServiceBuiltin
} from './builtin.js'
