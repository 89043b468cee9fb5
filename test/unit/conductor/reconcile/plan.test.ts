import t from 'tap'
import { describeAction, planReconcile, type Desired, type Observed } from '../../../../conductor/reconcile/plan.js'
import type { DeploymentState } from '../../../../conductor/state/deployments.js'

// The planner's rules, table-driven with plain objects (no systemd, no files).

const rec = (id: string, service: string, hash: string, extra: Partial<DeploymentState> = {}): DeploymentState => ({
  version: 1,
  id,
  service,
  part: '',
  hash,
  desired: 'running',
  config: {},
  ports: {},
  pod_ip: '',
  created_at: '',
  ...extra
})
const desired = (services: Desired['services'], extra: Partial<Desired> = {}): Desired => ({
  services,
  disabled: [],
  broken: [],
  ...extra
})
const observed = (
  records: DeploymentState[],
  active: string[],
  strays: string[] = [],
  registered: string[] = []
): Observed => ({
  records,
  strays,
  activeUnits: new Set(active),
  // A deployment whose routes are registered has a snippet record.
  snippets: new Map(
    registered.map(id => [
      `deployment@${id}`,
      {
        owner: `deployment@${id}`,
        service: id.split('-')[0]!,
        deployment: id,
        caddy_admin: '',
        updated_at: '',
        snippets: []
      }
    ])
  )
})
const kinds = (plan: ReturnType<typeof planReconcile>): string[] => plan.map(describeAction)

t.test('new service: start its unit and create one deployment per part', async t => {
  const plan = planReconcile(desired([{ name: 'web', hash: 'h1', parts: ['', 'worker'] }]), observed([], []))
  t.same(kinds(plan), [
    'start service web',
    'create deployment of web (new)',
    'create deployment of web part worker (new)'
  ])
})

t.test('converged: nothing to do', async t => {
  const plan = planReconcile(
    desired([{ name: 'web', hash: 'h1', parts: [''] }]),
    observed([rec('web-a', 'web', 'h1')], ['conductor-service@web.service', 'conductor-deployment@web-a.service'])
  )
  t.same(plan, [])
})

t.test('hash changed: create first, remove after', async t => {
  const plan = planReconcile(
    desired([{ name: 'web', hash: 'h2', parts: [''] }]),
    observed([rec('web-a', 'web', 'h1')], ['conductor-service@web.service', 'conductor-deployment@web-a.service'])
  )
  t.same(kinds(plan), ['create deployment of web (config or templates changed)', 'remove deployment web-a (replaced)'])
})

t.test('recorded running but unit inactive (crash, kill -9): start it again', async t => {
  const plan = planReconcile(
    desired([{ name: 'web', hash: 'h1', parts: [''] }]),
    observed([rec('web-a', 'web', 'h1')], ['conductor-service@web.service'])
  )
  t.same(kinds(plan), ['start deployment web-a (recorded as running but its unit is not active)'])
})

t.test('operator-stopped deployment with the current hash is left alone', async t => {
  const plan = planReconcile(
    desired([{ name: 'web', hash: 'h1', parts: [''] }]),
    observed([rec('web-a', 'web', 'h1', { desired: 'stopped' })], ['conductor-service@web.service'])
  )
  t.same(plan, [])
})

t.test('disabled and removed services: deployments removed, service unit stopped', async t => {
  const plan = planReconcile(
    desired([], { disabled: ['old'] }),
    observed(
      [rec('old-a', 'old', 'h1'), rec('gone-b', 'gone', 'h1')],
      ['conductor-service@old.service', 'conductor-service@gone.service', 'conductor-deployment@old-a.service']
    )
  )
  t.same(kinds(plan), [
    'remove deployment gone-b (service removed)',
    'remove deployment old-a (service disabled)',
    'stop service gone',
    'stop service old'
  ])
})

t.test('a broken service is left exactly as it runs', async t => {
  const plan = planReconcile(
    desired([{ name: 'ok', hash: 'h', parts: [] }], { broken: ['bad'] }),
    observed(
      [rec('bad-a', 'bad', 'h1')],
      [
        'conductor-service@ok.service',
        'conductor-service@bad.service',
        'conductor-deployment@bad-a.service',
        'conductor-deployment@bad-x.service'
      ],
      ['bad-y']
    )
  )
  t.same(plan, [])
})

