import type { KV, KvEntry } from '@nats-io/kv'
import type { ObjectStore } from '@nats-io/obj'
import type { NatsConnection } from '@nats-io/transport-node'
import { natsPackage } from '../cluster/index.js'
import { FleetPushConflict, FleetServiceUnknown } from '../../errors/index.js'
import { SERVICES_KV_BUCKET, SERVICES_KV_HISTORY, SERVICES_OBJECT_BUCKET, SYNC_STATUS_BUCKET } from './defaults.js'
import { objectName, parseRecord, type ServiceRecord, type StoredVersion } from './record.js'
import { casBucket, casWrite, leaderGet, leaderKeys, type CasBucket } from './cas.js'

// The fleet's service storage (issue 18 item 1): archives in a replicated object store, one
// record per service in a KV bucket. A write is: the object first (content addressed, so two
// racing writers never overwrite each other's bytes), then the record by compare-and-set on the
// key's revision (cas.ts: one that holds in nats-server 2.9's clustered streams). The record is what hosts follow, so a host only ever sees a whole version:
// the loser of a race is told, and its object is removed.

export interface ServiceStore {
  nc: NatsConnection
  records: KV
  objects: ObjectStore
  /** Per-host sync status (key: peer id). */
  status: KV
  /** The records' compare-and-set (cas.ts). */
  cas: CasBucket
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
  // Each step named in its error: "timeout" alone does not say which bucket had no stream leader.
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`, { cause: err })
    }
  }
  const objects = await step(
    `object store ${SERVICES_OBJECT_BUCKET}`,
    async () =>
      await retryInUse(
        async () => await objm.create(SERVICES_OBJECT_BUCKET, { replicas }),
        async () => await objm.open(SERVICES_OBJECT_BUCKET)
      )
  )
  return {
    nc,
    records: await step(`bucket ${SERVICES_KV_BUCKET}`, async () => await kv(SERVICES_KV_BUCKET, SERVICES_KV_HISTORY)),
    objects,
    status: await step(`bucket ${SYNC_STATUS_BUCKET}`, async () => await kv(SYNC_STATUS_BUCKET, 1)),
    cas: await step('JetStream API', async () => await casBucket(nc, SERVICES_KV_BUCKET))
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
  for (const key of await leaderKeys(s.cas)) {
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
  const current = await leaderStored(s, i.service)
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
  const rev = await casWrite(s.cas, i.service, revision, JSON.stringify(record))
  if (rev === undefined) {
    const winner = await leaderRecord(s, i.service)
    if (winner?.object !== object && previous?.object !== object) await s.objects.delete(object).catch(() => {})
    throw new FleetPushConflict(
      `another push of "${i.service}" won: it is now at version ${winner?.version ?? '(removed)'}` +
        `${winner !== undefined ? ` (by ${winner.writer} at ${winner.written_at})` : ''}; version ${i.version} was not ` +
        'stored: push again to replace it'
    )
  }
  // The one object this write stopped naming: the version two back (no listing of the bucket,
  // which is a consumer per push; `fleet rm` lists and removes everything of the service).
  const dropped = current?.record.previous?.object
  if (dropped !== undefined) await pruneObjects(s, i.service, [object, previous?.object], [dropped])
  return { record, revision: rev, changed: true }
}

/** Makes the previous version current again (compare-and-set); the current one becomes the previous. */
export async function rollbackRecord(s: ServiceStore, service: string, writer: string): Promise<PushResult> {
  const current = await leaderStored(s, service)
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
  const revision = await casWrite(s.cas, service, current.revision, JSON.stringify(record))
  if (revision === undefined) throw new FleetPushConflict(`"${service}" changed while rolling back: run it again`)
  return { record, revision, changed: true }
}

/** Removes a service from the fleet (every host removes it); its objects go too. */
export async function removeService(s: ServiceStore, service: string): Promise<ServiceRecord> {
  const current = await leaderStored(s, service)
  if (current === undefined) throw unknown(service)
  if ((await casWrite(s.cas, service, current.revision, null)) === undefined) {
    throw new FleetPushConflict(`"${service}" changed while removing it: run it again`)
  }
  await pruneObjects(s, service, [])
  return current.record
}

/** The archive of a record's version (null when its object is gone). */
/**
 * The archive of a record's version (null when its object is gone). The object store's own read
 * is an ordered consumer, created through the JetStream meta leader; on three hosts one of them
 * often waited seconds for it (up to its 5 s timeout) even on a quiet machine, while reading the
 * object's chunks one by one from the stream's leader (no consumer, ~30 ms a chunk) took 0.3 s
 * for 1 MiB. So an archive up to CHUNKED_UP_TO is read by chunks; a larger one by the object
 * store, with the chunk read started too when it has not finished within FAST_FETCH_MS, and
 * whichever ends first is used (the digest is checked after, either way).
 */
export async function fetchArchive(s: ServiceStore, v: StoredVersion): Promise<Buffer | null> {
  if (v.size <= CHUNKED_UP_TO) return await readChunks(s, v.object)
  const blob = s.objects
    .getBlob(v.object)
    .then(d => (d === null ? null : Buffer.from(d.buffer, d.byteOffset, d.byteLength)))
  let timer: NodeJS.Timeout | undefined
  const slow = new Promise<'slow'>(resolve => {
    timer = setTimeout(() => resolve('slow'), FAST_FETCH_MS)
  })
  try {
    const first = await Promise.race([blob, slow])
    if (first !== 'slow') return first
  } finally {
    clearTimeout(timer)
  }
  const chunks = readChunks(s, v.object)
  // The first to deliver wins; a failure of one is not final while the other may still deliver.
  blob.catch(() => {})
  chunks.catch(() => {})
  return await Promise.any([blob, chunks]).catch((err: AggregateError) => {
    throw err.errors[1] ?? err.errors[0]
  })
}

const CHUNKED_UP_TO = 4 * 1024 * 1024
const FAST_FETCH_MS = 2000

/** An object's chunks read from the stream's leader with one message request each. */
export async function readChunks(s: ServiceStore, name: string): Promise<Buffer | null> {
  const info = await s.objects.info(name)
  if (info === null || info.deleted) return null
  const stream = `OBJ_${SERVICES_OBJECT_BUCKET}`
  const subject = `$O.${SERVICES_OBJECT_BUCKET}.C.${info.nuid}`
  const parts: Buffer[] = []
  let seq = 1
  for (let i = 0; i < info.chunks; i++) {
    // next_by_subj: the first message on the subject at or after seq (nats-server 2.9 answers it).
    const query = { seq, next_by_subj: subject } as unknown as { seq: number }
    const m = await s.cas.jsm.streams.getMessage(stream, query)
    if (m === null) throw new Error(`object ${name}: chunk ${i + 1} of ${info.chunks} is missing`)
    parts.push(Buffer.from(m.data))
    seq = m.seq + 1
  }
  const data = Buffer.concat(parts)
  if (data.length !== info.size) throw new Error(`object ${name}: ${data.length} bytes read, ${info.size} stored`)
  return data
}

/**
 * The record as the records stream's leader has it: what a write compares with (a KV get may be
 * answered by a replica behind the leader, and a write from that view would be refused).
 */
async function leaderStored(s: ServiceStore, service: string): Promise<StoredRecord | undefined> {
  const e = await leaderGet(s.cas, service)
  return e === undefined ? undefined : { record: parseRecord(service, JSON.parse(e.value)), revision: e.revision }
}

/** The winner of a lost race, for the message (undefined: removed, or not readable now). */
async function leaderRecord(s: ServiceStore, service: string): Promise<ServiceRecord | undefined> {
  return (await leaderStored(s, service).catch(() => undefined))?.record
}

function stripPrevious(r: ServiceRecord): StoredVersion {
  const { version, digest, size, object, writer, written_at: writtenAt } = r
  return { version, digest, size, object, writer, written_at: writtenAt }
}

/** Removes the service's objects (CANDIDATES, or all it has) but those KEEP and its record name. */
async function pruneObjects(
  s: ServiceStore,
  service: string,
  keep: Array<string | undefined>,
  candidates?: string[]
): Promise<void> {
  const list = candidates?.map(name => ({ name })) ?? (await s.objects.list().catch(() => []))
  // A later push may have won meanwhile: what the record names now (the leader's) is never removed.
  let now: StoredRecord | undefined
  try {
    now = await leaderStored(s, service)
  } catch {
    return // not known now: nothing is removed (a later push prunes)
  }
  keep = [...keep, now?.record.object, now?.record.previous?.object]
  for (const o of list) {
    if (o.name.startsWith(`${service}/`) && !keep.includes(o.name)) await s.objects.delete(o.name).catch(() => {})
  }
}

function unknown(service: string): FleetServiceUnknown {
  return new FleetServiceUnknown(`no service "${service}" in the fleet's bucket (conductor fleet ls lists them)`)
}
