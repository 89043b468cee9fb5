import t from 'tap'
import { spawnSync } from 'node:child_process'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import path from 'node:path'
import {
  installServiceVersion,
  packServiceDir,
  recoverServiceVersions,
  rollbackServiceVersion,
  serviceVersions,
  unpackServiceArchive,
  versionsDir
} from '../../../../conductor/archive/index.js'
import { loadAllServices } from '../../../../conductor/model/service.js'
import { snapshotTree } from '../../../harness/tree.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Installed versions of synced services (issue 18): SERVICES/NAME a symlink switched by
// rename(2), the previous version kept for rollback, older ones pruned, operators' own
// directories left alone, and recovery from every state a crash can leave (the kill -9 test
// itself is test/e2e/conductor/archive/install.test.ts).

type T = Parameters<typeof tempDir>[0]

/** A service tree whose content says `label`, unpacked into `into` as the sync daemon would. */
async function unpacked(t: T, label: string, into: string): Promise<{ dir: string; tree: string[] }> {
  const src = tempDir(t)
  writeTree(src, {
    'conductor-service.json': { config: { LABEL: label }, pods: [{ pod_template: './pod.sh' }] },
    'pod.sh': `#!/bin/sh\necho ${label}\n`
  })
  const packed = await packServiceDir(src)
  const u = await unpackServiceArchive(packed.archive, { name: 'web', expectedDigest: packed.digest, into })
  return { dir: u.dir, tree: snapshotTree(src) }
}

function servicesRoot(t: T): string {
  const services = path.join(tempDir(t), 'services')
  writeTree(services, { 'plain/conductor-service.json': {} })
  return services
}

/** What an install of NAME "web" returns. */
const result = (version: string, previous: string | undefined, changed = true, pruned: string[] = []): object => ({
  name: 'web',
  version,
  previous,
  changed,
  pruned
})

/** Everything under .conductor-versions/web, dot names included (what a crash could leave). */
const store = (services: string): string[] => readdirSync(path.join(versionsDir(services), 'web')).sort()

t.test('install: NAME becomes a relative symlink to the version; the previous kept, older ones pruned', async t => {
  const services = servicesRoot(t)
  const into = versionsDir(services)
  const v1 = await unpacked(t, 'one', into)
  t.same(await installServiceVersion(services, 'web', v1.dir, 'v1'), result('v1', undefined))
  t.equal(readlinkSync(path.join(services, 'web')), '.conductor-versions/web/v1')
  t.same(snapshotTree(path.join(services, 'web')), v1.tree)
  t.notOk(existsSync(v1.dir), 'the unpacked directory was moved')

  const v2 = await unpacked(t, 'two', into)
  t.same(await installServiceVersion(services, 'web', v2.dir, 'v2'), result('v2', 'v1'))
  const v3 = await unpacked(t, 'three', into)
  t.same(await installServiceVersion(services, 'web', v3.dir, 'v3'), result('v3', 'v2', true, ['v1']))
  t.same(snapshotTree(path.join(services, 'web')), v3.tree)
  t.same(store(services), ['.previous', 'v2', 'v3'], 'no lock, no temporary name left')
  t.same(readdirSync(into).sort(), ['web'], 'no unpack directory left')
  t.same(await serviceVersions(services, 'web'), { managed: true, current: 'v3', previous: 'v2', kept: ['v2', 'v3'] })

  const again = await unpacked(t, 'three', into)
  t.same(
    await installServiceVersion(services, 'web', again.dir, 'v3'),
    result('v3', 'v2', false),
    'the same version again: nothing to do'
  )
  t.notOk(existsSync(again.dir), 'and its unpacked copy is removed')

  const entries = await loadAllServices(services)
  t.same(
    entries.map(e => [e.name, e.error?.message]),
    [
      ['plain', undefined],
      ['web', undefined]
    ],
    'the versions directory is not a service'
  )
  const web = entries.find(e => e.name === 'web')!.service!
  t.equal(web.dir, path.join(services, 'web'), 'the service dir is the symlink, so a switch is seen by the next load')
  t.same(web.config, { LABEL: 'three' })
  t.equal(web.pods[0]!.pod_template, path.join(services, 'web/pod.sh'))
})

