import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { CaddyClient, CaddyUnreachable } from '../../../../caddy/index.js'
import { createCtx } from '../../../../conductor/context.js'
import { deploymentUnit, serviceUnit } from '../../../../conductor/model/index.js'
import type { PodInfo } from '../../../../conductor/host/index.js'
import type { CaddyDriver } from '../../../../conductor/proxy/index.js'
import { applyPlan, observe, type ActionResult } from '../../../../conductor/reconcile/apply.js'
import { systemContext, type SystemCtx } from '../../../../conductor/reconcile/context.js'
import { loadDesired } from '../../../../conductor/reconcile/desired.js'
import { describeAction, planReconcile, type Action, type Observed } from '../../../../conductor/reconcile/plan.js'
import { outcomeFailed, reconcile } from '../../../../conductor/reconcile/reconcile.js'
import { fakePodman, fakeSystemd } from '../../../harness/fake-host.js'
import { freePort, waitFor } from '../../../harness/ports.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// applyPlan with fake systemd, Podman and Caddy drivers (test/harness/fake-host.ts) and real
// files under a temporary root: what a failing start, a failing Caddy and a kill in the middle
// of a plan leave behind, and that the next plan converges from there.

const POD = '#!/bin/sh\nprintf "apiVersion: v1\\nkind: Pod\\nmetadata:\\n  name: %s\\n" "$POD_NAME"\n'
const PROXY =
  '#!/bin/sh\nprintf \'[{"id": "conductor-server/routes", "config": {"@id": "%s-route"}}]\' ' +
  '"${CONDUCTOR_DEPLOYMENT:-$CONDUCTOR_SERVICE_NAME}"\n'

interface Host {
  root: string
  sctx: (drivers: Parameters<typeof systemContext>[1]) => Promise<SystemCtx>
}

function makeHost(t: Test, services: Record<string, object>): Host {
  const root = tempDir(t, 'conductor-apply-')
  const files: Record<string, string | object> = {}
  for (const [name, svc] of Object.entries(services)) {
    files[`etc/conductor/services/${name}/conductor-service.json`] = svc
    files[`etc/conductor/services/${name}/pod.template`] = POD
    files[`etc/conductor/services/${name}/proxy.template`] = PROXY
  }
  writeTree(root, files)
  const io = {
    out: () => {},
    err: (s: string) => {
      t.comment(s.trimEnd())
    }
  }
  const env = { PATH: process.env.PATH, CONDUCTOR_CACHE_DIR: path.join(root, 'cache') }
  return { root, sctx: async drivers => await systemContext(createCtx({ root }, io, env), drivers) }
}

const service = (greeting: string, extra: object = {}): object => ({
  config: { GREETING: greeting },
  pods: [{ pod_template: './pod.template', ports: ['http'] }],
  ...extra
})

function setService(root: string, name: string, svc: object): void {
  writeFileSync(path.join(root, 'etc/conductor/services', name, 'conductor-service.json'), JSON.stringify(svc))
}

function recorded(root: string): string[] {
  const dir = path.join(root, 'var/lib/conductor/deployments')
  return existsSync(dir) ? readdirSync(dir).sort() : []
}

/** One reconcile round as `reload` does it, without the Caddy step: plan, apply, and what the apply saw. */
async function round(sctx: SystemCtx): Promise<{ plan: string[]; results: ActionResult[]; observed: Observed }> {
  const { desired, services } = await loadDesired(sctx.roots.services)
  const observed = await observe(sctx)
  const plan: Action[] = planReconcile(desired, observed)
  const results = await applyPlan(plan, sctx, services, desired, observed)
  return { plan: plan.map(describeAction), results, observed }
}

const line = (r: ActionResult): string =>
  `${r.ok ? 'ok' : 'FAIL'} ${describeAction(r.action)}${r.ok ? '' : `: ${r.error ?? ''}`}`
const isDeployment = (u: string): boolean => u.startsWith('conductor-deployment@')
const dropInsOf = (root: string): string[] =>
  readdirSync(path.join(root, 'etc/systemd/system')).filter(isDeployment).sort()

