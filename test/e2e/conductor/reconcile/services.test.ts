import t from 'tap'
import { spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { cli } from '../../../harness/cli.js'
import { waitFor } from '../../../harness/ports.js'
import { cliArgs, deployments, page, podTemplate, startReconcileHost } from '../../../harness/reconcile-host.js'
import { podsNamed } from '../../../harness/systemd.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// A service as the operator handles it, on a real systemd user manager and real Podman pods
// (the host of systemd.test.ts): commands in their three contexts, `service status` while it
// runs and once stopped, a broken and a failing service beside it, `service stop` and the
// reload that brings it back. Loopback only.

t.test('commands, service status and stop, broken services on a real user manager and Podman', async t => {
  const t0 = Date.now()
  const step = (name: string): void => {
    t.comment(`${name} at ${Date.now() - t0} ms`)
  }
  const { sd, root, svcName, svcDir, env } = await startReconcileHost(t, { svcPrefix: 'svc', hooks: false })
  step('manager up')
  let r = await cli(['system', 'install'], env)
  t.equal(r.code, 0, r.stderr)
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  const d1 = deployments(root)[0]!
  t.ok(d1, 'one deployment')
  await waitFor('pod page', async () => (await page(d1.ports.http!)).includes(`hello from ${d1.id}`), 15_000, 100)

  step('commands')
  // Commands in the three contexts, exit status passed through. The first goes through the
  // real binary (inherited stdio); the others run in-process with captured output.
  const here = tempDir(t, 'conductor-e2e-cwd-')
  const p = spawnSync(process.execPath, [...cliArgs(), 'run', '-s', svcName, 'where', 'a', 'b'], {
    env,
    cwd: here,
    encoding: 'utf8',
    timeout: 30_000
  })
  t.equal(p.status, 7, 'exit status passed through')
  t.match(p.stdout, `cmd=where dir=${here} ctx=service pwd=${svcDir} args=a b`)
  r = await cli(['run', '-s', svcName, 'anyd'], env)
  t.equal(r.code, 7)
  t.match(
    r.stdout,
    `ctx=${d1.id} pwd=${path.join(root, 'var/lib/conductor/deployments', d1.id)}`,
    'service_any_deployment picks the running deployment'
  )
  r = await cli(['run', '-d', d1.id, 'ind', 'x'], env)
  t.match(r.stdout, `cmd=ind dir=${process.cwd()} ctx=${d1.id}`)
  r = await cli(['run', '-s', svcName, 'ind', '--', '--help'], env)
  t.match(r.stdout, 'args=HELP', 'help_flags allowed in any context, help_args used')
  r = await cli(['run', '-s', svcName, 'ind'], env)
  t.equal(r.code, 2, 'deployment-only command refused with -s')
  t.match(r.stderr, 'use `conductor run -d DEPLOYMENT ind`')
  r = await cli(['action', 'run', svcName, 'where'], env)
  t.match(r.stdout, 'ctx=service', 'action run is run -s')
  r = await cli(['run', '-s', svcName, '--list'], env)
  t.match(r.stdout, /where\s+service\s+print the context/)

  step('status')
  // service status of a running service, then service logs.
  r = await cli(['service', 'status', svcName, '--json'], env)
  t.match(
    JSON.parse(r.stdout),
    { active: true, deployments: [{ id: d1.id, unit_state: 'active', desired: 'running' }] },
    'service status --json while it runs'
  )
  r = await cli(['service', 'status', svcName], env)
  t.match(r.stdout, new RegExp(`^${svcName}: running  unit conductor-service@${svcName}\\.service\\n`))
  r = await cli(['service', 'logs', svcName, '--tail', '5'], env)
  t.match(r.stdout, `==> ${d1.id} <==`, 'service logs lists the running deployment')

  step('systemctl stop')
  // Enabled by the operator (its [Install] section: started at boot), then stopped by systemd
  // (`systemctl stop`), not by Conductor: the record stays, and the service unit stays loaded,
  // inactive (default.target wants it), so systemd lists it. Listed is not running.
  t.equal(sd.systemctl('enable', `conductor-service@${svcName}.service`).code, 0)
  t.equal(sd.systemctl('stop', `conductor-service@${svcName}.service`).code, 0)
  t.match(
    sd.systemctl('list-units', '--all', '--plain', '--no-legend', `conductor-service@${svcName}.service`).stdout,
    /loaded\s+inactive/,
    'the stopped service unit is listed'
  )
  r = await cli(['service', 'status', svcName, '--json'], env)
  t.match(
    JSON.parse(r.stdout),
    { active: false, deployments: [{ id: d1.id, unit_state: 'inactive', desired: 'running' }] },
    'service status --json after systemctl stop'
  )
  r = await cli(['service', 'status', svcName], env)
  t.match(r.stdout, new RegExp(`^${svcName}: stopped  unit conductor-service@${svcName}\\.service\\n`))
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, `start deployment ${d1.id}`, 'reload starts it again')
  await waitFor('pod page again', async () => (await page(d1.ports.http!)).includes(d1.id), 15_000, 100)

  step('broken')
  // A broken service is reported and left alone; a failing pre-start hook aborts its start
  // with the hook's output; the other services are still reconciled.
  const brokenName = `broken${svcName}`
  const failingName = `failing${svcName}`
  writeTree(path.join(root, 'etc/conductor/services'), {
    [`${brokenName}/conductor-service.json`]: '{ "pods": [ { "pod_tmplate": "x" } ] }',
    [`${failingName}/conductor-service.json`]: {
      pods: [{ pod_template: './pod.template', ports: ['http'] }],
      hooks: [{ id: 'check', when: 'pre-start', exec: ['./check.hook'] }]
    },
    [`${failingName}/pod.template`]: podTemplate,
    [`${failingName}/check.hook`]: '#!/bin/sh\necho "database not reachable" >&2\nexit 3\n'
  })
  r = await cli(['reload'], env)
  t.equal(r.code, 1, 'a failed action fails the reload')
  t.match(r.stdout, new RegExp(`! ${brokenName}: left as it runs.*pod_tmplate`))
  t.match(r.stdout, `FAIL create deployment of ${failingName}`)
  t.match(r.stdout, /hook exited with status 3[\s\S]*database not reachable/, 'the hook output is in the error')
  t.notOk(
    deployments(root).some(d => d.id.startsWith(failingName)),
    'nothing half-applied'
  )
  t.match(await page(d1.ports.http!), 'hello', 'the other service still runs')
  rmSync(path.join(root, 'etc/conductor/services', brokenName), { recursive: true })
  rmSync(path.join(root, 'etc/conductor/services', failingName), { recursive: true })

  step('stop')
  // service stop removes its deployments and stops its unit; service status says so (the unit,
  // enabled above, stays loaded and listed, inactive); reload starts it again.
  r = await cli(['service', 'stop', svcName], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.same(deployments(root), [], 'service stop removed the deployment')
  t.same(podsNamed(d1.id), [], 'and its pod')
  t.equal(sd.systemctl('is-active', `conductor-service@${svcName}.service`).stdout.trim(), 'inactive')
  r = await cli(['service', 'status', svcName, '--json'], env)
  t.equal(r.code, 0, r.stderr)
  t.same(
    JSON.parse(r.stdout),
    { service: svcName, unit: `conductor-service@${svcName}.service`, active: false, disabled: false, deployments: [] },
    'service status --json of a stopped service'
  )
  r = await cli(['service', 'status', svcName], env)
  t.match(r.stdout, new RegExp(`^${svcName}: stopped  unit conductor-service@${svcName}\\.service\\n`))
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  const d2 = deployments(root)[0]!
  await waitFor(
    'page after service stop + reload',
    async () => (await page(d2.ports.http!)).includes(`hello from ${d2.id}`),
    15_000,
    100
  )
  r = await cli(['service', 'status', svcName, '--json'], env)
  t.match(JSON.parse(r.stdout), { active: true, deployments: [{ id: d2.id, unit_state: 'active' }] }, 'running again')
  step('end')
})
