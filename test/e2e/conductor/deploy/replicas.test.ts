import t from 'tap'
import { execFileSync } from 'node:child_process'
import { cli, cliProcess } from '../../../harness/cli.js'
import { startDeployHost } from '../../../harness/deploy-host.js'
import { waitFor } from '../../../harness/ports.js'
import { replicaHostOptions, replicaProbe } from '../../../harness/replicas.js'
import { podsNamed } from '../../../harness/systemd.js'

// Replicas (pods[].replicas) for real: a systemd user manager, Podman pods of the busybox image,
// a real Caddy. The proxy template prints the same @id from every replica with its own port;
// Caddy holds one route listing every replica's upstream. A replica stopped by systemd leaves
// the route alone; a deploy replaces both replicas under load with no failed request.
// Scaling and a failed deploy: replicas-scale.test.ts.

const svc = `rep${Math.random().toString(36).slice(2, 7)}`

t.test('replicas: one route with every upstream; a deploy replaces both with no failed request', async t => {
  const { caddy, root, env, sd } = await startDeployHost(t, replicaHostOptions(svc, 'conductor-replicas-', 4))
  const { running, routeDials, routeCount, dialsOf, answering, load, url } = replicaProbe({
    caddy,
    root,
    env,
    svc
  })
  t.equal((await cli(['system', 'install'], env)).code, 0)
  let r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /create deployment of \S+ replica 1 \(new\)/, 'reload creates the second replica')
  let rows = await running()
  t.same(
    rows.map(d => d.replica),
    [0, 1],
    'two running deployments, replicas 0 and 1'
  )
  t.same(await routeDials(), dialsOf(rows), 'one route, both upstreams (oldest first)')
  t.equal(await routeCount(), 1, 'one route in the server, not one per replica')
  await waitFor('version 1 through Caddy', async () => (await (await fetch(url)).text()).includes('version 1'), 20_000)
  t.same(await answering(), rows.map(d => d.id).sort(), 'both replicas answer through the one route')
  const table = await cli(['deployment', 'ls'], env)
  t.match(table.stdout, /^ID\s+SERVICE\s+PART\s+REPLICA\s+DESIRED\s+UNIT\s+PORTS\n/, 'deployment ls: a REPLICA column')
  t.match(table.stdout, new RegExp(`${rows[1]!.id}\\s+${svc}\\s+-\\s+1\\s+running\\s+active`))
  const status = await cli(['caddy', 'status'], env)
  t.equal(status.code, 0, `caddy status sees the shared route as registered: ${status.stdout}${status.stderr}`)
  r = await cli(['reload'], env)
  t.match(r.stdout, /nothing to do/, 'a second reload has nothing to do')

  // A replica stopped by systemd (not by conductor): its config unit takes only its upstream out.
  const sdEnv = { PATH: process.env.PATH, ...sd.env }
  execFileSync('systemctl', ['--user', 'stop', `conductor-deployment@${rows[1]!.id}.service`], { env: sdEnv })
  t.same(await routeDials(), dialsOf([rows[0]!]), 'systemctl stop of replica 1: the route keeps replica 0')
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.same(await routeDials(), dialsOf(rows), 'reload starts it again: both upstreams')

  // Deploy: both replicas replaced under load, no failed request.
  const before = rows.map(d => d.id)
  const l = load()
  await new Promise(resolve => setTimeout(resolve, 300))
  const deploy = await cliProcess(['deploy', svc, '--set', 'VERSION=2'], env)
  t.equal(deploy.code, 0, deploy.stdout + deploy.stderr)
  t.match(deploy.stdout, /^deployed \S+, \S+ \(replaced \S+, \S+\)/, 'deployed two, replaced two')
  t.match(deploy.stderr, /✓ switch routes \(\d+ ms\) — \S+, \S+ -> \S+, \S+/, 'one switch for both')
  await new Promise(resolve => setTimeout(resolve, 300))
  const answers = await l.stop()
  t.same(answers.failed, [], `no failed request during the deploy (${answers.ok} answered)`)
  t.same(answers.versions, ['version 1', 'version 2'], 'the load saw version 1, then version 2')
  rows = await running()
  t.same(
    rows.map(d => d.replica),
    [0, 1],
    'two new replicas'
  )
  t.notOk(
    rows.some(d => before.includes(d.id)),
    'both old replicas were replaced'
  )
  t.same(await routeDials(), dialsOf(rows), 'the route lists the two new upstreams only')
  t.same(await answering(), rows.map(d => d.id).sort(), 'both new replicas answer')
  await waitFor('the old pods are gone', async () => podsNamed(`${svc}-`).length === 2, 60_000, 200)
})
