import t from 'tap'
import { spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { connect } from '@nats-io/transport-node'
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
import { freePort, waitFor } from '../../../harness/ports.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The fleet's service storage (issue 18 item 1) on a real nats-server (JetStream, loopback): one
// object per version, the record written by compare-and-set. Two writers from the same revision:
// exactly one wins, the other gets CND_FLEET_PUSH_CONFLICT and its object is not left behind.

t.setTimeout(120_000)

async function natsServer(t: Parameters<typeof tempDir>[0]): Promise<number> {
  const port = await freePort()
  const proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', tempDir(t)], {
    stdio: 'ignore'
  })
  t.teardown(() => {
    proc.kill('SIGKILL')
  })
  await waitFor(
    'nats-server',
    async () =>
      await new Promise<boolean>(resolve => {
        const s = net
          .connect(port, '127.0.0.1', () => {
            s.destroy()
            resolve(true)
          })
          .on('error', () => resolve(false))
      }),
    10_000,
    50
  )
  return port
}

t.test('push, same version, race, rollback, rm', async t => {
  const nc = await connect({ servers: `127.0.0.1:${await natsServer(t)}` })
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
