import type { KV, KvEntry } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { natsPackage } from '../cluster/index.js'
import { casBucket, casWrite, leaderGet, leaderKeys, type CasBucket } from '../fleet/index.js'
import { LEDGER_BUCKET, LOCKS_BUCKET, PLACEMENTS_BUCKET } from './defaults.js'
import { parseLedger, type LedgerEntry } from './ledger.js'
import { parsePlacement, type PlacementValue } from './decide.js'

// The scheduler's three KV buckets, replicated like every conductor-* bucket (the fleet
// daemon scales them with the membership), and the compare-and-set reads and writes on them.

export interface SchedulerKv {
  locks: KV
  ledger: KV
  placements: KV
  /** Compare-and-set that holds on a nats-server 2.9 cluster (fleet/cas.ts), for ledgers and placements. */
  cas: { locks: CasBucket; ledger: CasBucket; placements: CasBucket }
}

/**
 * Opens the buckets; CREATE (the fleet daemon) makes them when absent first. Creating needs the
 * JetStream meta leader, which a cluster may lack for seconds after losing a host: then, and
 * for commands (no CREATE), they are bound without any API call, and reads and writes go to
 * each bucket's own stream leader.
 */
export async function openSchedulerKv(nc: NatsConnection, replicas: number, create = true): Promise<SchedulerKv> {
  const { Kvm } = await natsPackage(import('@nats-io/kv'))
  const kvm = new Kvm(nc)
  const open = async (name: string, history: number): Promise<KV> => {
    if (!create) return await kvm.open(name)
    for (let attempt = 0; ; attempt++) {
      try {
        return await kvm.create(name, { replicas, history })
      } catch (err) {
        const message = (err as Error).message
        // Another host created it meanwhile with other replicas, or no meta leader now: bind.
        if (/timeout|not enabled|no responders/i.test(message)) return await kvm.open(name)
        if (!/already in use/i.test(message)) throw err
        if (attempt >= 2) return await kvm.open(name)
      }
    }
  }
  return {
    locks: await open(LOCKS_BUCKET, 1),
    ledger: await open(LEDGER_BUCKET, 5),
    placements: await open(PLACEMENTS_BUCKET, 5),
    cas: {
      locks: await casBucket(nc, LOCKS_BUCKET),
      ledger: await casBucket(nc, LEDGER_BUCKET),
      placements: await casBucket(nc, PLACEMENTS_BUCKET)
    }
  }
}

export interface Versioned<T> {
  value: T
  revision: number
}

/** A compare-and-set refused: someone wrote the key since it was read. */
export function isConflict(err: unknown): boolean {
  return /wrong last sequence|key exists|10071/i.test((err as Error).message)
}

/**
 * Creates KEY (revision 0: absent or deleted) or updates it at REVISION: a lock, a ledger or a
 * placement, where two winners would grant a lock twice or over-commit a machine: the
 * stream-wide expectation of fleet/cas.ts (a KV update's per-key expectation lets two racing
 * writers through now and then on a nats-server 2.9 cluster). A refusal throws a conflict.
 */
export async function casPutStrict(c: CasBucket, key: string, value: unknown, revision: number): Promise<number> {
  const rev = await casWrite(c, key, revision, JSON.stringify(value))
  if (rev === undefined) throw new Error(`wrong last sequence: ${c.bucket}/${key} is no longer at revision ${revision}`)
  return rev
}

export function placementOfEntry(e: KvEntry | null): Versioned<PlacementValue> | undefined {
  if (e === null || e.operation !== 'PUT') return undefined
  const value = parsePlacement(e.key, e.json())
  return value === undefined ? undefined : { value, revision: e.revision }
}

/** A placement as the stream's leader has it (a KV get may be answered by a replica behind). */
export async function readPlacementKv(
  kv: SchedulerKv,
  service: string
): Promise<Versioned<PlacementValue> | undefined> {
  const m = await leaderGet(kv.cas.placements, service)
  if (m === undefined) return undefined
  const value = parsePlacement(service, JSON.parse(m.value))
  return value === undefined ? undefined : { value, revision: m.revision }
}

export async function readAllPlacements(kv: SchedulerKv): Promise<Map<string, Versioned<PlacementValue>>> {
  const out = new Map<string, Versioned<PlacementValue>>()
  for (const key of await leaderKeys(kv.cas.placements)) {
    const p = await readPlacementKv(kv, key)
    if (p !== undefined) out.set(key, p)
  }
  return out
}

/** A machine's ledger as the stream's leader has it; a deleted or foreign record reads as absent. */
export async function readLedger(kv: SchedulerKv, host: string): Promise<Versioned<LedgerEntry> | undefined> {
  const m = await leaderGet(kv.cas.ledger, host)
  if (m === undefined) return undefined
  const value = parseLedger(host, JSON.parse(m.value))
  return value === undefined ? undefined : { value, revision: m.revision }
}

/**
 * Every machine's ledger. With HOSTS (the machines the caller knows: members and the ledgers it
 * has seen), one get per machine; without, the bucket's keys are listed first (a stream info
 * more): daemons that place often pass HOSTS.
 */
export async function readLedgers(
  kv: SchedulerKv,
  hosts?: Iterable<string>
): Promise<Map<string, Versioned<LedgerEntry>>> {
  const out = new Map<string, Versioned<LedgerEntry>>()
  const keys: string[] = []
  if (hosts !== undefined) keys.push(...new Set(hosts))
  else keys.push(...(await leaderKeys(kv.cas.ledger)))
  const read = await Promise.all(keys.map(async key => [key, await readLedger(kv, key)] as const))
  for (const [key, l] of read) if (l !== undefined) out.set(key, l)
  return out
}
