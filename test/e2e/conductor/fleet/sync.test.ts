import t, { type Test } from 'tap'
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import path from 'node:path'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { packServiceDir } from '../../../../conductor/archive/index.js'
import { openServiceStore, pushVersion, readRecord, type ServiceStore } from '../../../../conductor/fleet/index.js'
import { joinCluster, metaSize, startConductorHost, type ConductorHost } from '../../../harness/conductor-host.js'
import { startHosts } from '../../../harness/netns.js'
import { waitFor } from '../../../harness/ports.js'
import { rawTar, type RawEntry } from '../../../harness/raw-tar.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'
import { snapshotTree } from '../../../harness/tree.js'

// Issue 18 end to end: three hosts in network namespaces with Conductor installed (the peers
// harness), joined into one cluster; service directories pushed on A reach B and C byte for
// byte within 5 s and run where placed (fleet.hosts); bad inputs, written into the bucket as a
// hostile writer would, are refused on every host with the installed version untouched; two
// pushes racing from the same revision: one wins whole, the other is told; rollback. One setup.

t.setTimeout(600_000)
const WITHIN_MS = 5000
const timings: Record<string, number> = {}

async function within(
  t: Test,
  what: string,
  since: number,
  check: () => Promise<boolean> | boolean,
  diag = (): string => ''
): Promise<number> {
  await waitFor(what, check, 60_000, 50).catch(err => {
    throw new Error(`${(err as Error).message} ${diag()}`)
  })
  const took = Date.now() - since
  t.ok(took <= WITHIN_MS, `${what}: ${took} ms (at most ${WITHIN_MS})`)
  return took
}

const services = (h: ConductorHost): string => path.join(h.root, 'etc/conductor/services')
const tree = (h: ConductorHost, name: string): string[] => {
  try {
    return snapshotTree(path.join(services(h), name))
  } catch {
    return []
  }
}
interface Status {
  services: Record<
    string,
    { version?: string; running: boolean; refused?: { version: string; code?: string; error?: string } }
  >
}
const status = (h: ConductorHost): Status => {
  try {
    return JSON.parse(readFileSync(path.join(h.root, 'run/conductor/fleet-sync.json'), 'utf8')) as Status
  } catch {
    return { services: {} }
  }
}
const active = (h: ConductorHost, name: string): boolean =>
  h.sd.systemctl('is-active', `conductor-service@${name}.service`).stdout.trim() === 'active'

/** A service source tree: nested directory, an executable, a relative symlink, binary content. */
function source(root: string, name: string, label: string, extra: object = {}): string {
  const dir = path.join(root, label, name)
  writeTree(dir, {
    'conductor-service.json': { config: { LABEL: label }, ...extra },
    'hooks/run.sh': `#!/bin/sh\necho ${label}\n`,
    'static/index.html': `<p>${label}</p>\n`.repeat(200)
  })
  writeFileSync(path.join(dir, 'static/blob.bin'), createHash('sha512').update(label).digest())
  symlinkSync('static/index.html', path.join(dir, 'index.html'))
  return dir
}