t.test(
  'a failed deployment unit without a record (a deploy queued its stop, which failed) is reported and reset',
  async t => {
    const running = ['conductor-service@web.service', 'conductor-deployment@web-b.service']
    const failed = (units: string[]): Observed => ({
      ...observed([rec('web-b', 'web', 'h')], running),
      failedUnits: new Set(units)
    })
    const plan = planReconcile(
      desired([{ name: 'web', hash: 'h', parts: [''] }], { broken: ['bad'] }),
      failed([
        'conductor-deployment@web-a.service',
        'conductor-deployment@web-b.service',
        'conductor-deployment@bad-c.service'
      ])
    )
    t.same(kinds(plan), [
      'reset failed conductor-deployment@web-a.service (the stop of a removed deployment failed: see journalctl -u conductor-deployment@web-a.service)'
    ])
    const only = { only: new Set(['web']) }
    t.same(
      planReconcile(
        desired([{ name: 'web', hash: 'h', parts: [''] }]),
        failed(['conductor-deployment@web-a.service']),
        only
      ),
      [],
      'not by service start|stop NAME'
    )
  }
)

t.test('strays: unknown active deployment units and interrupted directories are cleaned', async t => {
  const plan = planReconcile(desired([]), observed([], ['conductor-deployment@x-1.service'], ['y-2']))
  t.same(kinds(plan), [
    'stop conductor-deployment@x-1.service (no recorded deployment)',
    'remove interrupted deployment directory y-2'
  ])
})

t.test('a removed pod part loses its deployment', async t => {
  const plan = planReconcile(
    desired([{ name: 'web', hash: 'h1', parts: [''] }]),
    observed(
      [rec('web-a', 'web', 'h1'), rec('web-w-b', 'web', 'h1', { part: 'w' })],
      ['conductor-service@web.service', 'conductor-deployment@web-a.service', 'conductor-deployment@web-w-b.service']
    )
  )
  t.same(kinds(plan), ['remove deployment web-w-b (pod part "w" no longer declared)'])
})

t.test('restart forces a replacement; only limits the plan to one service', async t => {
  const d = desired([
    { name: 'web', hash: 'h1', parts: [''] },
    { name: 'api', hash: 'h1', parts: [''] }
  ])
  const o = observed(
    [rec('web-a', 'web', 'h1')],
    ['conductor-service@web.service', 'conductor-deployment@web-a.service', 'conductor-deployment@zz-1.service']
  )
  t.same(kinds(planReconcile(d, o, { only: new Set(['web']), forceReplace: new Set(['web']) })), [
    'create deployment of web (restart)',
    'remove deployment web-a (restart)'
  ])
  t.same(kinds(planReconcile(d, o, { only: new Set(['api']) })), [
    'start service api',
    'create deployment of api (new)'
  ])
})

t.test('a service without pods has no deployment', async t => {
  t.same(kinds(planReconcile(desired([{ name: 'fn', hash: 'h', parts: [] }]), observed([], []))), ['start service fn'])
})

t.test(
  'an interrupted deploy left two running deployments of one part: one is kept, by where Caddy routes',
  async t => {
    const svc = desired([{ name: 'web', hash: 'h1', parts: [''] }])
    const recs = [rec('web-a', 'web', 'h1'), rec('web-b', 'web', 'h1')]
    const active = [
      'conductor-service@web.service',
      'conductor-deployment@web-a.service',
      'conductor-deployment@web-b.service'
    ]
    const cases: Array<[string, string[], string[], string[]]> = [
      // [what, registered, active units, expected plan]
      [
        'killed before registering the new one: the old one (still routed) stays',
        ['web-a'],
        active,
        ['remove deployment web-b (interrupted deploy, web-a kept)']
      ],
      [
        'killed with both registered: the new one (it passed readiness) stays',
        ['web-a', 'web-b'],
        active,
        ['remove deployment web-a (interrupted deploy, web-b kept)']
      ],
      [
        'killed after deregistering the old one: the new one stays',
        ['web-b'],
        active,
        ['remove deployment web-a (interrupted deploy, web-b kept)']
      ],
      [
        'nothing registered (no proxy template): the oldest stays',
        [],
        active,
        ['remove deployment web-b (interrupted deploy, web-a kept)']
      ],
      [
        'the kept one is started again if its unit is down',
        ['web-b'],
        active.filter(u => !u.includes('web-b')),
        [
          'start deployment web-b (recorded as running but its unit is not active)',
          'remove deployment web-a (interrupted deploy, web-b kept)'
        ]
      ]
    ]
    for (const [what, registered, units, expected] of cases) {
      t.same(kinds(planReconcile(svc, observed(recs, units, [], registered))), expected, what)
    }
  }
)

