// Every default of fleet service sync (issue 18) in one place.

/** Object store: one object per stored version of a service, named NAME/DIGEST (content addressed). */
export const SERVICES_OBJECT_BUCKET = 'conductor-services'
/** KV: one key per service, its current record; a write is a compare-and-set on the key's revision. */
export const SERVICES_KV_BUCKET = 'conductor-service-versions'
/** KV: one key per peer id, what its sync daemon has unpacked and runs (`fleet ls`, `fleet status`). */
export const SYNC_STATUS_BUCKET = 'conductor-sync-status'
/** History kept per service key (the record before a rollback is the one rollback returns to). */
export const SERVICES_KV_HISTORY = 5
/** The sync daemon's status file (ROOT/run/conductor/NAME) and its staleness: doctor and the gateway's metrics read it. */
export {
  FLEET_SYNC_STATUS_FILE as SYNC_STATUS_FILE,
  FLEET_SYNC_STATUS_STALE_MS as SYNC_STATUS_STALE_MS
} from '../model/index.js'
/** Written by the sync daemon: which synced services run here (reconcile reads it through state/). */
export const PLACEMENT_FILE = 'fleet/placement.json'
/** A request body to write-service larger than this is refused before it is read whole. */
export const MAX_FUNCTION_BODY_BYTES = 64 * 1024 * 1024 + 64 * 1024
/** The authorization of the peers policy a writer of services needs (the seed's). */
export const SERVICE_WRITE = 'service-write'
