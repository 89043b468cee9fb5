import t from 'tap'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { packServiceDir } from '../../../../conductor/archive/index.js'
import {
  checkAndPush,
  listFleet,
  openServiceStore,
  pushVersion,
  readRecord,
  removeService,
  rollbackRecord
} from '../../../../conductor/fleet/index.js'
import { leaderKeys } from '../../../../conductor/fleet/cas.js'
import { fetchArchive, readChunks } from '../../../../conductor/fleet/store.js'
import { waitFor } from '../../../harness/ports.js'
import { natsLoopbackCluster, natsLoopbackServer } from '../../../harness/nats-loopback.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The fleet's service storage (issue 18 item 1) on a real nats-server (JetStream, loopback): one
// object per version, the record written by compare-and-set. Two writers from the same revision:
// exactly one wins, the other gets CND_FLEET_PUSH_CONFLICT and its object is not left behind.

t.setTimeout(120_000)

t.test('push, same version, race, rollback, rm', async t => {
  const nc = await connect({ servers: `127.0.0.1:${await natsLoopbackServer(t)}` })
  t.teardown(async () => {
    await nc.close()
  })
  const s = await openServiceStore(nc, 1)
  const src = tempDir(t)
  const dir = (label: string): string => {
    const d = path.join(src, label, 'web')
    writeTree(d, { 'conductor-service.json': { config: { LABEL: label } } })
    return d
  }
  const [p1, p2, p3] = await Promise.all(['v1', 'v2', 'v3'].map(async l => await packServiceDir(dir(l))))

  const first = await checkAndPush(s, { service: 'web', archive: p1!.archive, digest: p1!.digest, writer: 'a' })
  t.match(
    first,
    { changed: true, record: { version: p1!.digest, digest: p1!.digest, writer: 'a' } },
    'version defaults to the digest'
  )
  const again = await checkAndPush(s, { service: 'web', archive: p1!.archive, digest: p1!.digest, writer: 'b' })
  t.equal(again.changed, false, 'the version already stored: nothing changes')
  t.equal(again.revision, first.revision, 'not even the revision')
  await t.rejects(
    pushVersion(s, { service: 'web', archive: p2!.archive, digest: p2!.digest, version: p1!.digest, writer: 'a' }),
    { code: 'CND_FLEET_PUSH_CONFLICT', message: /a version names one content/ },
    'a stored version with other content: refused'
  )

  const rev = first.revision
  const rs = await Promise.allSettled([
    pushVersion(s, {
      service: 'web',
      archive: p2!.archive,
      digest: p2!.digest,
      version: '2',
      writer: 'a',
      expectRevision: rev
    }),
    pushVersion(s, {
      service: 'web',
      archive: p3!.archive,
      digest: p3!.digest,
      version: '3',
      writer: 'b',
      expectRevision: rev
    })
  ])
  t.same(rs.map(r => r.status).sort(), ['fulfilled', 'rejected'], 'two writers from one revision: one wins')
  const lost = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected')!
  t.match(lost.reason, {
    code: 'CND_FLEET_PUSH_CONFLICT',
    message: /another push of "web" won: it is now at version [23] \(by [ab]/
  })
  const winner = (
    rs.find(r => r.status === 'fulfilled') as PromiseFulfilledResult<{ record: { version: string; object: string } }>
  ).value
  const now = await readRecord(s, 'web')
  t.equal(now?.record.version, winner.record.version, "the record is the winner's, whole")
  t.equal(now?.record.previous?.version, p1!.digest, 'its previous is the version both read')
  const objects = (await s.objects.list()).map(o => o.name).sort()
  t.same(objects, [now!.record.object, now!.record.previous!.object].sort(), "the loser's object was removed")

  const rb = await rollbackRecord(s, 'web', 'c')
  t.equal(rb.record.version, p1!.digest, 'rollback: the previous version is current')
  t.equal(rb.record.previous?.version, winner.record.version, 'and the one it replaced is its previous')
  const ls = await listFleet(s)
  t.match(ls.services, [{ service: 'web', version: p1!.digest, previous: winner.record.version }], 'fleet ls')
  await removeService(s, 'web')
  t.equal(await readRecord(s, 'web'), undefined, 'rm: no record')
  t.same(
    (await s.objects.list()).map(o => o.name),
    [],
    'rm: no object'
  )
  await t.rejects(removeService(s, 'web'), { code: 'CND_FLEET_SERVICE_UNKNOWN' }, 'rm of an unknown service')
  await t.rejects(
    checkAndPush(s, { service: '../x', archive: p1!.archive, digest: p1!.digest, writer: 'a' }),
    { code: 'CND_FLEET_NAME_INVALID' },
    'a service name that is not a plain name'
  )
})

// nats-server 2.9's clustered streams let two per-subject compare-and-sets from one revision both
// through now and then (a KV update checks the leader's applied state, not its proposals in
// flight): the records' writes use the stream-wide expectation, which holds (fleet/cas.ts).
t.test('on a cluster of three servers: of two pushes racing from one revision, one wins, every time', async t => {
  const ports = await natsLoopbackCluster(t)
  const ncs = await Promise.all(
    ports.map(async port => {
      let nc: Awaited<ReturnType<typeof connect>> | undefined
      await waitFor(
        'a server answers',
        async () => (nc = await connect({ servers: `127.0.0.1:${port}` })) !== undefined
      )
      t.teardown(async () => {
        await nc!.close()
      })
      return nc!
    })
  )
  let a: Awaited<ReturnType<typeof openServiceStore>> | undefined
  await waitFor(
    'the buckets, R3 (a meta leader elected)',
    async () => (a = await openServiceStore(ncs[0]!, 3)) !== undefined,
    30_000,
    500
  )
  const [b, c] = await Promise.all([openServiceStore(ncs[1]!, 3), openServiceStore(ncs[2]!, 3)])
  const src = tempDir(t)
  const packed = async (label: string) => {
    const d = path.join(src, label, 'web')
    writeTree(d, { 'conductor-service.json': { config: { LABEL: label } } })
    return await packServiceDir(d)
  }
  const first = await packed('base')
  await pushVersion(a!, { service: 'web', archive: first.archive, digest: first.digest, version: 'base', writer: 'a' })
  const rounds = 20
  const outcomes: string[] = []
  for (let i = 0; i < rounds; i++) {
    const cur = await leaderRevision(ncs[0]!, 'web')
    const [x, y] = await Promise.all([packed(`x${i}`), packed(`y${i}`)])
    const rs = await Promise.allSettled([
      pushVersion(b, { service: 'web', ...x, version: `x${i}`, writer: 'b', expectRevision: cur }),
      pushVersion(c, { service: 'web', ...y, version: `y${i}`, writer: 'c', expectRevision: cur })
    ])
    outcomes.push(rs.map(r => r.status[0]).join(''))
    const lost = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (lost !== undefined && lost.reason?.code !== 'CND_FLEET_PUSH_CONFLICT') throw lost.reason
  }
  const wins = outcomes.map(o => o.split('').filter(s => s === 'f').length)
  t.same(
    wins,
    Array.from({ length: rounds }, () => 1),
    `exactly one winner in each of ${rounds} races (f: won, r: told): ${outcomes.join(' ')}`
  )
  const last = await leaderRevision(ncs[0]!, 'web')
  await waitFor('every server reads the last winner', async () =>
    (await Promise.all([a!, b, c].map(async s => await readRecord(s, 'web')))).every(r => r?.revision === last)
  )
  t.match((await readRecord(c, 'web'))?.record.version, /^[xy]19$/, 'the record is the last winner, whole')
})

/** A key's revision as the stream's leader has it (not a replica that may lag). */
async function leaderRevision(nc: Awaited<ReturnType<typeof connect>>, key: string): Promise<number> {
  const jsm = await jetstreamManager(nc)
  const m = await jsm.streams.getMessage('KV_conductor-service-versions', {
    last_by_subj: `$KV.conductor-service-versions.${key}`
  })
  return m?.seq ?? 0
}

// fetchArchive's second way (store.ts): an object's chunks read one by one from the stream's
// leader, no consumer; used when the object store's own read is slow to start.
t.test('an archive read chunk by chunk is the archive stored', async t => {
  const nc = await connect({ servers: `127.0.0.1:${await natsLoopbackServer(t)}` })
  t.teardown(async () => {
    await nc.close()
  })
  const s = await openServiceStore(nc, 1)
  const src = tempDir(t)
  const d = path.join(src, 'web')
  writeTree(d, { 'conductor-service.json': { config: {} } })
  // Several 128 KiB chunks, and another service's object written between (interleaved sequences).
  writeFileSync(path.join(d, 'blob'), Buffer.from(Array.from({ length: 400_000 }, (_, i) => (i * 7) % 251)))
  const p = await packServiceDir(d)
  const r = await pushVersion(s, { service: 'web', archive: p.archive, digest: p.digest, version: '1', writer: 'a' })
  const other = path.join(src, 'api')
  writeTree(other, { 'conductor-service.json': { config: {} } })
  const q = await packServiceDir(other)
  await pushVersion(s, { service: 'api', archive: q.archive, digest: q.digest, version: '1', writer: 'a' })
  const read = await readChunks(s, r.record.object)
  t.ok(read?.equals(p.archive), `the same ${p.archive.length} bytes`)
  t.equal(await readChunks(s, 'web/absent'), null, 'an object not there: null')
  t.ok((await fetchArchive(s, r.record))?.equals(p.archive), 'fetchArchive (up to 4 MiB: by chunks): the same bytes')
  const big = path.join(src, 'big')
  writeTree(big, { 'conductor-service.json': { config: {} } })
  writeFileSync(path.join(big, 'blob'), Buffer.from(Array.from({ length: 5 * 1024 * 1024 }, (_, i) => (i * 31) % 253)))
  const pb = await packServiceDir(big)
  const rb = await pushVersion(s, { service: 'big', archive: pb.archive, digest: pb.digest, version: '1', writer: 'a' })
  t.ok(
    (await fetchArchive(s, rb.record))?.equals(pb.archive),
    'fetchArchive (over 4 MiB: the object store): the same bytes'
  )
})

t.test("a bucket's keys from the stream's leader: live ones only, no consumer", async t => {
  const nc = await connect({ servers: `127.0.0.1:${await natsLoopbackServer(t)}` })
  t.teardown(async () => {
    await nc.close()
  })
  const s = await openServiceStore(nc, 1)
  t.same(await leaderKeys(s.cas), [], 'an empty bucket: no keys')
  for (const key of ['web', 'api', 'db', 'cache']) await s.records.put(key, '{}')
  await s.records.put('web', '{"again":true}')
  await s.records.delete('db')
  await s.records.purge('cache')
  t.same(await leaderKeys(s.cas), ['api', 'web'], 'sorted, each once; deleted and purged keys left out')
  const jsm = await jetstreamManager(nc)
  const consumers = []
  for await (const c of jsm.consumers.list('KV_conductor-service-versions')) consumers.push(c.name)
  t.same(consumers, [], 'no consumer was created on the stream')
})
