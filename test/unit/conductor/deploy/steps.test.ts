import t from 'tap'
import { dialsOf, runDeploy, type DeployDrivers, type DeploymentRef } from '../../../../conductor/deploy/steps.js'

// The ordering of a zero-downtime deploy, with drivers that record what happens. The real
// path (Podman, systemd, Caddy) is tested end to end in test/e2e.

function recorder(opts: { ready?: boolean; inFlight?: number[]; switchFails?: boolean } = {}) {
  const log: string[] = []
  let clock = 0
  const inFlight = opts.inFlight ?? [0]
  const fresh: DeploymentRef = { id: 'web-new', upstreams: ['127.0.0.1:2'] }
  const drivers: DeployDrivers = {
    start: async () => {
      log.push('start web-new')
      return fresh
    },
    waitReady: async d => {
      log.push(`ready? ${d.id}`)
      return { ready: opts.ready ?? true, detail: opts.ready === false ? 'GET /up -> 500' : 'GET /up -> 200' }
    },
    switchRoutes: async (d, old) => {
      if (opts.switchFails === true) throw new Error('caddy said no')
      log.push(`switch ${old.map(o => o.id).join(',')} -> ${d.id}`)
    },
    deregister: async d => {
      log.push(`deregister ${d.id}`)
    },
    inFlight: async ups => {
      const n = inFlight.shift() ?? 0
      log.push(`inflight ${ups.join(',')}=${n}`)
      return n
    },
    stop: async d => {
      log.push(`stop ${d.id}`)
    },
    retire: async d => {
      log.push(`stop ${d.id}`)
      return ''
    },
    sleep: async ms => {
      clock += ms
    },
    now: () => clock
  }
  return { log, drivers }
}

const old: DeploymentRef = { id: 'web-old', upstreams: ['127.0.0.1:1'] }

t.test(
  'routes switch in one step once the new deployment is ready; the old deployment stops only after draining',
  async t => {
    const { log, drivers } = recorder({ inFlight: [2, 1, 0] })
    const out = await runDeploy([old], drivers, { drainTimeoutMs: 10_000, drainPollMs: 100 })
    t.same(log, [
      'start web-new',
      'ready? web-new',
      'switch web-old -> web-new',
      'inflight 127.0.0.1:1=2',
      'inflight 127.0.0.1:1=1',
      'inflight 127.0.0.1:1=0',
      'stop web-old'
    ])
    t.equal(out.drained, true)
    t.same(
      out.steps.map(s => s.name),
      ['start new deployment', 'wait for readiness', 'switch routes', 'drain old deployment', 'stop old deployment']
    )
    t.equal(out.steps[2]!.detail, 'web-old -> web-new')
    t.equal(out.steps[3]!.ms, 200, 'drain took two polls')
  }
)

t.test('a new deployment that never gets ready is stopped and the old one is untouched', async t => {
  const { log, drivers } = recorder({ ready: false })
  await t.rejects(runDeploy([old], drivers, { drainTimeoutMs: 1000, drainPollMs: 100 }), {
    code: 'CND_DEPLOY_FAILED',
    message:
      /web-new did not become ready; the previous deployment keeps serving\. Last readiness check: GET \/up -> 500/
  })
  t.same(log, ['start web-new', 'ready? web-new', 'stop web-new'])
})

t.test('a failed route switch rolls the new deployment back', async t => {
  const { log, drivers } = recorder({ switchFails: true })
  await t.rejects(runDeploy([old], drivers, { drainTimeoutMs: 1000, drainPollMs: 100 }), {
    code: 'CND_DEPLOY_FAILED',
    message: /caddy said no/
  })
  t.same(log, ['start web-new', 'ready? web-new', 'deregister web-new', 'stop web-new'])
})

t.test('draining gives up at the drain timeout and still stops the old deployment', async t => {
  const { log, drivers } = recorder({ inFlight: [1, 1, 1, 1, 1, 1, 1, 1] })
  const out = await runDeploy([old], drivers, { drainTimeoutMs: 300, drainPollMs: 100 })
  t.equal(out.drained, false)
  t.equal(log.at(-1), 'stop web-old')
  t.match(out.steps[3]!.detail, /drain timeout \(300 ms\)/)
})

