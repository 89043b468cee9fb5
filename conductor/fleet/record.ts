import { FleetBodyInvalid } from '../../errors/index.js'

// The KV record of a service (bucket conductor-service-versions, key = service name): what every
// host's sync daemon converges to. `previous` is the version it replaced, which `fleet rollback`
// makes current again (its object is kept in the object store until a later push replaces it).

export interface StoredVersion {
  version: string
  /** SHA-256 of the archive, lowercase hex. */
  digest: string
  /** Archive bytes. */
  size: number
  /** Object name in conductor-services: NAME/DIGEST. */
  object: string
  /** Peer id of the host (or the caller's id, through write-service) that wrote it. */
  writer: string
  written_at: string
}

export interface ServiceRecord extends StoredVersion {
  service: string
  previous?: StoredVersion
}

export const objectName = (service: string, digest: string): string => `${service}/${digest}`

/** A record as stored; throws (naming the key) when it is not one Conductor wrote. */
export function parseRecord(key: string, raw: unknown): ServiceRecord {
  const r = raw as Partial<ServiceRecord>
  const fail = (what: string): never => {
    throw new FleetBodyInvalid(`record of "${key}": ${what}: not a record Conductor writes; push the service again`)
  }
  if (typeof r !== 'object' || r === null) fail('not an object')
  if (r.service !== key) fail('service differs from its key')
  checkVersionFields(r, fail)
  if (r.previous !== undefined) checkVersionFields(r.previous, fail)
  return r as ServiceRecord
}

function checkVersionFields(r: Partial<StoredVersion>, fail: (what: string) => never): void {
  if (typeof r.version !== 'string' || r.version === '') fail('no version')
  if (typeof r.digest !== 'string' || !/^[0-9a-f]{64}$/.test(r.digest)) fail('digest is not a SHA-256')
  if (typeof r.object !== 'string') fail('no object name')
  if (typeof r.writer !== 'string') fail('no writer')
  if (typeof r.size !== 'number') fail('no size')
}