t.test('rollback switches to the previous version and back; refused with nothing to roll back to', async t => {
  const services = servicesRoot(t)
  const into = versionsDir(services)
  const none = 'CND_FLEET_NO_PREVIOUS_VERSION'
  await t.rejects(rollbackServiceVersion(services, 'web'), { code: none, message: /no version of "web" is installed/ })
  const v1 = await unpacked(t, 'one', into)
  await installServiceVersion(services, 'web', v1.dir, 'v1')
  await t.rejects(rollbackServiceVersion(services, 'web'), {
    code: none,
    message: /"web" has no previous version to roll back to \(current: v1\)/
  })
  const v2 = await unpacked(t, 'two', into)
  await installServiceVersion(services, 'web', v2.dir, 'v2')
  t.same(await rollbackServiceVersion(services, 'web'), { name: 'web', version: 'v1', previous: 'v2' })
  t.same(snapshotTree(path.join(services, 'web')), v1.tree)
  t.same(
    await rollbackServiceVersion(services, 'web'),
    { name: 'web', version: 'v2', previous: 'v1' },
    'a second rollback undoes the first'
  )
  t.same(snapshotTree(path.join(services, 'web')), v2.tree)
  const v3 = await unpacked(t, 'three', into)
  const r = await installServiceVersion(services, 'web', v3.dir, 'v1')
  t.same(r, result('v1', 'v2'), 'a kept version is reused, not unpacked again')
  t.same(snapshotTree(path.join(services, 'web')), v1.tree, 'a version names one content')
  await t.rejects(rollbackServiceVersion(services, 'plain'), { code: 'CND_FLEET_SERVICE_NOT_MANAGED' })
})

t.test("an operator's own directory is refused, untouched, unless adopted as the previous version", async t => {
  const services = servicesRoot(t)
  const into = versionsDir(services)
  const before = snapshotTree(path.join(services, 'plain'))
  const v1 = await unpacked(t, 'one', into)
  await t.rejects(installServiceVersion(services, 'plain', v1.dir, 'v1'), {
    code: 'CND_FLEET_SERVICE_NOT_MANAGED',
    message:
      `${path.join(services, 'plain')}: is a directory of your own, not installed by fleet sync: ` +
      'move it away first, or adopt it (it becomes the previous version)'
  })
  t.ok(lstatSync(path.join(services, 'plain')).isDirectory())
  t.same(snapshotTree(path.join(services, 'plain')), before)
  t.notOk(existsSync(v1.dir), 'the unpacked directory is consumed even when refused')

  const v1b = await unpacked(t, 'one', into)
  const r = await installServiceVersion(services, 'plain', v1b.dir, 'v1', { adopt: true })
  t.match(r, { name: 'plain', version: 'v1', previous: /^adopted-\d{8}T\d{9}Z$/, changed: true, pruned: [] })
  t.equal(r.adopted, r.previous)
  t.same(snapshotTree(path.join(versionsDir(services), 'plain', r.previous!)), before, 'the adopted directory, intact')
  t.same(await rollbackServiceVersion(services, 'plain'), { name: 'plain', version: r.previous, previous: 'v1' })
  t.same(snapshotTree(path.join(services, 'plain')), before)

  symlinkSync('/srv/elsewhere', path.join(services, 'mine'))
  const v1c = await unpacked(t, 'one', into)
  await t.rejects(
    installServiceVersion(services, 'mine', v1c.dir, 'v1', { adopt: true }),
    {
      code: 'CND_FLEET_SERVICE_NOT_MANAGED',
      message: /mine: is not a symlink into \.conductor-versions\/mine\/ \(not installed by fleet sync\)/
    },
    "a symlink of the operator's own is never adopted"
  )
  t.equal(readlinkSync(path.join(services, 'mine')), '/srv/elsewhere')
})

