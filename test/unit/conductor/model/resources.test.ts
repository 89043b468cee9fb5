import t from 'tap'
import path from 'node:path'
import { loadHostConfig } from '../../../../conductor/model/host.js'
import { loadService } from '../../../../conductor/model/service.js'
import { serviceDemand } from '../../../../conductor/placement/index.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// `resources` and `fleet` in conductor-service.json and `resources` in host.json (issue 19):
// real files through the real loader, every refusal naming the file and the JSON path.

const FILE = 'services/s/conductor-service.json'

type Service = Awaited<ReturnType<typeof loadService>>

async function load(t: Parameters<typeof tempDir>[0], files: Record<string, object>): Promise<Service> {
  const root = tempDir(t)
  writeTree(root, files)
  return await loadService(path.join(root, 'services'), 's')
}

t.test('valid declarations load as written and give the planner both best and min', async t => {
  const svc = await load(t, {
    [FILE]: { resources: { best: { vcpu: 2, ram_gb: 4.5 }, min: { vcpu: 1 } }, fleet: { instances: 3 } }
  })
  t.same(svc.resources, { best: { vcpu: 2, ram_gb: 4.5 }, min: { vcpu: 1 } })
  t.same(serviceDemand(svc), { name: 's', best: { vcpu: 2, ram_gb: 4.5 }, min: { vcpu: 1 }, instances: 3 })
  const hosts = ['peer-1.example.org', 'b']
  const pinned = await load(t, { [FILE]: { resources: { min: { ports: 1 } }, fleet: { hosts } } })
  t.same(serviceDemand(pinned), { name: 's', best: { ports: 1 }, min: { ports: 1 }, instances: 2, hosts })
})

t.test('bad resources and fleet: refused with the file, the JSON path and the fix', async t => {
  const cases: Array<[object, RegExp]> = [
    [{ resources: { best: { vcpu: -1 } } }, /: \/resources\/best\/vcpu: must not be negative/],
    [
      { resources: { min: { vcpu: 'four' } } },
      /: \/resources\/min\/vcpu: must be a number of abstract units, got "four"/
    ],
    [
      { resources: { best: { vcpu: null } } },
      /: \/resources\/best\/vcpu: must be a number of abstract units, got null/
    ],
    [{ resources: { best: { vcpu: 0.1234567 } } }, /: \/resources\/best\/vcpu: has more than 6 decimal places/],
    [{ resources: { best: { vcpu: 2e9 } } }, /: \/resources\/best\/vcpu: must be at most 1000000000/],
    [
      { resources: { best: { 'v cpu': 1 } } },
      /: \/resources\/best\/v cpu: key resource names use letters, digits and _ \. -/
    ],
    [
      { resources: { best: { vcpu: 1 }, min: { vcpu: 2 } } },
      /: \/resources\/min\/vcpu: 2 is above best \(1\): the minimum cannot exceed the best amount; raise best\.vcpu/
    ],
    [
      { resources: { best: { vcpu: 1 }, min: { gpu: 1 } } },
      /: \/resources\/min\/gpu: 1 is above best \(0: best does not name gpu\)/
    ],
    [{ resources: {} }, /: \/resources: declares neither best nor min/],
    [{ resources: { bset: { vcpu: 1 } } }, /: \/resources\/bset: unknown field; did you mean "best"\?/],
    [{ resources: [1] }, /: \/resources: /],
    [{ fleet: { instances: 0 } }, /: \/fleet\/instances: /],
    [{ fleet: { instances: 1.5 } }, /: \/fleet\/instances: /],
    [{ fleet: { hosts: ['a', 'a'] } }, /: \/fleet\/hosts\/1: "a" is listed twice/],
    [{ fleet: { hosts: ['a b'] } }, /: \/fleet\/hosts\/0: must be a peer id/],
    [{ fleet: { hosts: [] } }, /: \/fleet\/hosts: /],
    [{ fleet: { hosts: ['a'], instances: 2 } }, /: \/fleet\/instances: is 2 but hosts names 1 machine\(s\)/],
    [{ fleet: { instance: 2 } }, /: \/fleet\/instance: unknown field; did you mean "instances"\?/],
    [{ fleet: { depends_on: ['db', 'db'] } }, /: \/fleet\/depends_on\/1: "db" is listed twice/],
    [
      { fleet: { depends_on: ['my-db', 'my_db'] } },
      /: \/fleet\/depends_on\/1: "my_db" and "my-db" give the same variable names \(_MY_DB\): list one of them/
    ],
    [{ fleet: { depends_on: ['../x'] } }, /: \/fleet\/depends_on\/0: must be a service name/]
  ]
  for (const [content, message] of cases) {
    const root = tempDir(t)
    writeTree(root, { [FILE]: content })
    const where = new RegExp(`services/s/conductor-service\\.json${message.source}`)
    const expected = { code: 'CND_SERVICE_INVALID', message: where }
    await t.rejects(loadService(path.join(root, 'services'), 's'), expected, message.source)
  }
})

t.test('inheritance: a file that sets resources or fleet replaces it whole', async t => {
  const svc = await load(t, {
    'base.json': { resources: { best: { vcpu: 4 }, min: { vcpu: 2 } }, fleet: { instances: 2 } },
    [FILE]: { inherit: ['../../base.json'], resources: { best: { vcpu: 1 } } }
  })
  t.same(svc.resources, { best: { vcpu: 1 } }, 'the base min is not kept beside the child best')
  t.same(
    serviceDemand(svc),
    { name: 's', best: { vcpu: 1 }, min: { vcpu: 1 }, instances: 2 },
    'min = best; fleet inherited as is'
  )
})

t.test('host.json resources: the same units and the same refusals', async t => {
  const root = tempDir(t)
  const file = path.join(root, 'host.json')
  writeTree(root, { 'host.json': { resources: { vcpu: 4, ram_gb: 100, ports: 10 } } })
  t.same((await loadHostConfig(file)).resources, { vcpu: 4, ram_gb: 100, ports: 10 })
  const refused = [
    [{ vcpu: -4 }, /host\.json: \/resources\/vcpu: must not be negative/],
    [{ vcpu: '4' }, /host\.json: \/resources\/vcpu: must be a number of abstract units, got "4"/]
  ] as const
  for (const [resources, message] of refused) {
    writeTree(root, { 'host.json': { resources } })
    await t.rejects(loadHostConfig(file), { code: 'CND_HOST_INVALID', message }, message.source)
  }
})

t.test('host.json fleet.dead_after_sec: seconds, at least 2 (one lost heartbeat never kills a host)', async t => {
  const root = tempDir(t)
  const file = path.join(root, 'host.json')
  writeTree(root, { 'host.json': { fleet: { dead_after_sec: 8 } } })
  t.same((await loadHostConfig(file)).fleet, { dead_after_sec: 8 })
  const refused = [
    [{ dead_after_sec: 1 }, /host\.json: \/fleet\/dead_after_sec: must be at least 2/],
    [{ dead_after_sec: '5' }, /host\.json: \/fleet\/dead_after_sec: must be a number of seconds, got "5"/],
    [{ dead_after: 5 }, /host\.json: \/fleet\/dead_after: unknown field; known fields: dead_after_sec/]
  ] as const
  for (const [fleet, message] of refused) {
    writeTree(root, { 'host.json': { fleet } })
    await t.rejects(loadHostConfig(file), { code: 'CND_HOST_INVALID', message }, message.source)
  }
})