t.test('fleet sync: push, replicate, place, refuse, race, rollback across three hosts', async t => {
  const t0 = Date.now()
  const fleet = await startHosts(t, { count: 3 })
  const [A, B, C] = await Promise.all(
    fleet.hosts.map(async (h, i) => await startConductorHost(t, h, ['a', 'b', 'c'][i]!))
  )
  const all = [A!, B!, C!]
  await joinCluster([A!, B!])
  await waitFor(
    'a JetStream meta group of a and b',
    async () => (await metaSize(A!)) === 2 && (await metaSize(B!)) === 2,
    120_000,
    500
  )
  // C invites, A adds it. A refusal because A's NATS server is still busy changes nothing: asked again.
  const inv = JSON.parse((await C!.cnd('peer', 'invite', '--json')).stdout) as { secret: string }
  let add = await A!.cnd('peer', 'add', C!.host.ip, inv.secret, '--ca-file', C!.caddy.caFile)
  for (let i = 0; i < 5 && add.code !== 0 && /CND_NATS_UNAVAILABLE|does not answer/.test(add.stderr); i++) {
    await new Promise(resolve => setTimeout(resolve, 3000))
    add = await A!.cnd('peer', 'add', C!.host.ip, inv.secret, '--ca-file', C!.caddy.caFile)
  }
  t.equal(add.code, 0, `peer add c on a: ${add.stderr}`)
  await waitFor(
    'a JetStream meta group of three',
    async () => (await Promise.all(all.map(metaSize))).every(n => n === 3),
    120_000,
    500
  )
  // The sync task opens its buckets once its daemon is connected to a clustered JetStream.
  await waitFor(
    'every host clustered, its sync task running',
    () =>
      all.every(
        h =>
          h.state().clustered &&
          (() => {
            try {
              return (
                Date.now() -
                  (
                    JSON.parse(readFileSync(path.join(h.root, 'run/conductor/fleet-sync.json'), 'utf8')) as {
                      updated_at: number
                      bucket_open: boolean
                    }
                  ).updated_at <
                  3000 &&
                (
                  JSON.parse(readFileSync(path.join(h.root, 'run/conductor/fleet-sync.json'), 'utf8')) as {
                    bucket_open: boolean
                  }
                ).bucket_open
              )
            } catch {
              return false
            }
          })()
      ),
    120_000,
    200
  ).catch(err => {
    throw new Error(`${(err as Error).message}; ${all.map(h => h.logs()).join('\n')}`)
  })
  timings.setup = Date.now() - t0
  const src = tempDir(t)

  let v1: string
  await t.test('push on A: the exact tree on B and C within 5 s, running where fleet.hosts says', async t => {
    v1 = source(src, 'web', 'v1', { fleet: { hosts: ['a', 'b'] } })
    const pushed = Date.now()
    const push = await A!.cnd('fleet', 'push', v1, '--set-version', '1')
    t.equal(push.code, 0, push.stderr)
    t.match(push.stdout, /pushed web version 1/)
    const want = snapshotTree(v1)
    timings.pushToAll = await within(
      t,
      'web version 1 on every host, byte for byte',
      pushed,
      () => all.every(h => tree(h, 'web').join('\n') === want.join('\n')),
      () => all.map(h => h.logs()).join('\n')
    )
    await waitFor('placed hosts run it', () => active(A!, 'web') && active(B!, 'web'), 20_000, 100)
    t.ok(active(A!, 'web') && active(B!, 'web'), 'a and b (fleet.hosts) run web')
    t.notOk(active(C!, 'web'), 'c has it unpacked but does not run it')
    const again = await A!.cnd('fleet', 'push', v1, '--set-version', '1')
    t.match(again.stdout, /already at version 1: nothing pushed/, 'the same version again: nothing done, and said')
    await waitFor(
      'fleet ls shows where it runs',
      async () => {
        const ls = JSON.parse((await B!.cnd('fleet', 'ls', '--json')).stdout) as {
          services: Array<{ unpacked_on: string[]; running_on: string[] }>
        }
        return ls.services[0]?.unpacked_on.join() === 'a,b,c' && ls.services[0]?.running_on.join() === 'a,b'
      },
      10_000,
      200
    )
    t.pass('fleet ls (on B): unpacked on a,b,c; running on a,b')
    const dflt = source(src, 'api', 'v1')
    const p2 = await B!.cnd('fleet', 'push', dflt)
    t.equal(p2.code, 0, p2.stderr)
    // Without fleet.hosts the scheduler places it (issue 19): one copy, on the host it chose.
    let placed = ''
    await waitFor(
      'api on every host, running where the scheduler placed it',
      async () => {
        const w = await B!.cnd('fleet', 'where', 'api', '--json')
        placed = w.code === 0 ? ((JSON.parse(w.stdout) as { hosts: Array<{ id: string }> }).hosts[0]?.id ?? '') : ''
        const host = all.find(h => h.id === placed)
        return all.every(h => tree(h, 'api').length > 0) && host !== undefined && active(host, 'api')
      },
      20_000,
      100
    )
    t.same(
      all.filter(h => active(h, 'api')).map(h => h.id),
      [placed],
      `without fleet.hosts: only the host the scheduler placed it on (${placed}) runs it`
    )
  })

  let nc: NatsConnection
  let store: ServiceStore
  await t.test('bad input, through push: refused before anything is stored', async t => {
    const bad = path.join(src, 'bad', 'web')
    writeTree(bad, { 'conductor-service.json': { pods: 'not a list' } })
    const r = await A!.cnd('fleet', 'push', bad)
    t.equal(r.code, 3, 'invalid conductor-service.json: exit 3')
    t.match(r.stderr, /web\/conductor-service\.json: \/pods/, 'names the file and the JSON path')
    const name = path.join(src, 'bad', '-x')
    writeTree(name, { 'conductor-service.json': {} })
    const n = await A!.cnd('fleet', 'push', name)
    t.match(n.stderr, /CND_FLEET_NAME_INVALID|not a plain name/, 'a service name that is not a plain name')
    const out = path.join(src, 'bad2', 'web')
    writeTree(out, { 'conductor-service.json': {} })
    symlinkSync('../../etc/passwd', path.join(out, 'leak'))
    const l = await A!.cnd('fleet', 'push', out)
    t.match(l.stderr, /resolves outside the service directory/, 'a symlink leaving the directory')
    t.equal(status(A!).services.web?.version, '1', 'web still at version 1')
  })

  await t.test('bad input written into the bucket directly: refused on every host, version 1 untouched', async t => {
    const auth = (
      JSON.parse(readFileSync(path.join(A!.root, 'var/lib/conductor/cluster/cluster.json'), 'utf8')) as {
        nats_auth: { user: string; password: string }
      }
    ).nats_auth
    nc = await connect({
      servers: `127.0.0.1:${await A!.host.forward(4222)}`,
      user: auth.user,
      pass: auth.password,
      ignoreClusterUpdates: true,
      // The forwarded connection may drop on a loaded machine: reconnect rather than fail the later subtests.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 200,
      pingInterval: 30_000
    })
    t.teardown(async () => {
      await nc.close()
    })
    store = await openServiceStore(nc, 3)
    const valid: RawEntry = { name: 'conductor-service.json', content: '{"config": {"A": "1"}}' }
    const cases: Array<[string, RawEntry[], string, boolean?]> = [
      ['an entry with ..', [valid, { name: '../escape', content: 'x' }], 'CND_FLEET_ARCHIVE_INVALID'],
      ['an absolute path', [valid, { name: '/etc/escape', content: 'x' }], 'CND_FLEET_ARCHIVE_INVALID'],
      [
        'a symlink outside',
        [valid, { name: 'leak', type: '2', linkname: '../../../etc/passwd' }],
        'CND_FLEET_ARCHIVE_INVALID'
      ],
      ['a hard link outside', [valid, { name: 'leak', type: '1', linkname: '../x' }], 'CND_FLEET_ARCHIVE_INVALID'],
      ['a device file', [valid, { name: 'dev', type: '3' }], 'CND_FLEET_ARCHIVE_INVALID'],
      [
        'an invalid conductor-service.json',
        [{ name: 'conductor-service.json', content: '{"pods": 3}' }],
        'CND_SERVICE_INVALID'
      ],
      ['a digest mismatch', [valid], 'CND_FLEET_DIGEST_MISMATCH', true]
    ]
    const before = all.map(h => tree(h, 'web').join('\n'))
    let i = 0
    for (const [what, entries, code, lie] of cases) {
      const archive = rawTar(entries)
      const digest = createHash('sha256')
        .update(lie === true ? Buffer.from('other') : archive)
        .digest('hex')
      const version = `bad${++i}`
      await pushVersion(store, { service: 'web', archive, digest, version, writer: 'mallory' })
      await waitFor(
        `${what}: refused on every host`,
        () => all.every(h => status(h).services.web?.refused?.version === version),
        20_000,
        50
      ).catch(err => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(all.map(status))}`)
      })
      t.same(
        all.map(h => status(h).services.web?.refused?.code),
        [code, code, code],
        `${what}: ${code} on a, b and c`,
        { errors: all.map(h => status(h).services.web?.refused) }
      )
      t.same(
        all.map(h => tree(h, 'web').join('\n')),
        before,
        `${what}: version 1 untouched everywhere`
      )
    }
    const big = Buffer.alloc(65 * 1024 * 1024)
    const bigTar = rawTar([valid, { name: 'big', content: big }])
    const bigDigest = createHash('sha256').update(bigTar).digest('hex')
    await pushVersion(store, { service: 'web', archive: bigTar, digest: bigDigest, version: 'big', writer: 'mallory' })
      .then(() =>
        waitFor(
          'over the size limit: refused on every host',
          () => all.every(h => status(h).services.web?.refused?.code === 'CND_FLEET_ARCHIVE_TOO_LARGE'),
          30_000,
          100
        )
      )
      .then(
        () => t.pass('over the size limit: CND_FLEET_ARCHIVE_TOO_LARGE on a, b and c'),
        (err: Error) =>
          t.match(err.message, /max_payload|maximum payload|exceed/i, 'over the size limit: the bucket itself refuses')
      )
    t.same(
      all.map(h => tree(h, 'web').join('\n')),
      before,
      'version 1 still untouched everywhere'
    )
    t.ok(active(A!, 'web') && active(B!, 'web'), 'and still running where placed')
  })

  await t.test('two pushes racing from the same revision: one wins whole, the other is told', async t => {
    const cur = await readRecord(store, 'web')
    const x = source(src, 'web', 'race-x', { fleet: { hosts: ['a', 'b'] } })
    const y = source(src, 'web', 'race-y', { fleet: { hosts: ['a', 'b'] } })
    const [px, py] = await Promise.all([packServiceDir(x), packServiceDir(y)])
    const rs = await Promise.allSettled([
      pushVersion(store, {
        service: 'web',
        archive: px.archive,
        digest: px.digest,
        version: 'x',
        writer: 'a',
        expectRevision: cur!.revision
      }),
      pushVersion(store, {
        service: 'web',
        archive: py.archive,
        digest: py.digest,
        version: 'y',
        writer: 'b',
        expectRevision: cur!.revision
      })
    ])
    const won = rs.filter(r => r.status === 'fulfilled')
    const lost = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    t.equal(won.length, 1, 'exactly one push won')
    t.equal(lost.length, 1, 'the other one failed')
    t.match(
      lost[0]?.reason,
      { code: 'CND_FLEET_PUSH_CONFLICT', message: /another push of "web" won/ },
      'and was told who won'
    )
    const winner = rs[0]!.status === 'fulfilled' ? x : y
    const want = snapshotTree(winner).join('\n')
    const since = Date.now()
    await within(t, "every host holds the winner's tree whole", since, () =>
      all.every(h => tree(h, 'web').join('\n') === want)
    )
    const r = await C!.cnd('fleet', 'push', winner === x ? y : x, '--set-version', 'z')
    t.equal(r.code, 0, 'a later push from another host, after the race, succeeds')
    await waitFor('z everywhere', () => all.every(h => status(h).services.web?.version === 'z'), 20_000, 50)
  })

  await t.test('fleet rollback: every host back to the previous version', async t => {
    const prev = (await readRecord(store, 'web'))!.record.previous!.version
    const since = Date.now()
    const r = await B!.cnd('fleet', 'rollback', 'web')
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, new RegExp(`rolled back to version ${prev}`))
    await within(t, `every host back at ${prev}`, since, () => all.every(h => status(h).services.web?.version === prev))
    const rm = await A!.cnd('fleet', 'rm', 'api')
    t.equal(rm.code, 0, rm.stderr)
    await waitFor(
      'api removed everywhere, stopped on b',
      () => all.every(h => tree(h, 'api').length === 0) && !active(B!, 'api'),
      20_000,
      100
    )
    t.pass('fleet rm: removed on every host, stopped where it ran')
    const doctor = JSON.parse((await C!.cnd('doctor', '--json')).stdout) as {
      checks: Array<{ name: string; ok: boolean; detail: string }>
    }
    t.match(
      doctor.checks.find(c => c.name === 'fleet sync'),
      { ok: true, detail: /0 revision\(s\) behind/ },
      'doctor: sync running, no lag'
    )
  })
  t.comment(`timings (ms): ${JSON.stringify(timings)}`)
})