t.test('a new deployment that does not start is forgotten, the old one kept; the next plan retries', async t => {
  const h = makeHost(t, { web: service('v1') })
  const sd = fakeSystemd()
  const sctx = await h.sctx({ systemd: sd, podman: fakePodman() })
  const first = await round(sctx)
  t.same(
    first.results.filter(r => !r.ok),
    [],
    'the first round converges'
  )
  const [old] = recorded(h.root)
  t.ok(old, 'one deployment')

  setService(h.root, 'web', service('v2'))
  sd.failOn = (verb, units) => verb === 'start' && units.some(u => isDeployment(u) && u !== deploymentUnit(old!))
  const failed = await round(sctx)
  const replacing = ['create deployment of web (config or templates changed)', `remove deployment ${old!} (replaced)`]
  t.same(failed.plan, replacing)
  t.match(failed.results.map(line), [
    /^FAIL create deployment of web .*: deployment web-\S+ did not start: systemctl start .* fake failure/,
    `FAIL remove deployment ${old!} (replaced): kept: the replacement of service web failed`
  ])
  t.same(recorded(h.root), [old], 'only the old deployment is recorded')
  t.same(
    failed.observed.records.map(r => r.id),
    [old],
    "and the apply's view of the host says so too"
  )
  t.equal(sd.units.get(deploymentUnit(old!)), 'active', 'the old one keeps running')
  const fresh = [...sd.units.keys()].filter(u => u.startsWith('conductor-deployment@') && u !== deploymentUnit(old!))
  t.equal(fresh.length, 1)
  t.not(sd.units.get(fresh[0]!), 'active', 'the new one does not run')
  t.same(dropInsOf(h.root), [`${deploymentUnit(old!)}.d`], 'and has no drop-in left')

  sd.failOn = undefined
  const retried = await round(sctx)
  t.same(retried.plan, replacing, 'the next plan tries again')
  t.same(
    retried.results.filter(r => !r.ok),
    []
  )
  t.equal(recorded(h.root).length, 1)
  t.not(recorded(h.root)[0], old)
  t.same((await round(sctx)).plan, [], 'then nothing to do')
})

t.test('a failing Caddy is reported; the units are converged all the same', async t => {
  const h = makeHost(t, { web: service('v1', { proxy_config_template: './proxy.template' }), api: service('v1') })
  const sd = fakeSystemd()
  const adminUrl = `http://127.0.0.1:${await freePort()}`
  // Nothing listens there: every admin request fails as it does when Caddy is down.
  const down = (): Error => new CaddyUnreachable(adminUrl, 'ECONNREFUSED')
  const caddy: CaddyDriver = {
    register: async () => {
      throw down()
    },
    deregister: async () => {
      throw down()
    },
    switch: async () => {
      throw down()
    },
    client: () => new CaddyClient({ adminUrl })
  }
  const sctx = await h.sctx({ systemd: sd, podman: fakePodman(), caddy })
  const outcome = await reconcile(sctx)
  const lines = outcome.results.map(line)
  t.ok(lines.includes('ok start service api') && lines.includes('ok start service web'), 'both service units started')
  t.ok(lines.includes('ok create deployment of api (new)'), 'the service without routes got its deployment')
  t.match(
    lines.find(l => l.includes('create deployment of web')),
    /^FAIL .*cannot reach the Caddy admin API/,
    "the deployment whose routes cannot be registered fails with Caddy's error"
  )
  t.same(
    outcome.caddy?.errors.map(e => e.split(':')[0]),
    ['Caddy'],
    'and the Caddy step reports Caddy down'
  )
  t.ok(outcomeFailed(outcome), 'the reload fails')
  t.same(
    recorded(h.root).map(id => id.split('-')[0]),
    ['api'],
    'no record of the failed deployment'
  )
  const active = [...sd.units]
    .filter(([, s]) => s === 'active')
    .map(([u]) => u)
    .sort()
  t.match(
    active,
    [/^conductor-deployment@api-\S+\.service$/, serviceUnit('api'), serviceUnit('web')],
    'units: both services, the api deployment'
  )
  t.equal(active.length, 3, 'and nothing else')
  const webUnit = [...sd.units.keys()].find(u => u.startsWith('conductor-deployment@web-'))!
  const started = sd.calls.indexOf(`start ${webUnit}`)
  t.ok(
    started >= 0 && sd.calls.indexOf(`stop ${webUnit}`) > started,
    "the failed deployment's unit was started, then stopped when it was forgotten"
  )
})

