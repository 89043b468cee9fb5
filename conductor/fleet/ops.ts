import { rm } from 'node:fs/promises'
import path from 'node:path'
import { checkServiceName, packServiceDir, unpackServiceArchive } from '../archive/index.js'
import { connectLocal, desiredReplicas, jetStreamBusy, readState, type ClusterCtx } from '../cluster/index.js'
import { FleetNameInvalid } from '../../errors/index.js'
import type { ServiceRecord } from './record.js'
import {
  listRecords,
  openServiceStore,
  pushVersion,
  removeService,
  rollbackRecord,
  type PushResult,
  type ServiceStore
} from './store.js'
import type { SyncStatus } from './sync.js'
import { leaderGet, leaderKeys } from './cas.js'
import { SYNC_STATUS_BUCKET } from './defaults.js'

// The operations behind `conductor fleet push/ls/rm/rollback/status` and the built-in service
// functions: each opens the local NATS server's service buckets, does one thing, closes.

export async function withStore<T>(cc: ClusterCtx, fn: (s: ServiceStore) => Promise<T>): Promise<T> {
  const s = readState(cc.identity.paths)
  const nc = await connectLocal({ clientPort: cc.identity.clientPort, auth: s.nats_auth }, { name: 'conductor fleet' })
  try {
    const routeable = new Set(s.members.filter(m => m.route_cert !== undefined).map(m => m.id)).size
    return await fn(await openServiceStore(nc, desiredReplicas(routeable)))
  } catch (err) {
    throw jetStreamBusy("the fleet's service buckets", err)
  } finally {
    await nc.close().catch(() => {})
  }
}

export interface PushRequest {
  service: string
  archive: Buffer
  digest: string
  /** Default: the digest. */
  version?: string
  writer: string
}

/**
 * Checks an archive as every host will (entries, size, digest, the service loader) before it is
 * stored: a bad one is refused here, and hosts refuse it again if it got in another way.
 */
export async function checkAndPush(s: ServiceStore, r: PushRequest): Promise<PushResult> {
  checkServiceName(r.service)
  const version = r.version ?? r.digest
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$/.test(version)) {
    throw new FleetNameInvalid(
      `version "${version}" is not a plain name: 1 to 128 letters, digits and _ . + - ` + '(not starting with . + or -)'
    )
  }
  const unpacked = await unpackServiceArchive(r.archive, { name: r.service, expectedDigest: r.digest })
  await rm(unpacked.dir, { recursive: true, force: true })
  return await pushVersion(s, { service: r.service, archive: r.archive, digest: r.digest, version, writer: r.writer })
}

/** `fleet push DIR`: the directory's name is the service's. */
export async function pushDir(s: ServiceStore, dir: string, writer: string, version?: string): Promise<PushResult> {
  const service = path.basename(path.resolve(dir))
  checkServiceName(service)
  const packed = await packServiceDir(dir)
  return await checkAndPush(s, { service, archive: packed.archive, digest: packed.digest, version, writer })
}

export interface FleetListing {
  service: string
  version: string
  digest: string
  size: number
  writer: string
  written_at: string
  previous: string | null
  /** Hosts whose sync daemon has this version unpacked. */
  unpacked_on: string[]
  /** Hosts running it. */
  running_on: string[]
  /** Hosts that refused this version, and why. */
  refused_on: Record<string, string>
}

export async function listFleet(s: ServiceStore): Promise<{ services: FleetListing[]; hosts: SyncStatus[] }> {
  const records = await listRecords(s)
  const hosts = await hostStatuses(s)
  const services = records.map(({ record: r }) => listing(r, hosts))
  return { services, hosts }
}

export async function hostStatuses(s: ServiceStore): Promise<SyncStatus[]> {
  const out: SyncStatus[] = []
  const status = { ...s.cas, bucket: SYNC_STATUS_BUCKET }
  for (const key of await leaderKeys(status)) {
    const e = await leaderGet(status, key)
    if (e === undefined) continue
    try {
      out.push(JSON.parse(e.value) as SyncStatus)
    } catch {
      /* a host writing something else: skipped */
    }
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : 1))
}

function listing(r: ServiceRecord, hosts: SyncStatus[]): FleetListing {
  const at = (h: SyncStatus): SyncStatus['services'][string] | undefined => h.services[r.service]
  return {
    service: r.service,
    version: r.version,
    digest: r.digest,
    size: r.size,
    writer: r.writer,
    written_at: r.written_at,
    previous: r.previous?.version ?? null,
    unpacked_on: hosts.filter(h => at(h)?.version === r.version).map(h => h.host),
    running_on: hosts.filter(h => at(h)?.version === r.version && at(h)?.running === true).map(h => h.host),
    refused_on: Object.fromEntries(
      hosts.filter(h => at(h)?.refused?.version === r.version).map(h => [h.host, at(h)!.refused!.error])
    )
  }
}

export { removeService, rollbackRecord }
