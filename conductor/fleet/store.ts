import type { KV, KvEntry } from '@nats-io/kv'
import type { ObjectStore } from '@nats-io/obj'
import type { NatsConnection } from '@nats-io/transport-node'
import { natsPackage } from '../cluster/index.js'
import { FleetPushConflict, FleetServiceUnknown } from '../../errors/index.js'
import { SERVICES_KV_BUCKET, SERVICES_KV_HISTORY, SERVICES_OBJECT_BUCKET, SYNC_STATUS_BUCKET } from './defaults.js'
import { objectName, parseRecord, type ServiceRecord, type StoredVersion } from './record.js'

// The fleet's service storage (issue 18 item 1): archives in a replicated object store, one
// record per service in a KV bucket. A write is: the object first (content addressed, so two
// racing writers never overwrite each other's bytes), then the record by compare-and-set on the
// key's revision. The record is what hosts follow, so a host only ever sees a whole version:
// the loser of a race is told, and its object is removed.

export interface ServiceStore {
  nc: NatsConnection
  records: KV
  objects: ObjectStore
  /** Per-host sync status (key: peer id). */
  status: KV
}

/** Opens (creating when absent) the three buckets with REPLICAS replicas. */
export async function openServiceStore(nc: NatsConnection, replicas: number): Promise<ServiceStore> {
  const { Kvm } = await natsPackage(import('@nats-io/kv'))
  const { Objm } = await natsPackage(import('@nats-io/obj'))
  const kvm = new Kvm(nc)
  const kv = async (name: string, history: number): Promise<KV> =>
    await retryInUse(
      async () => await kvm.create(name, { replicas, history }),
      async () => await kvm.open(name)
    )
  const objm = new Objm(nc)
  const objects = await retryInUse(
    async () => await objm.create(SERVICES_OBJECT_BUCKET, { replicas }),
    async () => await objm.open(SERVICES_OBJECT_BUCKET)
  )
  return {
    nc,
    records: await kv(SERVICES_KV_BUCKET, SERVICES_KV_HISTORY),
    objects,
    status: await kv(SYNC_STATUS_BUCKET, 1)
  }
}

// Another host created the bucket meanwhile with other replicas: open what exists.
async function retryInUse<T>(create: () => Promise<T>, open: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await create()
    } catch (err) {
      if (!/already in use/i.test((err as Error).message)) throw err
      if (attempt >= 2) return await open()
    }
  }
}

export interface StoredRecord {
  record: ServiceRecord
  revision: number
}

export async function readRecord(s: ServiceStore, service: string): Promise<StoredRecord | undefined> {
  const e = await s.records.get(service)
  return recordOf(e)
}

export function recordOf(e: KvEntry | null): StoredRecord | undefined {
  if (e === null || e.operation !== 'PUT') return undefined
  return { record: parseRecord(e.key, e.json()), revision: e.revision }
}

export async function listRecords(s: ServiceStore): Promise<StoredRecord[]> {
  const out: StoredRecord[] = []
  for await (const key of await s.records.keys()) {
    const r = await readRecord(s, key).catch(() => undefined)
    if (r !== undefined) out.push(r)
  }
  return out.sort((a, b) => (a.record.service < b.record.service ? -1 : 1))
}

export interface PushInput {
  service: string
  archive: Buffer
  digest: string
  version: string
  writer: string
  /** The record revision the writer read (tests make two writers race from the same one). */
  expectRevision?: number
}

export interface PushResult {
  record: ServiceRecord
  revision: number
  changed: boolean
}