t.test('first deploy (nothing running) skips drain', async t => {
  const { log, drivers } = recorder()
  const out = await runDeploy([], drivers, { drainTimeoutMs: 300, drainPollMs: 100 })
  t.same(log, ['start web-new', 'ready? web-new', 'switch  -> web-new'])
  t.equal(out.drained, true)
})

t.test('dialsOf finds every upstream of a snippet', async t => {
  t.same(
    dialsOf({
      '@id': 'x',
      handle: [
        { handler: 'reverse_proxy', upstreams: [{ dial: '127.0.0.1:1' }, { dial: '127.0.0.1:2' }] },
        { handler: 'subroute', routes: [{ handle: [{ upstreams: [{ dial: 'unix//run/x.sock' }] }] }] }
      ]
    }),
    ['127.0.0.1:1', '127.0.0.1:2', 'unix//run/x.sock']
  )
})

// A part with replicas: every new replica starts and is ready before the one route switch.
function replicaRecorder(opts: { notReady?: string; startFails?: number } = {}) {
  const log: string[] = []
  let clock = 0
  const drivers: DeployDrivers = {
    start: async replica => {
      if (replica === opts.startFails) throw new Error(`podman failed for replica ${replica}`)
      log.push(`start new${replica}`)
      return { id: `web-new${replica}`, upstreams: [`127.0.0.1:${10 + replica}`] }
    },
    waitReady: async d => {
      log.push(`ready? ${d.id}`)
      const ok = d.id !== opts.notReady
      return { ready: ok, detail: ok ? 'GET /up -> 200' : 'GET /up -> 503' }
    },
    switchRoutes: async (fresh, previous, replicas) => {
      log.push(`switch ${previous.map(o => o.id).join(',')} -> ${replicas.map(d => d.id).join(',')} (${fresh.id})`)
    },
    deregister: async d => {
      log.push(`deregister ${d.id}`)
    },
    inFlight: async ups => {
      log.push(`inflight ${ups.join(',')}=0`)
      return 0
    },
    stop: async d => {
      log.push(`stop ${d.id}`)
    },
    retire: async d => {
      log.push(`retire ${d.id}`)
      return ''
    },
    sleep: async ms => {
      clock += ms
    },
    now: () => clock
  }
  return { log, drivers }
}
const olds: DeploymentRef[] = [
  { id: 'web-old0', upstreams: ['127.0.0.1:1'] },
  { id: 'web-old1', upstreams: ['127.0.0.1:2'] }
]

t.test('replicas: all new ones ready, then one switch, one drain of every old upstream, then the stops', async t => {
  const { log, drivers } = replicaRecorder()
  const out = await runDeploy(olds, drivers, { replicas: 2, drainTimeoutMs: 1000, drainPollMs: 100 })
  t.same(log, [
    'start new0',
    'start new1',
    'ready? web-new0',
    'ready? web-new1',
    'switch web-old0,web-old1 -> web-new0,web-new1 (web-new0)',
    'inflight 127.0.0.1:1,127.0.0.1:2=0',
    'retire web-old0',
    'retire web-old1'
  ])
  t.same(
    out.replicas.map(d => d.id),
    ['web-new0', 'web-new1']
  )
  t.equal(out.deployed.id, 'web-new0')
  t.equal(out.steps.find(s => s.name === 'switch routes')!.detail, 'web-old0, web-old1 -> web-new0, web-new1')
  t.match(out.steps[2]!.detail, /^web-new0: GET \/up -> 200/, 'readiness names the replica')
})

t.test('replicas: one new replica never ready stops every new one; the old ones are untouched', async t => {
  const { log, drivers } = replicaRecorder({ notReady: 'web-new1' })
  await t.rejects(runDeploy(olds, drivers, { replicas: 2, drainTimeoutMs: 1000, drainPollMs: 100 }), {
    code: 'CND_DEPLOY_FAILED',
    message: /new replica web-new1 \(2 replicas started\) did not become ready; the previous deployment keeps serving/
  })
  t.same(log, ['start new0', 'start new1', 'ready? web-new0', 'ready? web-new1', 'stop web-new0', 'stop web-new1'])
})

t.test('replicas: a replica that fails to start stops those started before it', async t => {
  const { log, drivers } = replicaRecorder({ startFails: 1 })
  await t.rejects(runDeploy(olds, drivers, { replicas: 3, drainTimeoutMs: 1000, drainPollMs: 100 }), {
    message: /podman failed for replica 1/
  })
  t.same(log, ['start new0', 'stop web-new0'])
})