t.test('a reconcile killed in the middle of its plan: the next plan converges from what it left', async t => {
  for (const killAt of ['daemon-reload', 'start', 'stop'] as const) {
    await t.test(`killed during ${killAt}`, async t => {
      const h = makeHost(t, { web: service('v1'), api: service('v1') })
      const sd = fakeSystemd()
      const sctx = await h.sctx({ systemd: sd, podman: fakePodman() })
      t.same(
        (await round(sctx)).results.filter(r => !r.ok),
        []
      )
      const before = recorded(h.root)
      setService(h.root, 'web', service('v2'))
      setService(h.root, 'api', service('v2'))
      // The driver never returns from the first matching call, and nothing after it runs: the
      // process is gone. The call itself may or may not have taken effect; here it did not.
      let killed = false
      sd.hangOn = (verb, units) => {
        if (!killed && verb === killAt && (killAt !== 'start' || units.some(isDeployment))) killed = true
        return killed
      }
      void round(sctx)
      await waitFor(`the kill at ${killAt}`, () => killed, 10_000, 5)
      t.comment(`killed at: ${sd.calls.at(-1)!}; recorded then: ${recorded(h.root).join(', ')}`)
      // A new process on the same host: systemd kept its units, the files are as left.
      const next = fakeSystemd()
      for (const [u, s] of sd.units) next.units.set(u, s)
      const sctx2 = await h.sctx({ systemd: next, podman: fakePodman() })
      const again = await round(sctx2)
      t.same(
        again.results.filter(r => !r.ok),
        [],
        `the next plan applies (${again.plan.join('; ')})`
      )
      t.same((await round(sctx2)).plan, [], 'and then there is nothing to do')
      const after = recorded(h.root)
      t.equal(after.length, 2, 'one deployment per service')
      t.same(
        after.filter(id => before.includes(id)),
        [],
        'both replaced'
      )
      for (const id of after) t.equal(next.units.get(deploymentUnit(id)), 'active', `${id} runs`)
      for (const id of before) t.not(next.units.get(deploymentUnit(id)), 'active', `${id} stopped`)
      t.same(
        dropInsOf(h.root),
        after.map(id => `${deploymentUnit(id)}.d`),
        'drop-ins of exactly those'
      )
      for (const id of after) {
        t.match(readFileSync(path.join(h.root, 'var/lib/conductor/deployments', id, 'pod.yaml'), 'utf8'), `name: ${id}`)
      }
    })
  }
})

t.test("kube.yaml carries the mark; a marked orphan is removed, not an unmarked pod or another root's", async t => {
  const h = makeHost(t, { web: service('v1') })
  const sd = fakeSystemd()
  const pods: PodInfo[] = []
  const podman = fakePodman(() => pods)
  const sctx = await h.sctx({ systemd: sd, podman })
  t.same(
    (await round(sctx)).results.filter(r => !r.ok),
    []
  )
  const [id] = recorded(h.root)
  const kube = readFileSync(path.join(h.root, 'var/lib/conductor/deployments', id!, 'kube.yaml'), 'utf8')
  t.match(kube, `  labels:\n    io.conductor.deployment: "${id!}"\n    io.conductor.root: ${JSON.stringify(h.root)}\n`)
  const mark = (dep: string, root = h.root): Record<string, string> => ({
    'io.conductor.deployment': dep,
    'io.conductor.root': root
  })
  pods.push(
    { name: id!, status: 'Running', labels: mark(id!) },
    { name: 'web-crashed', status: 'Running', labels: mark('web-crashed') },
    { name: 'web-other', status: 'Running', labels: mark('web-other', '/elsewhere') },
    { name: 'db', status: 'Running', labels: { app: 'db' } }
  )
  const r = await round(sctx)
  t.same(r.plan, ['remove orphaned pod web-crashed (no deployment record)'])
  t.same(r.results.map(line), ['ok remove orphaned pod web-crashed (no deployment record)'])
  t.same(podman.removed, ['web-crashed'], "only the pod with this root's mark and nothing owning it")
})

