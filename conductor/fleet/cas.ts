import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { natsPackage } from '../cluster/index.js'

// Compare-and-set of one key of a KV bucket that holds in a clustered JetStream of nats-server
// 2.9. A KV update, create or delete sends the per-subject expectation
// (Nats-Expected-Last-Subject-Sequence), which a clustered stream's leader checks against what
// it has applied, not against the proposals still in flight: two writers racing from one
// revision are both accepted now and then (measured on three 2.9.10 servers: 33 races of 100).
// The stream-wide expectation (Nats-Expected-Last-Sequence) is checked against the proposals
// too (the same 100 races: one winner each time). So a write here reads, from the stream's
// leader, the stream's last sequence and the key's last message; when the key is no longer at
// the revision the writer read, another write won; otherwise it publishes expecting that last
// sequence. Refused, some write came in between (perhaps to another key): it reads again.

export interface CasBucket {
  bucket: string
  js: JetStreamClient
  jsm: JetStreamManager
}

/** How often a write is tried again while other keys of the bucket keep changing under it. */
const ATTEMPTS = 20

export async function casBucket(nc: NatsConnection, bucket: string): Promise<CasBucket> {
  const { jetstream, jetstreamManager } = await natsPackage(import('@nats-io/jetstream'))
  return { bucket, js: jetstream(nc), jsm: await jetstreamManager(nc) }
}

/**
 * The key's current value and revision as the stream's leader has them (a KV get may be answered
 * by a replica behind it); undefined when it has no message or its last is a deletion.
 */
export async function leaderGet(c: CasBucket, key: string): Promise<{ revision: number; value: string } | undefined> {
  const m = await c.jsm.streams.getMessage(`KV_${c.bucket}`, { last_by_subj: `$KV.${c.bucket}.${key}` })
  if (m === null) return undefined
  const op = m.header?.get('KV-Operation') ?? ''
  return op === 'DEL' || op === 'PURGE' ? undefined : { revision: m.seq, value: m.string() }
}

/**
 * The bucket's keys, live ones only, as the stream's leader has them. KV's keys() creates a
 * consumer on the stream and asks for its info; on a 2.9 cluster of three that timed out in 4
 * calls of 10 (measured, a settled cluster). A stream info filtered on the bucket's subjects and
 * one leader get per key needs no consumer: the stream's leader answers both.
 */
export async function leaderKeys(c: CasBucket): Promise<string[]> {
  const prefix = `$KV.${c.bucket}.`
  const info = await c.jsm.streams.info(`KV_${c.bucket}`, { subjects_filter: `${prefix}>` })
  const keys = Object.keys(info.state.subjects ?? {}).map(subject => subject.slice(prefix.length))
  // A deleted or purged key keeps its marker's subject: only those whose last message is a value.
  const live = await Promise.all(keys.map(async key => ((await leaderGet(c, key)) === undefined ? undefined : key)))
  return live.filter((key): key is string => key !== undefined).sort()
}

/**
 * Writes VALUE (a string; null: a deletion marker, as KV delete writes it) to KEY if its revision
 * is still REVISION (0: absent or deleted). Resolves with the new revision, or undefined when
 * the key had moved on (another writer won).
 */
export async function casWrite(
  c: CasBucket,
  key: string,
  revision: number,
  value: string | null
): Promise<number | undefined> {
  const { headers } = await natsPackage(import('@nats-io/transport-node'))
  const stream = `KV_${c.bucket}`
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    // The stream's last sequence first: a write to the key after it shows in the key's revision.
    const last = (await c.jsm.streams.info(stream)).state.last_seq
    if (((await leaderGet(c, key))?.revision ?? 0) !== revision) return undefined
    const h = value === null ? headers() : undefined
    h?.set('KV-Operation', 'DEL')
    try {
      const ack = await c.js.publish(`$KV.${c.bucket}.${key}`, value ?? '', {
        expect: { lastSequence: last },
        ...(h !== undefined ? { headers: h } : {})
      })
      return ack.seq
    } catch (err) {
      if (!/wrong last sequence/i.test((err as Error).message)) throw err
    }
    await new Promise(resolve => setTimeout(resolve, 5 + Math.random() * 20 * (attempt + 1)))
  }
  throw new Error(`${stream}: other writes kept coming between the read and the write of "${key}" (${ATTEMPTS} tries)`)
}
