import t from 'tap'
import path from 'node:path'
import { cli, cliProcess } from '../../../harness/cli.js'
import { startDeployHost } from '../../../harness/deploy-host.js'
import { waitFor } from '../../../harness/ports.js'
import { replicaHostOptions, replicaProbe } from '../../../harness/replicas.js'
import { podsNamed } from '../../../harness/systemd.js'
import { tempDir } from '../../../harness/tmp.js'

// Replicas, continued (replicas.test.ts: the shared route and deploys): `reload` scales a part
// 2 -> 3 -> 1 under load through Caddy (kept replicas untouched, the route following), and a
// deploy whose second new replica never gets ready leaves the old replicas serving.

const svc = `rps${Math.random().toString(36).slice(2, 7)}`

t.test('replicas: reload scales 2 -> 3 -> 1; a deploy with a never-ready replica rolls back', async t => {
  // Readiness bound 10 s: busybox httpd took more than 4 s to answer at load 29 (a good replica
  // judged never ready).
  const { caddy, root, env } = await startDeployHost(t, replicaHostOptions(svc, 'conductor-replicas-scale-', 10))
  const { setReplicas, running, routeDials, routeCount, dialsOf, load, url } = replicaProbe({
    caddy,
    root,
    env,
    svc
  })
  t.equal((await cli(['system', 'install'], env)).code, 0)
  let r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  const rows = await running()
  t.same(
    rows.map(d => d.replica),
    [0, 1]
  )
  await waitFor('version 1 through Caddy', async () => (await (await fetch(url)).text()).includes('version 1'), 20_000)
  // reload scales 2 -> 3: the two running replicas are kept, a third joins the route.
  setReplicas(3)
  let l = load()
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /create deployment of \S+ replica 2 \(scaled up to 3 replicas\)/)
  const three = await running()
  t.same(
    three.map(d => d.replica),
    [0, 1, 2]
  )
  t.same(
    three.slice(0, 2).map(d => d.id),
    rows.map(d => d.id),
    'the two replicas are kept'
  )
  t.same(await routeDials(), dialsOf(three), 'three upstreams in the one route')
  // 3 -> 1: replicas 1 and 2 leave the route before they stop; replica 0 stays.
  setReplicas(1)
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /remove deployment \S+ \(scaled down to 1 replica\)/)
  let answers = await l.stop()
  t.same(answers.failed, [], `no failed request while scaling 2 -> 3 -> 1 (${answers.ok} answered)`)
  const one = await running()
  t.same(
    one.map(d => d.id),
    [rows[0]!.id],
    'replica 0 is kept'
  )
  t.same(await routeDials(), dialsOf(one), 'one upstream left')
  t.equal(await routeCount(), 1)
  t.match(
    (await cli(['deployment', 'ls'], env)).stdout,
    /^ID\s+SERVICE\s+PART\s+DESIRED\s+UNIT/,
    'no replicas: no column'
  )
  r = await cli(['reload'], env)
  t.match(r.stdout, /nothing to do/)

  // A deploy whose second new replica never gets ready: every new one is stopped, the old ones
  // (two again) keep serving through the unchanged route.
  setReplicas(2)
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  const serving = await running()
  const dials = await routeDials()
  t.same(dials, dialsOf(serving), 'two replicas again')
  const flag = path.join(tempDir(t, 'conductor-replicas-flag-'), 'first')
  l = load()
  const broken = await cliProcess(['deploy', svc, '--set', 'VERSION=3', '--set', `BREAK_AFTER_FIRST=${flag}`], env)
  answers = await l.stop()
  t.equal(broken.code, 6, 'CND_DEPLOY_FAILED')
  t.match(
    broken.stderr,
    /new replica \S+ \(2 replicas started\) did not become ready; the previous deployment keeps serving/
  )
  t.match(
    broken.stderr,
    /✓ wait for readiness \(\d+ ms\) — \S+: GET http:\/\/127\.0\.0\.1:\d+\/ -> 200/,
    'the first was ready'
  )
  t.same(answers.failed, [], `no failed request during the failed deploy (${answers.ok} answered)`)
  t.same(answers.versions, ['version 1'], 'only the old version answered')
  t.same(
    (await running()).map(d => d.id),
    serving.map(d => d.id),
    'the old replicas, nothing new recorded'
  )
  t.same(await routeDials(), dials, 'the route is unchanged')
  t.same(
    podsNamed(`${svc}-`).sort(),
    serving.map(d => d.id).sort(),
    'both new pods were stopped before the command ended'
  )
})