t.test('names and versions must be plain; a live lock refuses, a dead one is taken over', async t => {
  const services = servicesRoot(t)
  const into = versionsDir(services)
  for (const version of ['', '.hidden', '../x', 'a/b', '-x', 'x'.repeat(129)]) {
    const u = await unpacked(t, 'one', into)
    await t.rejects(
      installServiceVersion(services, 'web', u.dir, version),
      { code: 'CND_FLEET_NAME_INVALID', message: /is not a plain name/ },
      JSON.stringify(version)
    )
  }
  const u = await unpacked(t, 'one', into)
  await t.rejects(installServiceVersion(services, '../web', u.dir, 'v1'), { code: 'CND_FLEET_NAME_INVALID' })

  mkdirSync(path.join(into, 'web'), { recursive: true })
  const lock = path.join(into, 'web/.lock')
  writeFileSync(lock, JSON.stringify({ pid: process.pid, since: 'now', command: 'install web v0' }))
  const held = await unpacked(t, 'one', into)
  await t.rejects(installServiceVersion(services, 'web', held.dir, 'v1'), {
    code: 'CND_FLEET_INSTALL_LOCKED',
    message: new RegExp(`another process changes "web" \\(pid ${process.pid}, install web v0, since now\\)`)
  })
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!
  writeFileSync(lock, JSON.stringify({ pid: dead, since: 'then', command: 'install web v0' }))
  const free = await unpacked(t, 'one', into)
  t.match(
    await installServiceVersion(services, 'web', free.dir, 'v1'),
    { changed: true },
    'the lock of a dead process is taken over'
  )
  t.notOk(existsSync(lock), 'and released')
})

t.test('unpacked on another file system: copied beside the services, modes kept, then renamed', async t => {
  const shm = '/dev/shm'
  if (!existsSync(shm) || statSync(shm).dev === statSync(tempDir(t)).dev) {
    t.comment('no second file system here: the copy path is not exercised')
    t.pass('skipped')
    return
  }
  const into = mkdtempSync(path.join(shm, 'conductor-test-'))
  t.teardown(() => rmSync(into, { recursive: true, force: true }))
  const services = servicesRoot(t)
  const v1 = await unpacked(t, 'one', into)
  t.same(await installServiceVersion(services, 'web', v1.dir, 'v1'), result('v1', undefined))
  t.same(snapshotTree(path.join(services, 'web')), v1.tree, 'contents and modes (pod.sh 755) intact')
  t.notOk(existsSync(v1.dir))
  t.same(store(services), ['v1'])
})

t.test('recovery finishes or undoes what a crash left, and removes dead leftovers only', async t => {
  const services = servicesRoot(t)
  const into = versionsDir(services)
  const v1 = await unpacked(t, 'one', into)
  await installServiceVersion(services, 'web', v1.dir, 'v1')
  const v2 = await unpacked(t, 'two', into)
  await installServiceVersion(services, 'web', v2.dir, 'v2')
  const web = path.join(into, 'web')
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!

  // Killed before the switch (an install of v3 had marked v2, the current one, as the next previous).
  symlinkSync('v2', path.join(web, '.swap'))
  await recoverServiceVersions(services)
  t.same(store(services), ['.previous', 'v1', 'v2'], 'a .swap equal to the current version is dropped')
  t.equal(readlinkSync(path.join(web, '.previous')), 'v1')

  // Killed after the switch to v2, before .swap (v1) became .previous (the first install had none).
  rmSync(path.join(web, '.previous'))
  symlinkSync('v1', path.join(web, '.swap'))
  symlinkSync('.conductor-versions/web/v1', path.join(web, '.link-1-x'))
  mkdirSync(path.join(web, '.staging-1-x'))
  mkdirSync(path.join(web, '.trash-1-x'))
  mkdirSync(path.join(into, `.unpack-${dead}-abc`))
  mkdirSync(path.join(into, `.unpack-${process.pid}-abc`))
  await recoverServiceVersions(services)
  t.equal(readlinkSync(path.join(services, 'web')), '.conductor-versions/web/v2', 'NAME untouched')
  t.equal(
    readlinkSync(path.join(web, '.previous')),
    'v1',
    '.swap (v1) differs from NAME (v2): the switch happened, it is the previous'
  )
  t.same(store(services), ['.previous', 'v1', 'v2'], 'temporary names removed')
  t.same(
    readdirSync(into).sort(),
    [`.unpack-${process.pid}-abc`, 'web'],
    'the unpack of a live process is kept, a dead one removed'
  )

  // Killed while adopting, between the two renames: NAME absent, the directory already moved.
  const plainVersion = 'adopted-20250101T000000000Z'
  mkdirSync(path.join(into, 'plain'))
  renameSync(path.join(services, 'plain'), path.join(into, 'plain', plainVersion))
  symlinkSync(plainVersion, path.join(into, 'plain/.adopting'))
  await recoverServiceVersions(services)
  t.equal(
    readlinkSync(path.join(services, 'plain')),
    `.conductor-versions/plain/${plainVersion}`,
    'recovery puts the link in place'
  )
  t.same(readdirSync(path.join(into, 'plain')), [plainVersion])
})
