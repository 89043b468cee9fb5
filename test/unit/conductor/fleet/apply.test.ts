import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { packServiceDir, recoverServiceVersions, versionsDir } from '../../../../conductor/archive/index.js'
import { applyRecord, type ServiceRecord } from '../../../../conductor/fleet/index.js'
import { repoRoot } from '../../../harness/cli.js'
import { waitFor } from '../../../harness/ports.js'
import { snapshotTree } from '../../../harness/tree.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Issue 18: "a sync daemon killed mid-unpack leaves no partial directory and finishes on
// restart". The daemon's step for one record (applyRecord, on the sources through tsx, in a child
// process on a real file system) is killed -9 before each step of unpack and install; right
// after, SERVICES/web is the old version whole; the next run (recovery, as the daemon does at
// start, then the same record) installs the new one whole with nothing left over. Only the run
// that is killed needs a process of its own: the install before it and the run after it are the
// same calls (apply-child.mjs) made here, which spares two tsx start-ups (1-2 s each) per step.

t.setTimeout(240_000)
const child = path.join(repoRoot, 'test/fixtures/fleet/apply-child.mjs')

interface Version {
  record: ServiceRecord
  archiveFile: string
  recordFile: string
  tree: string[]
}

async function version(_t: Test, root: string, label: string): Promise<Version> {
  const src = path.join(root, label, 'web')
  writeTree(src, {
    'conductor-service.json': { config: { LABEL: label } },
    'run.sh': `#!/bin/sh\necho ${label}\n`,
    [`static/${label}.html`]: `<p>${label}</p>\n`.repeat(2000)
  })
  const packed = await packServiceDir(src)
  const record: ServiceRecord = {
    service: 'web',
    version: label,
    digest: packed.digest,
    size: packed.archive.length,
    object: `web/${packed.digest}`,
    writer: 'a',
    written_at: new Date().toISOString()
  }
  const archiveFile = path.join(root, `${label}.tar`)
  const recordFile = path.join(root, `${label}.json`)
  writeFileSync(archiveFile, packed.archive)
  writeFileSync(recordFile, JSON.stringify(record))
  return { record, archiveFile, recordFile, tree: snapshotTree(src) }
}

function run(
  services: string,
  v: Version,
  pauseAt?: string
): { done: Promise<number | string>; stderr: () => string; stdout: () => string; kill: () => void } {
  const env = { PATH: process.env.PATH, ...(pauseAt !== undefined ? { CONDUCTOR_FLEET_PAUSE_AT: pauseAt } : {}) }
  const p = spawn(process.execPath, ['--import=tsx', child, repoRoot, services, v.recordFile, v.archiveFile], {
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let err = ''
  let out = ''
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const done = new Promise<number | string>(resolve => p.once('exit', (code, sig) => resolve(sig ?? code ?? -1)))
  return {
    done,
    stderr: () => err,
    stdout: () => out,
    kill: () => {
      p.kill('SIGKILL')
    }
  }
}

/** What apply-child.mjs does, in this process: recover what a dead run left, then apply V. */
async function applyHere(services: string, v: Version): Promise<string> {
  await recoverServiceVersions(services)
  return (await applyRecord({ servicesDir: services, fetch: async () => readFileSync(v.archiveFile) }, v.record))
    .outcome
}

const leftovers = (services: string): string[] => [
  ...readdirSync(versionsDir(services)).filter(n => n.startsWith('.unpack-')),
  ...readdirSync(path.join(versionsDir(services), 'web')).filter(n => /^\.(staging|link|trash|swap)/.test(n))
]

t.test('killed -9 before each step: old version whole, the restart finishes', async t => {
  const root = tempDir(t)
  const [v1, v2] = [await version(t, root, 'v1'), await version(t, root, 'v2')]
  for (const step of ['write', 'validate', 'install', 'stage', 'mark', 'switch', 'previous', 'prune']) {
    await t.test(step, async t => {
      const services = path.join(tempDir(t), 'services')
      t.equal(await applyHere(services, v1), 'installed', 'v1 installed')
      const c = run(services, v2, step)
      t.teardown(c.kill)
      await waitFor(`paused before ${step}`, () => c.stderr().includes(`paused before ${step}`), 60_000)
      c.kill()
      t.equal(await c.done, 'SIGKILL', `killed before ${step}`)
      const now = snapshotTree(path.join(services, 'web')).join('\n')
      t.ok(
        now === v1.tree.join('\n') || now === v2.tree.join('\n'),
        'right after the kill: one whole version, v1 or v2'
      )
      if (['write', 'validate', 'install', 'stage', 'mark'].includes(step))
        t.same(snapshotTree(path.join(services, 'web')), v1.tree, 'still v1')
      // Killed after the switch, v2 is already current: the restart finds it unchanged.
      t.match(await applyHere(services, v2), /^(installed|unchanged)$/, 'the restart applies the record')
      t.same(snapshotTree(path.join(services, 'web')), v2.tree, 'the restart finished: v2, byte for byte')
      t.same(leftovers(services), [], 'no partial directory, no temporary name left')
    })
  }
})

t.test('a refused version leaves the installed one untouched', async t => {
  const root = tempDir(t)
  const services = path.join(tempDir(t), 'services')
  const v1 = await version(t, root, 'v1')
  const fetch = async (): Promise<Buffer> => (await import('node:fs')).readFileSync(v1.archiveFile)
  t.equal((await applyRecord({ servicesDir: services, fetch }, v1.record)).outcome, 'installed')
  const lie = { ...v1.record, version: 'v9', digest: 'f'.repeat(64) }
  await t.rejects(
    applyRecord({ servicesDir: services, fetch }, lie),
    { code: 'CND_FLEET_DIGEST_MISMATCH' },
    'digest mismatch refused'
  )
  const huge = { ...v1.record, version: 'v10', size: 65 * 1024 * 1024 }
  let fetched = false
  await t.rejects(
    applyRecord(
      {
        servicesDir: services,
        fetch: async () => {
          fetched = true
          return await fetch()
        }
      },
      huge
    ),
    { code: 'CND_FLEET_ARCHIVE_TOO_LARGE' },
    'a record over the size limit refused'
  )
  t.notOk(fetched, 'before fetching it')
  t.same(snapshotTree(path.join(services, 'web')), v1.tree, 'v1 untouched')
  t.same(leftovers(services), [], 'nothing left over')
  t.equal(
    (await applyRecord({ servicesDir: services, fetch }, v1.record)).outcome,
    'unchanged',
    'the same record again: unchanged'
  )
})