// Pods (issue 16: orphans). `deployment` is set only on pods carrying this root's mark.
type Pods = Array<{ name: string; deployment?: string }>
const withPods = (o: Observed, pods: Pods, activating: string[] = []): Observed => ({
  ...o,
  pods,
  activatingUnits: new Set(activating)
})
const WEB = desired([{ name: 'web', hash: 'h1', parts: [''] }])
const WEB_UP = ['conductor-service@web.service', 'conductor-deployment@web-a.service']

t.test('a marked pod without record or active unit is removed; unmarked pods are never touched', async t => {
  const o = withPods(observed([rec('web-a', 'web', 'h1')], WEB_UP), [
    { name: 'web-a', deployment: 'web-a' },
    { name: 'web-old', deployment: 'web-old' },
    { name: 'operator-db' },
    { name: 'web-z' }
  ])
  t.same(kinds(planReconcile(WEB, o)), ['remove orphaned pod web-old (no deployment record)'])
  const action = planReconcile(WEB, o)[0]
  t.same(action, { kind: 'remove-pod', pod: 'web-old', id: 'web-old', reason: 'no deployment record' })
})

t.test("a marked pod whose unit is active is its unit's: the stop-unit rule stops it, no pod removal", async t => {
  const o = withPods(observed([rec('web-a', 'web', 'h1')], [...WEB_UP, 'conductor-deployment@web-old.service']), [
    { name: 'web-a', deployment: 'web-a' },
    { name: 'web-old', deployment: 'web-old' }
  ])
  t.same(kinds(planReconcile(WEB, o)), ['stop conductor-deployment@web-old.service (no recorded deployment)'])
})

t.test('a recorded running deployment whose unit is down keeps its pod (the start replaces it)', async t => {
  const o = withPods(observed([rec('web-a', 'web', 'h1')], ['conductor-service@web.service']), [
    { name: 'web-a', deployment: 'web-a' }
  ])
  t.same(kinds(planReconcile(WEB, o)), ['start deployment web-a (recorded as running but its unit is not active)'])
})

t.test('pods of a stopped, a removed and a replaced deployment go with them', async t => {
  const recs = [
    rec('web-a', 'web', 'h1', { desired: 'stopped' }),
    rec('gone-b', 'gone', 'h1'),
    rec('web-c', 'web', 'h0')
  ]
  const o = withPods(observed(recs, ['conductor-service@web.service']), [
    { name: 'web-a', deployment: 'web-a' },
    { name: 'gone-b', deployment: 'gone-b' },
    { name: 'web-c', deployment: 'web-c' }
  ])
  t.same(
    kinds(planReconcile(WEB, o)).filter(k => k.startsWith('remove orphaned')),
    [
      'remove orphaned pod gone-b (its deployment is removed)',
      'remove orphaned pod web-a (its deployment is stopped)',
      'remove orphaned pod web-c (its deployment is removed)'
    ]
  )
})

t.test("a broken service's pods, and every pod when the plan is limited to some services, are left", async t => {
  const o = withPods(observed([], []), [{ name: 'api-x', deployment: 'api-x' }])
  t.same(planReconcile(desired([], { broken: ['api'] }), o), [])
  t.same(planReconcile(desired([]), o, { only: new Set(['web']) }), [])
})

t.test('a marked record whose unit is active but whose pod is gone is restarted; not while activating', async t => {
  const marked = rec('web-a', 'web', 'h1', { marked: true })
  const o = withPods(observed([marked], WEB_UP), [{ name: 'web-b', deployment: 'web-b' }])
  const plan = planReconcile(WEB, o)
  t.same(kinds(plan), [
    'start deployment web-a (its unit is active but its pod is gone)',
    'remove orphaned pod web-b (no deployment record)'
  ])
  t.equal(plan[0]?.kind === 'start-deployment' && plan[0].restart, true, 'the unit is stopped before it starts')
  const activating = ['conductor-deployment@web-a.service']
  t.same(planReconcile(WEB, withPods(observed([marked], WEB_UP), [], activating)), [], 'its pod may not exist yet')
  t.same(
    planReconcile(WEB, withPods(observed([rec('web-a', 'web', 'h1')], WEB_UP), [])),
    [],
    'a deployment made before the mark: its pod is not listed, so not judged'
  )
})

