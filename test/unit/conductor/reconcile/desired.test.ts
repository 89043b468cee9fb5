import t from 'tap'
import path from 'node:path'
import { loadDesired } from '../../../../conductor/reconcile/desired.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Desired state from service files: a part's replica count is desired state of its own, not part
// of the hash that replaces deployments (a changed count adds or removes replicas only).

t.test('replicas: listed per part, and left out of the hash', async t => {
  const root = tempDir(t)
  const write = (pods: object[]): void =>
    writeTree(root, { 'services/web/conductor-service.json': { config: { A: '1' }, pods } })
  write([
    { name: 'api', pod_template: 'p' },
    { name: 'worker', pod_template: 'q' }
  ])
  const one = (await loadDesired(path.join(root, 'services'))).desired.services[0]!
  t.equal(one.replicas, undefined, 'no part declares replicas: no map (as before)')
  write([
    { name: 'api', pod_template: 'p', replicas: 3 },
    { name: 'worker', pod_template: 'q', replicas: 1 }
  ])
  const three = (await loadDesired(path.join(root, 'services'))).desired.services[0]!
  t.same(three.replicas, { api: 3 }, 'only counts other than 1')
  t.equal(three.hash, one.hash, 'the count does not change the hash')
  write([
    { name: 'api', pod_template: 'p2', replicas: 3 },
    { name: 'worker', pod_template: 'q' }
  ])
  const changed = (await loadDesired(path.join(root, 'services'))).desired.services[0]!
  t.not(changed.hash, one.hash, 'anything else of the part still does')
})