t.test('a no-op reload does not ask Podman; a dry run, a reload with work, pod work found, time do', async t => {
  const h = makeHost(t, { web: service('v1') })
  const sd = fakeSystemd()
  const pods: PodInfo[] = []
  const podman = fakePodman(() => pods)
  let asked = 0
  const listPods = podman.pods
  podman.pods = async label => {
    asked++
    return await listPods(label)
  }
  let now = Date.parse('2026-12-05T12:00:00Z')
  const sctx = { ...(await h.sctx({ systemd: sd, podman })), clock: () => now }
  const run = async (opts: { dryRun?: boolean } = {}): Promise<{ plan: string[]; asked: number }> => {
    const before = asked
    const o = await reconcile(sctx, opts)
    return { plan: o.plan.map(describeAction), asked: asked - before }
  }
  const first = await run()
  t.equal(first.asked, 1, 'the first reload lists (no record of a listing)')
  const [id] = recorded(h.root)
  pods.push({ name: id!, status: 'Running', labels: { 'io.conductor.deployment': id!, 'io.conductor.root': h.root } })
  t.same(await run(), { plan: [], asked: 0 }, 'a no-op reload right after: Podman not asked')

  // A crash left a marked pod: nothing else suggests it, a dry run sees it, the next reload acts.
  const crashed = { 'io.conductor.deployment': 'web-crashed', 'io.conductor.root': h.root }
  pods.push({ name: 'web-crashed', status: 'Running', labels: crashed })
  t.same(await run(), { plan: [], asked: 0 }, 'not seen by a no-op reload within the interval')
  const orphan = 'remove orphaned pod web-crashed (no deployment record)'
  t.same(await run({ dryRun: true }), { plan: [orphan], asked: 1 }, 'a dry run always lists')
  t.same(await run(), { plan: [orphan], asked: 1 }, 'the next reload lists: the last listing found pod work')
  t.same(podman.removed, ['web-crashed'])
  pods.pop()
  t.same(await run(), { plan: [], asked: 1 }, 'and the one after checks once more')
  t.same(await run(), { plan: [], asked: 0 }, 'then a no-op again')

  // A plan with work lists (after planning): here the deployment's unit was stopped.
  sd.units.set(deploymentUnit(id!), 'inactive')
  const restarted = await run()
  t.same(restarted.plan, [`start deployment ${id!} (recorded as running but its unit is not active)`])
  t.equal(restarted.asked, 1, 'a reload with work lists pods')
  t.same(await run(), { plan: [], asked: 0 })
  now += 5 * 60_000
  t.same(await run(), { plan: [], asked: 1 }, 'five minutes later a no-op reload lists')
})

t.test("a reload right after a deploy keeps the receipt of the old deployment's queued stop", async t => {
  const h = makeHost(t, { web: service('v1') })
  const sd = fakeSystemd()
  const sctx = await h.sctx({ systemd: sd, podman: fakePodman() })
  await reconcile(sctx)
  // What a deploy leaves: the old deployment forgotten, its stop queued in systemd with a receipt
  // for its config unit (the deploy did the stop hooks and the route switch), the deploy gone.
  const units = path.join(h.root, 'run/conductor/units')
  const config = 'conductor-deployment-config@web-old.service'
  writeTree(units, { [`${config}.stop`]: '999999 queued\n', 'conductor-service-config@x.service.start': '999999\n' })
  sd.units.set(config, 'deactivating')
  sd.units.set('conductor-deployment@web-old.service', 'deactivating')
  const o = await reconcile(sctx)
  t.same(o.plan, [], 'nothing to do')
  t.same(readdirSync(units), [`${config}.stop`], "kept for the config unit's stop; a killed holder's removed")
  sd.units.set(config, 'inactive')
  await reconcile(sctx)
  t.same(readdirSync(units), [], 'removed once the config unit stopped without consuming it')
})