/** Stores a version and makes it current by compare-and-set; the same version again changes nothing. */
export async function pushVersion(s: ServiceStore, i: PushInput): Promise<PushResult> {
  const current = await readRecord(s, i.service)
  if (current !== undefined && current.record.version === i.version) {
    if (current.record.digest === i.digest) return { ...current, changed: false }
    throw new FleetPushConflict(
      `version "${i.version}" of "${i.service}" is stored already with other content ` +
        `(digest ${current.record.digest.slice(0, 12)}): a version names one content; push with another --version`
    )
  }
  const revision = i.expectRevision ?? current?.revision ?? 0
  const object = objectName(i.service, i.digest)
  const info = await s.objects.info(object).catch(() => null)
  if (info === null || info.deleted) {
    await s.objects.putBlob(
      { name: object, metadata: { service: i.service, version: i.version, digest: i.digest, writer: i.writer } },
      i.archive
    )
  }
  const stored: StoredVersion = {
    version: i.version,
    digest: i.digest,
    size: i.archive.length,
    object,
    writer: i.writer,
    written_at: new Date().toISOString()
  }
  const previous = current !== undefined ? stripPrevious(current.record) : undefined
  const record: ServiceRecord = { service: i.service, ...stored, ...(previous !== undefined ? { previous } : {}) }
  let rev: number
  try {
    rev = await casPut(s, i.service, record, revision)
  } catch (err) {
    if (!isConflict(err)) throw err
    const winner = await readRecord(s, i.service)
    if (winner?.record.object !== object && previous?.object !== object) await s.objects.delete(object).catch(() => {})
    const w = winner?.record
    throw new FleetPushConflict(
      `another push of "${i.service}" won: it is now at version ${w?.version ?? '(removed)'}` +
        `${w !== undefined ? ` (by ${w.writer} at ${w.written_at})` : ''}; version ${i.version} was not stored: push again ` +
        'to replace it',
      undefined,
      undefined,
      { cause: err }
    )
  }
  await pruneObjects(s, i.service, [object, previous?.object])
  return { record, revision: rev, changed: true }
}

/** Makes the previous version current again (compare-and-set); the current one becomes the previous. */
export async function rollbackRecord(s: ServiceStore, service: string, writer: string): Promise<PushResult> {
  const current = await readRecord(s, service)
  if (current === undefined) throw unknown(service)
  const prev = current.record.previous
  if (prev === undefined) throw new FleetServiceUnknown(`"${service}" has no previous version in the fleet's bucket`)
  const record: ServiceRecord = {
    service,
    ...prev,
    writer,
    written_at: new Date().toISOString(),
    previous: stripPrevious(current.record)
  }
  try {
    return { record, revision: await casPut(s, service, record, current.revision), changed: true }
  } catch (err) {
    if (!isConflict(err)) throw err
    throw new FleetPushConflict(`"${service}" changed while rolling back: run it again`, undefined, undefined, {
      cause: err
    })
  }
}

/** Removes a service from the fleet (every host removes it); its objects go too. */
export async function removeService(s: ServiceStore, service: string): Promise<ServiceRecord> {
  const current = await readRecord(s, service)
  if (current === undefined) throw unknown(service)
  try {
    await s.records.delete(service, { previousSeq: current.revision })
  } catch (err) {
    if (!isConflict(err)) throw err
    throw new FleetPushConflict(`"${service}" changed while removing it: run it again`, undefined, undefined, {
      cause: err
    })
  }
  await pruneObjects(s, service, [])
  return current.record
}

/** The archive of a record's version (null when its object is gone). */
export async function fetchArchive(s: ServiceStore, v: StoredVersion): Promise<Buffer | null> {
  const data = await s.objects.getBlob(v.object)
  return data === null ? null : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

async function casPut(s: ServiceStore, key: string, record: ServiceRecord, revision: number): Promise<number> {
  const text = JSON.stringify(record)
  return revision === 0 ? await s.records.create(key, text) : await s.records.update(key, text, revision)
}

function isConflict(err: unknown): boolean {
  return /wrong last sequence|key exists|10071/i.test((err as Error).message)
}

function stripPrevious(r: ServiceRecord): StoredVersion {
  const { version, digest, size, object, writer, written_at: writtenAt } = r
  return { version, digest, size, object, writer, written_at: writtenAt }
}

async function pruneObjects(s: ServiceStore, service: string, keep: Array<string | undefined>): Promise<void> {
  const list = await s.objects.list().catch(() => [])
  // A later push may have won meanwhile: what the record names now is never removed.
  const now = await readRecord(s, service).catch(() => undefined)
  keep = [...keep, now?.record.object, now?.record.previous?.object]
  for (const o of list) {
    if (o.name.startsWith(`${service}/`) && !keep.includes(o.name)) await s.objects.delete(o.name).catch(() => {})
  }
}

function unknown(service: string): FleetServiceUnknown {
  return new FleetServiceUnknown(`no service "${service}" in the fleet's bucket (conductor fleet ls lists them)`)
}