t.test('Podman could not be asked: no rule on pods applies', async t => {
  t.same(planReconcile(WEB, observed([rec('web-a', 'web', 'h1')], WEB_UP)), [])
})

t.test('replicas: one deployment per replica index, created and removed to match the count', async t => {
  const svcUnit = 'conductor-service@web.service'
  const unit = (id: string): string => `conductor-deployment@${id}.service`
  t.same(
    kinds(planReconcile(desired([{ name: 'web', hash: 'h1', parts: [''], replicas: { '': 2 } }]), observed([], []))),
    ['start service web', 'create deployment of web (new)', 'create deployment of web replica 1 (new)'],
    'new: replicas 0 and 1'
  )
  const two = [rec('web-a', 'web', 'h1'), rec('web-b', 'web', 'h1', { replica: 1 })]
  const active = [svcUnit, unit('web-a'), unit('web-b')]
  t.same(
    planReconcile(desired([{ name: 'web', hash: 'h1', parts: [''], replicas: { '': 2 } }]), observed(two, active)),
    [],
    'two replicas running: converged'
  )
  const up = planReconcile(
    desired([{ name: 'web', hash: 'h1', parts: [''], replicas: { '': 3 } }]),
    observed(two, active)
  )
  t.same(kinds(up), ['create deployment of web replica 2 (scaled up to 3 replicas)'], 'scale up: only the new index')
  t.match(up[0], { kind: 'create-deployment', replica: 2 })
  const three = [...two, rec('web-c', 'web', 'h1', { replica: 2 })]
  t.same(
    kinds(
      planReconcile(desired([{ name: 'web', hash: 'h1', parts: [''] }]), observed(three, [...active, unit('web-c')]))
    ),
    ['remove deployment web-b (scaled down to 1 replica)', 'remove deployment web-c (scaled down to 1 replica)'],
    'scale down: the highest indexes go, replica 0 stays'
  )
  t.same(
    kinds(
      planReconcile(desired([{ name: 'web', hash: 'h2', parts: [''], replicas: { '': 2 } }]), observed(two, active))
    ),
    [
      'create deployment of web (config or templates changed)',
      'create deployment of web replica 1 (config or templates changed)',
      'remove deployment web-a (replaced)',
      'remove deployment web-b (replaced)'
    ],
    'changed: every replica replaced, creations first'
  )
  t.same(
    kinds(
      planReconcile(
        desired([{ name: 'web', hash: 'h1', parts: [''], replicas: { '': 2 } }]),
        observed(two, [svcUnit, unit('web-a')])
      )
    ),
    ['start deployment web-b (recorded as running but its unit is not active)'],
    'one replica crashed: started again, the other left alone'
  )
})

t.test('replicas: an interrupted deploy leaves two per index; the routed ones are kept', async t => {
  const records = [
    rec('web-a', 'web', 'h1'),
    rec('web-b', 'web', 'h1', { replica: 1 }),
    rec('web-c', 'web', 'h1'),
    rec('web-d', 'web', 'h1', { replica: 1 })
  ]
  const active = ['conductor-service@web.service', ...records.map(r => `conductor-deployment@${r.id}.service`)]
  const d = desired([{ name: 'web', hash: 'h1', parts: [''], replicas: { '': 2 } }])
  t.same(
    kinds(planReconcile(d, observed(records, active, [], ['web-c', 'web-d']))),
    [
      'remove deployment web-a (interrupted deploy, web-c kept)',
      'remove deployment web-b (interrupted deploy, web-d kept)'
    ],
    'killed after the switch: the new replicas stay'
  )
  t.same(
    kinds(planReconcile(d, observed(records, active, [], ['web-a', 'web-b']))),
    [
      'remove deployment web-c (interrupted deploy, web-a kept)',
      'remove deployment web-d (interrupted deploy, web-b kept)'
    ],
    'killed before the switch: the old replicas stay'
  )
})
