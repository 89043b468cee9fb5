import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { cli, cliProcess } from '../../../harness/cli.js'
import { startDeployHost } from '../../../harness/deploy-host.js'
import { loadThroughCaddy } from '../../../harness/load.js'
import { waitFor } from '../../../harness/ports.js'
import { podsNamed } from '../../../harness/systemd.js'

// Issue 8 for real: a systemd user manager, Podman pods of the local busybox image, a real
// Caddy routing to them, and load sent through Caddy while `conductor deploy` runs.

const svc = `dep${Math.random().toString(36).slice(2, 7)}`

t.test(
  'deploy under load: no failed request, draining of slow requests, a never-ready version keeps the old one',
  async t => {
    const { caddy, root, env } = await startDeployHost(t, {
      svc,
      rootPrefix: 'conductor-deploy-',
      version: '1',
      readiness: { http_path: '/', interval_ms: 100, timeout_sec: 4 },
      drainTimeoutSec: 10
    })
    t.equal((await cli(['system', 'install'], env)).code, 0)
    let r = await cli(['reload'], env)
    t.equal(r.code, 0, r.stdout + r.stderr)
    const status = await cli(['caddy', 'status', '--json'], env)
    t.match(status.stdout, /"state": "registered"/, "reload registered the deployment's route")
    const url = `http://127.0.0.1:${caddy.httpPort}/`
    await waitFor(
      'version 1 through Caddy',
      async () => (await (await fetch(url)).text()).includes('version 1'),
      20_000,
      100
    )

    // Load: 4 loops of GETs through Caddy, bounded by a stop flag; every answer is recorded, on a
    // fresh connection each, and nothing is retried: a connection reset is a failed request.
    // Caddy 2.6 reloads its servers on the route switch; with net.ipv4.tcp_migrate_req=1 (set by
    // scripts/setup-host.sh, README "Zero-downtime deploys") the connections queued on the old
    // listening socket move to the new one instead of being reset. Keep-alive connections idle
    // at the switch are closed by Caddy whatever we do (README): the loops do not reuse them.
    t.equal(
      readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim(),
      '1',
      'host prepared by scripts/setup-host.sh (net.ipv4.tcp_migrate_req=1)'
    )
    const load = loadThroughCaddy(url, 4)
    // Two slow requests in flight on version 1 when the deploy starts: draining must wait for them.
    const slow = [0, 1].map(async () => {
      const res = await fetch(`${url}cgi-bin/slow`)
      return `${res.status} ${(await res.text()).trim()}`
    })
    await new Promise(resolve => setTimeout(resolve, 300))
    const deploy = await cliProcess(['deploy', svc, '--set', 'VERSION=2'], env)
    t.equal(deploy.code, 0, deploy.stdout + deploy.stderr)
    // Right after: the old deployment's record is gone; while systemd still stops its unit,
    // `deployment ls` lists it as removed (deactivating), never as running.
    const oldId = /\(replaced (\S+)\)/.exec(deploy.stdout)?.[1]
    type Row = { id: string; desired: string; unit_state: string }
    const listed = JSON.parse((await cli(['deployment', 'ls', '--json'], env)).stdout) as Row[]
    for (const row of listed.filter(d => d.id === oldId)) {
      const what = `listed while its unit stops: ${JSON.stringify(row)}`
      t.match(row, { desired: 'removed', unit_state: /^(deactivating|failed)$/ }, what)
    }
    t.equal(listed.filter(d => d.desired === 'running').length, 1, 'one running deployment')
    t.match(deploy.stderr, /✓ wait for readiness \(\d+ ms\) — GET http:\/\/127\.0\.0\.1:\d+\/ -> 200/)
    t.match(deploy.stderr, /✓ drain old deployment \(\d+ ms\) — no request in flight/)
    // The command does not wait for the old unit's stop (issue 15): systemd carries it out.
    t.match(deploy.stderr, /✓ stop old deployment \(\d+ ms\) — \S+ \(stop queued in systemd, not waited for\)/)
    t.same(
      await Promise.all(slow),
      ['200 slow 1', '200 slow 1'],
      'slow requests on the old version finished (drained, not cut)'
    )
    await new Promise(resolve => setTimeout(resolve, 500))
    const answers = await load.stop()
    t.same(
      answers.failed,
      [],
      `no failed request, no connection reset, no retry during the deploy (${answers.ok} answered)`
    )
    t.same(answers.versions, ['version 1', 'version 2'], 'the load saw the old version, then the new one')
    t.ok(answers.ok > 20, `load was sent throughout (${answers.ok})`)
    t.equal(await (await fetch(url)).text(), 'version 2\n', 'every answer names version 2 after the deploy')
    const ids = readdirSync(path.join(root, 'var/lib/conductor/deployments'))
    t.equal(ids.length, 1, 'the old deployment is gone')
    // The pod IP is looked up beside the readiness probe (no post-start hook waits for it): recorded.
    const stateFile = path.join(root, 'var/lib/conductor/deployments', ids[0]!, 'state.json')
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { pod_ip: string }
    t.match(state.pod_ip, /^\d+\.\d+\.\d+\.\d+$/, "the new deployment's pod IP is recorded")
    await waitFor(
      'systemd has stopped the old unit and removed its pod',
      async () => podsNamed(svc + '-').length === 1,
      60_000,
      200
    )
    t.same(podsNamed(svc + '-'), ids, 'only the new pod runs')
    // The new unit was started without a daemon-reload: systemd read its drop-in on first use.
    const show = execFileSync(
      'systemctl',
      ['--user', 'show', '--property=PartOf,DropInPaths', `conductor-deployment@${ids[0]!}.service`],
      { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' }
    )
    t.match(
      show,
      `PartOf=conductor-service@${svc}.service`,
      'the new deployment is PartOf its service (its drop-in applies)'
    )

    // A version that never gets ready: the deploy fails in bounded time, version 2 keeps answering.
    const started = Date.now()
    const broken = await cliProcess(['deploy', svc, '--set', 'VERSION=3', '--set', 'BROKEN=1'], env)
    t.equal(broken.code, 6, 'a failed deploy exits 6 (CND_DEPLOY_FAILED): a deployment failure, not a hook one')
    t.match(
      broken.stderr,
      /did not become ready; the previous deployment keeps serving\. Last readiness check: GET http:\/\/127\.0\.0\.1:\d+\/ ->/
    )
    t.ok(Date.now() - started < 30_000, 'bounded by the readiness timeout')
    t.equal(await (await fetch(url)).text(), 'version 2\n')
    t.same(readdirSync(path.join(root, 'var/lib/conductor/deployments')), ids, 'nothing of version 3 is left')
    t.same(podsNamed(svc + '-'), ids, 'a new deployment that never got ready is stopped before the command ends')

    // Rollback goes back to the previous config (VERSION=1) the same way.
    const back = await cliProcess(['deployment', 'rollback', svc], env)
    t.equal(back.code, 0, back.stderr)
    t.equal(await (await fetch(url)).text(), 'version 1\n')
    t.same(
      (
        JSON.parse(readFileSync(path.join(root, 'var/lib/conductor/deploys', `${svc}.json`), 'utf8')) as {
          parts: Record<string, Array<{ config: { VERSION?: string } }>>
        }
      ).parts['']!.map(h => h.config.VERSION),
      [undefined, '2', undefined],
      'history: reload, deploy, rollback'
    )
    await waitFor('the old unit of the rollback stopped', async () => podsNamed(svc + '-').length === 1, 60_000, 200)
    r = await cli(['reload'], env)
    t.match(r.stdout, /nothing to do/, 'reload after deploys has nothing to do')
  }
)
