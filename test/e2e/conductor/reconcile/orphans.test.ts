import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { cli } from '../../../harness/cli.js'
import { containersConf, podsNamed, removePods, standInCaddyUnit, startUserManager } from '../../../harness/systemd.js'
import { startCaddy } from '../../../harness/caddy.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Issue 16 item 3 on a real systemd user manager and real Podman: every pod Conductor plays
// carries its mark; a marked pod a crash left behind (no record, no unit) is listed by
// `reload --dry-run` and removed by `reload`; an operator's own pod, and a pod marked by
// another Conductor root, are never touched; a recorded deployment whose pod is gone comes back.

const prefix = `orph${Math.random().toString(36).slice(2, 7)}`
const labelLines = (labels: Record<string, string>): string =>
  Object.keys(labels).length === 0
    ? ''
    : '  labels:\n' +
      Object.entries(labels)
        .map(([k, v]) => `    ${k}: "${v}"\n`)
        .join('')
const podYaml = (name: string, labels: Record<string, string> = {}): string => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
${labelLines(labels)}spec:
  containers:
    - name: main
      image: localhost/busybox:latest
      command: ["sleep", "3600"]
`
const podman = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync('podman', args, { env: { ...process.env, CONTAINERS_CONF: containersConf }, encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}
const labelsOf = (pod: string): Record<string, string> =>
  JSON.parse(podman(['pod', 'inspect', '--format', '{{json .Labels}}', pod]).stdout || '{}') as Record<string, string>

t.test('orphaned pods: marked, listed by --dry-run, removed by reload; unmarked pods left alone', async t => {
  const sd = await startUserManager(t)
  t.teardown(() => removePods(prefix))
  standInCaddyUnit(sd)
  const root = tempDir(t, 'conductor-e2e-orphans-')
  const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user' }
  const svc = `${prefix}web`
  writeTree(root, {
    // A real Caddy: `system install` writes the built-in peer functions, whose routes a reload registers.
    'etc/conductor/host.json': { scope: 'user', caddy_admin: `127.0.0.1:${(await startCaddy(t)).adminPort}` },
    [`etc/conductor/services/${svc}/conductor-service.json`]: { pods: [{ pod_template: './pod.template' }] },
    [`etc/conductor/services/${svc}/pod.template`]: '#!/bin/sh\ncat <<YAML\n' + podYaml('${POD_NAME}') + 'YAML\n'
  })
  let r = await cli(['system', 'install'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  const [d1] = readdirSync(path.join(root, 'var/lib/conductor/deployments'))
  t.ok(d1, 'one deployment')
  t.same(labelsOf(d1!), { 'io.conductor.deployment': d1, 'io.conductor.root': root }, 'its pod carries the mark')

  // What a crash leaves: a pod played with this root's mark whose record and unit are gone.
  // Beside it an operator's pod without the mark, and one another Conductor root marked.
  const dir = tempDir(t, 'conductor-e2e-orphans-pods-')
  const play = (name: string, labels: Record<string, string> = {}): void => {
    writeFileSync(path.join(dir, `${name}.yaml`), podYaml(name, labels))
    const p = podman(['kube', 'play', path.join(dir, `${name}.yaml`)])
    t.equal(p.status, 0, `${name} played: ${p.stderr}`)
  }
  const crashed = `${svc}-crashed1`
  play(crashed, { 'io.conductor.deployment': crashed, 'io.conductor.root': root })
  play(`${prefix}-operator`, { app: 'db' })
  const other = `${prefix}-otherroot`
  play(other, { 'io.conductor.deployment': other, 'io.conductor.root': `${root}-other` })
  const all = [crashed, d1!, `${prefix}-operator`, `${prefix}-otherroot`].sort()
  t.same(podsNamed(prefix).sort(), all)

  r = await cli(['reload', '--dry-run'], env)
  t.equal(r.code, 0, r.stderr)
  t.equal(
    r.stdout,
    `plan (1 action, dry run: nothing applied):\n  remove orphaned pod ${crashed} (no deployment record)\n`
  )
  t.same(podsNamed(prefix).sort(), all, 'a dry run removes nothing')
  r = await cli(['reload', '--dry-run', '--json'], env)
  t.match(JSON.parse(r.stdout), {
    plan: [{ kind: 'remove-pod', pod: crashed, id: crashed, reason: 'no deployment record' }]
  })

  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, `ok   remove orphaned pod ${crashed} (no deployment record)`)
  t.same(
    podsNamed(prefix).sort(),
    all.filter(p => p !== crashed),
    "the orphan is gone; the operator's pod, the other root's and the deployment's are left"
  )
  r = await cli(['reload'], env)
  t.equal(r.stdout, 'nothing to do\n')

  // A record without a pod: the operator (or a crash) removed the pod of a running deployment.
  t.equal(podman(['pod', 'rm', '-f', '-t', '0', d1!]).status, 0)
  const unitState = sd.systemctl('is-active', `conductor-deployment@${d1!}.service`).stdout.trim()
  t.comment(`unit after its pod was removed: ${unitState}`)
  // A no-op reload lists pods only now and then (README "reload"): a dry run always does, and
  // when it finds the pod gone the reload after it lists too.
  r = await cli(['reload', '--dry-run'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.comment(`dry run: ${r.stdout.trim()}`)
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  // Two ways back, depending on when the reload looks: the unit failed with its pod and systemd
  // restarts it itself (Restart=on-failure, 2 s later: the reload sees it activating and leaves
  // it), or the reload starts it (the pod-gone rule, or a unit no longer active).
  const why = '(recorded as running but its unit is not active|its unit is active but its pod is gone)'
  t.match(r.stdout, new RegExp(`^nothing to do\\n$|ok {3}start deployment ${d1!} \\(${why}\\)`))
  const deadline = Date.now() + 60_000
  const back = (): boolean =>
    podsNamed(d1!).includes(d1!) &&
    sd.systemctl('is-active', `conductor-deployment@${d1!}.service`).stdout.trim() === 'active'
  while (!back() && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 250))
  t.ok(podsNamed(d1!).includes(d1!), 'its pod runs again')
  t.equal(sd.systemctl('is-active', `conductor-deployment@${d1!}.service`).stdout.trim(), 'active')
  t.same(labelsOf(d1!), { 'io.conductor.deployment': d1, 'io.conductor.root': root }, 'marked again')
  r = await cli(['reload'], env)
  t.equal(r.stdout, 'nothing to do\n', 'converged')

  // A pod template whose Pod cannot be labelled is refused before anything is played.
  writeTree(root, {
    [`etc/conductor/services/${svc}/pod.template`]: '#!/bin/sh\necho "{kind: Pod, metadata: {name: $POD_NAME}}"\n'
  })
  r = await cli(['reload'], env)
  t.equal(r.code, 1, 'the action failed')
  t.match(r.stdout, /FAIL create deployment .*\n.*pod\.template \(output\): a Pod in flow style/)
  t.equal(readdirSync(path.join(root, 'var/lib/conductor/deployments')).length, 1, 'nothing half-created')
  t.ok(existsSync(path.join(root, 'var/lib/conductor/deployments', d1!, 'state.json')), 'the old deployment kept')
  t.ok(podsNamed(d1!).includes(d1!), 'and its pod runs')
})
