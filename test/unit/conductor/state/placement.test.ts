import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import {
  placedElsewhere,
  placementFile,
  placementLockFile,
  readOr,
  readPlacement,
  updatePlacement,
  writePlacementFile
} from '../../../../conductor/state/index.js'
import { loadDesired } from '../../../../conductor/reconcile/index.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The placement file of fleet sync (issue 18): a synced service placed only on other hosts, or
// disabled here by the disable function, is treated as disabled by reconcile; enabled here runs
// wherever placed; a service absent from the file (an operator's own) runs as its file says.

t.test("placedElsewhere and reconcile's desired state", async t => {
  const lib = tempDir(t)
  t.equal(readPlacement(lib), undefined, 'no file: nothing placed')
  writePlacementFile(lib, {
    here: 'c',
    services: {
      web: { hosts: ['a', 'b'], source: 'file' },
      api: { hosts: ['c'], source: 'pusher' },
      off: { hosts: ['c'], source: 'pusher' },
      on: { hosts: ['a'], source: 'pusher' }
    },
    overrides: { off: 'disabled', on: 'enabled' }
  })
  const elsewhere = placedElsewhere(readPlacement(lib))
  t.same([...elsewhere.keys()].sort(), ['off', 'web'], 'web (placed on a, b) and off (disabled here) do not run here')
  t.same(elsewhere.get('web'), ['a', 'b'])
  const services = path.join(tempDir(t), 'services')
  for (const name of ['web', 'api', 'off', 'on', 'own']) writeTree(services, { [`${name}/conductor-service.json`]: {} })
  const { desired } = await loadDesired(services, undefined, elsewhere)
  t.same(desired.disabled.sort(), ['off', 'web'], 'reconcile: those two are disabled here')
  t.same(
    desired.services.map(s => s.name).sort(),
    ['api', 'on', 'own'],
    'the others run, own (not synced) as its file says'
  )
})

// The file has several writers (the sync daemon, the enable/disable functions, the scheduler):
// each change is a read-modify-write under the file's lock, and readers never see half a file.

t.test('updatePlacement: concurrent writers lose no change (in one process)', async t => {
  const lib = tempDir(t)
  const pause = async (): Promise<void> => await new Promise(resolve => setTimeout(resolve, 2))
  await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      await updatePlacement(lib, 'c', `writer ${i}`, async p => {
        await pause() // between the read and the write: another writer runs here
        p.services[`s${i}`] = { hosts: ['c'], source: 'pusher' }
      })
    })
  )
  t.equal(Object.keys(readPlacement(lib)!.services).length, 20, 'all 20 changes are in the file')
  t.notOk(existsSync(placementLockFile(lib)), 'the lock is released')

  // The same writers without the lock: the hazard the lock removes (not vacuous).
  const bare = tempDir(t)
  writePlacementFile(bare, { here: 'c', services: {} })
  await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const p = readPlacement(bare)!
      await pause()
      p.services[`s${i}`] = { hosts: ['c'], source: 'pusher' }
      writePlacementFile(bare, p)
    })
  )
  t.ok(Object.keys(readPlacement(bare)!.services).length < 20, 'a plain read-modify-write loses changes')
})

t.test('updatePlacement: two processes write, a reader never sees a torn file', async t => {
  const lib = tempDir(t)
  const module = new URL('../../../../conductor/state/index.ts', import.meta.url).href
  const script = (who: string): string => `
    const { updatePlacement } = await import(${JSON.stringify(module)})
    for (let i = 0; i < 40; i++) {
      await updatePlacement(${JSON.stringify(lib)}, 'c', '${who}', p => {
        p.services['${who}-' + i] = { hosts: ['c', 'x'.repeat(200)], source: 'pusher' }
      })
      // A writer changes it now and then (one record applied), not in a tight loop.
      await new Promise(resolve => setTimeout(resolve, 2))
    }`
  const run = (who: string): Promise<number | null> =>
    new Promise(resolve => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(who)], {
        stdio: ['ignore', 'inherit', 'inherit']
      })
      child.on('exit', code => resolve(code))
    })
  let reads = 0
  let torn = 0
  let done = false
  const reader = (async () => {
    while (!done) {
      const text = readOr(placementFile(lib))
      if (text !== undefined) {
        reads++
        try {
          JSON.parse(text)
        } catch {
          torn++
        }
      }
      await new Promise(resolve => setImmediate(resolve))
    }
  })()
  const codes = await Promise.all([run('one'), run('two')])
  done = true
  await reader
  t.same(codes, [0, 0], 'both writers finished')
  t.equal(Object.keys(readPlacement(lib)!.services).length, 80, 'all 80 changes of both processes are in the file')
  t.ok(reads > 0, `the reader read the file ${reads} times while they wrote`)
  t.equal(torn, 0, 'never a torn file')
})

t.test('updatePlacement: a lock left by a dead process is taken over', async t => {
  const lib = tempDir(t)
  writeTree(lib, { 'fleet/placement.lock': { pid: 2 ** 22 + 7, since: '2026-01-01T00:00:00Z', command: 'gone' } })
  await updatePlacement(lib, 'c', 'test', p => {
    p.overrides = { web: 'disabled' }
  })
  t.same(readPlacement(lib)?.overrides, { web: 'disabled' }, 'written')
  t.notOk(existsSync(placementLockFile(lib)), 'and the lock released')
})
