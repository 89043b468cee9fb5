import t from 'tap'
import path from 'node:path'
import { placedElsewhere, readPlacement, writePlacement } from '../../../../conductor/state/index.js'
import { loadDesired } from '../../../../conductor/reconcile/index.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The placement file of fleet sync (issue 18): a synced service placed only on other hosts, or
// disabled here by the disable function, is treated as disabled by reconcile; enabled here runs
// wherever placed; a service absent from the file (an operator's own) runs as its file says.

t.test("placedElsewhere and reconcile's desired state", async t => {
  const lib = tempDir(t)
  t.equal(readPlacement(lib), undefined, 'no file: nothing placed')
  writePlacement(lib, {
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
