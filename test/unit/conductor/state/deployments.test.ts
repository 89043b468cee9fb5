import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import {
  isDeploymentState,
  replicaOf,
  readDeployment,
  readDeployments,
  writeDeployment,
  type DeploymentState
} from '../../../../conductor/state/deployments.js'
import { tempDir } from '../../../harness/tmp.js'

// state.json is checked by hand (no zod at the start of `service ls` or `reload`); the check must
// give the verdicts of the zod schema it replaced, kept here as the reference.
const reference = z.strictObject({
  version: z.literal(1),
  id: z.string(),
  service: z.string(),
  part: z.string(),
  hash: z.string(),
  desired: z.enum(['running', 'stopped']),
  config: z.record(z.string(), z.string()),
  ports: z.record(z.string(), z.number().int()),
  pod_ip: z.string(),
  created_at: z.string(),
  marked: z.boolean().optional()
})

const good: DeploymentState = {
  version: 1,
  id: 'web-abc',
  service: 'web',
  part: '',
  hash: 'h',
  desired: 'running',
  config: { TAG: 'v1' },
  ports: { http: 20001 },
  pod_ip: '10.88.0.2',
  created_at: '2026-12-05T10:00:00Z'
}

const variants: Array<[string, unknown]> = [
  ['whole', good],
  ['stopped', { ...good, desired: 'stopped' }],
  ['marked', { ...good, marked: true }],
  ['marked not a boolean', { ...good, marked: 'yes' }],
  ['empty maps', { ...good, config: {}, ports: {} }],
  ['extra key', { ...good, extra: 1 }],
  ['missing key', (({ pod_ip: _, ...rest }) => rest)(good)],
  ['version 2', { ...good, version: 2 }],
  ['version "1"', { ...good, version: '1' }],
  ['desired other', { ...good, desired: 'paused' }],
  ['id not a string', { ...good, id: 3 }],
  ['config value a number', { ...good, config: { A: 1 } }],
  ['config an array', { ...good, config: ['x'] }],
  ['port not an integer', { ...good, ports: { http: 1.5 } }],
  ['port a string', { ...good, ports: { http: '80' } }],
  ['port beyond safe integers', { ...good, ports: { http: 2 ** 60 } }],
  ['ports null', { ...good, ports: null }],
  ['null', null],
  ['an array', [good]],
  ['a string', 'state']
]

t.test('the hand-written check gives the verdicts of the zod schema', async t => {
  for (const [name, v] of variants) t.equal(isDeploymentState(v), reference.safeParse(v).success, name)
  t.ok(isDeploymentState(good), 'a whole record is accepted')
  t.notOk(isDeploymentState({ ...good, extra: 1 }), 'an unknown key is refused')
})

t.test('records round-trip; unreadable or foreign state.json makes a stray', async t => {
  const dir = tempDir(t, 'cnd-deployments-')
  writeDeployment(dir, good)
  t.same(readDeployment(dir, good.id), good)
  mkdirSync(path.join(dir, 'web-corrupt'))
  writeFileSync(path.join(dir, 'web-corrupt/state.json'), '{"version": 1,')
  mkdirSync(path.join(dir, 'web-moved'))
  writeFileSync(path.join(dir, 'web-moved/state.json'), JSON.stringify(good)) // its id says web-abc
  mkdirSync(path.join(dir, 'web-empty'))
  t.same(readDeployments(dir), { records: [good], strays: ['web-corrupt', 'web-empty', 'web-moved'] })
})

t.test('replica: a positive integer when present (absent for the first replica)', async t => {
  t.ok(isDeploymentState({ ...good, replica: 2 }))
  t.equal(replicaOf({ ...good, replica: 2 }), 2)
  t.equal(replicaOf(good), 0)
  for (const bad of [0, -1, 1.5, '1', null]) t.notOk(isDeploymentState({ ...good, replica: bad }), JSON.stringify(bad))
})
