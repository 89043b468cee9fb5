import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { cli } from '../../../harness/cli.js'
import { startCaddy } from '../../../harness/caddy.js'
import { waitFor } from '../../../harness/ports.js'
import { httpdPodTemplate } from '../../../harness/reconcile-host.js'
import { podsNamed, removePods, standInCaddyUnit, startUserManager } from '../../../harness/systemd.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Issue 16 item 2: the config units are real. A stop that systemd starts by itself — a plain
// `systemctl --user stop` of the main unit, or the main process killed — takes the routes out
// of a real Caddy and runs the stop hooks, as `conductor service stop` does; a start brings
// them back. Conductor's own commands do that work once (the config unit skips it).

const svc = `cfg${Math.random().toString(36).slice(2, 7)}`

const podTemplate = httpdPodTemplate(`hello \${POD_NAME}`)
// One route for the service (a static answer), one per deployment (to its pod), by @id.
const proxyTemplate = `#!/bin/sh
to='"id": "conductor-server/routes"'
if [ -n "$CONDUCTOR_DEPLOYMENT" ]; then
  proxy='{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:'"$CONDUCTOR_PORT_HTTP"'"}]}'
  strip='{"handler": "rewrite", "strip_path_prefix": "/app"}'
  echo '[{'"$to"', "config": {"@id": "'"$CONDUCTOR_DEPLOYMENT"'", "match": [{"path": ["/app/*"]}],'
  echo '  "handle": ['"$strip, $proxy"']}}]'
else
  echo '[{'"$to"', "config": {"@id": "svc-'"$CONDUCTOR_SERVICE_NAME"'", "match": [{"path": ["/svc"]}],'
  echo '  "handle": [{"handler": "static_response", "body": "service"}]}}]'
fi
`
// Each hook logs its event, its context and whether the pod still answers at that moment.
const hook = (when: string): string => `#!/bin/bash
pod=-
if [ -n "$CONDUCTOR_PORT_HTTP" ]; then
  if (exec 3<>"/dev/tcp/127.0.0.1/$CONDUCTOR_PORT_HTTP") 2>/dev/null; then pod=up; else pod=down; fi
fi
echo "${when} \${CONDUCTOR_DEPLOYMENT:-service} pod=$pod" >> "$HOOK_LOG"
`
const HOOKS = [
  'pre-start',
  'post-start',
  'pre-stop',
  'post-stop',
  'post-start-service',
  'pre-stop-service',
  'post-stop-service'
]

t.test('config units: systemd stops and crashes deregister and run hooks; starts register again', async t => {
  const sd = await startUserManager(t)
  t.teardown(() => removePods(svc + '-'))
  const caddy = await startCaddy(t)
  const root = tempDir(t, 'conductor-cfgunits-')
  const hookLog = path.join(root, 'hooks.log')
  writeTree(root, {
    'etc/conductor/host.json': { scope: 'user', caddy_admin: caddy.adminUrl },
    [`etc/conductor/services/${svc}/conductor-service.json`]: {
      config: { HOOK_LOG: hookLog },
      pods: [{ name: '', pod_template: './pod.template', ports: ['http'] }],
      proxy_config_template: './proxy.template',
      hooks: HOOKS.map(when => ({ id: when, when, exec: [`./${when}.hook`], timeout_sec: 10 }))
    },
    [`etc/conductor/services/${svc}/pod.template`]: podTemplate,
    [`etc/conductor/services/${svc}/proxy.template`]: proxyTemplate,
    ...Object.fromEntries(HOOKS.map(w => [`etc/conductor/services/${svc}/${w}.hook`, hook(w)]))
  })
  standInCaddyUnit(sd)
  const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user', HOME: root }
  // Caddy restarts its admin listener on every config change: a request may meet a closed
  // connection right after one, so ask again.
  const routed = async (atId: string): Promise<boolean> => {
    for (let i = 0; ; i++) {
      try {
        return (await fetch(`${caddy.adminUrl}/id/${atId}`, { headers: { connection: 'close' } })).status === 200
      } catch (err) {
        if (i >= 5) throw err
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }
  }
  const log = (): string[] => {
    try {
      return readFileSync(hookLog, 'utf8').trim().split('\n')
    } catch {
      return []
    }
  }
  const count = (line: string): number => log().filter(l => l === line).length
  const active = (unit: string): string => sd.systemctl('is-active', unit).stdout.trim()
  // A stop runs hooks and a Node process in the config unit, then removes the pod: on a loaded
  // machine that can exceed the harness's 30 s limit for one systemctl call.
  const ctl = (...args: string[]): { code: number; stderr: string } => {
    const r = spawnSync('systemctl', ['--user', ...args], { env: sd.env, encoding: 'utf8', timeout: 180_000 })
    return { code: r.status ?? 1, stderr: `${r.stderr ?? ''}${r.error?.message ?? ''}` }
  }

  let r = await cli(['system', 'install'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  for (const unit of ['conductor-service-config@.service', 'conductor-deployment-config@.service']) {
    t.match(r.stdout, unit, `${unit} installed`)
  }

  // No journal here: the config units' output goes to a file, shown when an assertion fails.
  const unitLog = path.join(root, 'config-units.log')
  const logTo = `[Service]\nStandardOutput=append:${unitLog}\nStandardError=append:${unitLog}\n`
  writeTree(sd.unitsDir, {
    'conductor-deployment-config@.service.d/test-log.conf': logTo,
    'conductor-service-config@.service.d/test-log.conf': logTo
  })
  t.equal(ctl('daemon-reload').code, 0)
  const unitOutput = (): string => {
    try {
      return readFileSync(unitLog, 'utf8')
    } catch {
      return ''
    }
  }

  // 1. Conductor starts everything and does the work itself: each hook ran once, not again by
  // the config units (they consumed Conductor's receipts), and both config units are active.
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  const ids = readdirSync(path.join(root, 'var/lib/conductor/deployments'))
  t.equal(ids.length, 1)
  const id = ids[0]!
  const main = `conductor-deployment@${id}.service`
  const config = `conductor-deployment-config@${id}.service`
  t.ok(await routed(id), 'deployment route registered by reload')
  t.ok(await routed(`svc-${svc}`), 'service route registered by reload')
  const svcConfig = `conductor-service-config@${svc}.service`
  await waitFor('config units active', () => active(config) === 'active' && active(svcConfig) === 'active', 30_000)
  // (Conductor runs post-start once the unit is active; httpd may not listen yet.)
  t.same(
    log()
      .map(l => l.replace(/ pod=\S+$/, ''))
      .sort(),
    [`post-start ${id}`, 'post-start-service service', `pre-start ${id}`].sort(),
    'each start hook ran once: the config units did not run them again'
  )
  t.same(readdirSync(path.join(root, 'run/conductor/units')), [], 'no receipt left behind')

  // 2. A plain `systemctl --user stop` of the deployment unit: its config unit stops first,
  // so the route leaves Caddy and the stop hooks run while the pod still answers.
  const stopped = ctl('stop', main)
  t.equal(stopped.code, 0, stopped.stderr)
  t.notOk(await routed(id), 'systemctl stop removed the deployment route from Caddy')
  t.ok(await routed(`svc-${svc}`), 'the service route stays')
  t.equal(count(`pre-stop ${id} pod=up`), 1, 'pre-stop hook ran, before the pod stopped')
  t.equal(
    count(`post-stop ${id} pod=up`),
    1,
    'post-stop hook ran (before the pod stopped: the config unit stops first)'
  )
  t.equal(active(config), 'inactive', 'config unit stopped with its deployment unit')
  t.same(podsNamed(id), [], 'pod removed')

  // 3. A plain `systemctl --user start` pulls the config unit in: once the pod is ready, the
  // post-start hook runs and the route is back.
  const t3 = Date.now()
  const startedMain = ctl('start', main)
  t.equal(startedMain.code, 0, startedMain.stderr)
  await waitFor('route registered again', async () => await routed(id), 90_000, 100).catch(err => {
    t.comment(sd.systemctl('status', '--no-pager', '-n', '30', config).stdout)
    t.comment(unitOutput())
    throw err
  })
  t.comment(`registered again ${Date.now() - t3} ms after systemctl start`)
  await waitFor('config unit active', () => active(config) === 'active', 30_000)
  t.equal(log().at(-1), `post-start ${id} pod=up`, 'post-start hook ran for the systemd start, once the pod was ready')
  t.equal(log().filter(l => l.startsWith(`post-start ${id} `)).length, 2, 'once')
  const through = await fetch(`http://127.0.0.1:${caddy.httpPort}/app/`)
  t.equal((await through.text()).trim(), `hello ${id}`, 'the pod answers through Caddy again')

  // 4. A crash: the main process killed. systemd restarts the deployment and, through BindsTo=,
  // its config unit: the route leaves Caddy, the stop hooks run, then the route comes back.
  const stopsBefore = count(`pre-stop ${id} pod=down`)
  const killedAt = Date.now()
  t.equal(ctl('kill', '--signal=SIGKILL', '--kill-who=main', main).code, 0)
  let sawGone = false
  const gone = async (): Promise<boolean> => {
    sawGone = !(await routed(id))
    return sawGone
  }
  await waitFor('route removed after the crash', gone, 60_000, 25)
  t.ok(sawGone, 'the crash took the route out of Caddy')
  t.comment(`route out of Caddy ${Date.now() - killedAt} ms after the kill (the restart comes RestartSec=2 s after it)`)
  await waitFor('route back after the restart', async () => await routed(id), 90_000, 100)
  t.equal(count(`pre-stop ${id} pod=down`), stopsBefore + 1, 'pre-stop hook ran for the crash (the pod already gone)')
  t.equal(log().at(-1), `post-start ${id} pod=up`, 'post-start hook ran after the restart, once the pod was ready')
  t.equal(log().filter(l => l.startsWith(`post-start ${id} `)).length, 3, 'once')

  // 5. A plain `systemctl --user stop` of the service unit: its deployments (PartOf=) and both
  // config units stop: every route leaves Caddy and the service's stop hooks run.
  t.equal(ctl('stop', `conductor-service@${svc}.service`).code, 0)
  t.notOk(await routed(`svc-${svc}`), 'service route removed')
  t.notOk(await routed(id), 'deployment route removed (the deployment, After= its service, stopped first)', {
    diagnostic: true,
    output: unitOutput()
  })
  t.equal(count('pre-stop-service service pod=-'), 1, 'pre-stop-service hook ran')
  t.equal(count('post-stop-service service pod=-'), 1, 'post-stop-service hook ran')
  t.equal(active(main), 'inactive', 'the deployment stopped with its service')
  t.equal(ctl('start', `conductor-service@${svc}.service`).code, 0)
  await waitFor('service route back', async () => await routed(`svc-${svc}`), 60_000, 100)
  t.equal(count('post-start-service service pod=-'), 2, 'post-start-service hook ran for the systemd start')

  // 6. Conductor's own stop: hooks once each (the config units skip), routes out.
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  await waitFor('deployment route back after reload', async () => await routed(id), 60_000, 100)
  const lines = log().length
  r = await cli(['service', 'stop', svc], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.notOk(await routed(id), 'service stop removed the deployment route')
  t.notOk(await routed(`svc-${svc}`), 'service stop removed the service route')
  t.same(
    log()
      .slice(lines)
      .map(l => l.split(' ')[0])
      .sort(),
    ['post-stop', 'post-stop-service', 'pre-stop', 'pre-stop-service'],
    'each stop hook ran once: the config units did not run them again'
  )
  t.same(readdirSync(path.join(root, 'run/conductor/units')), [], 'no receipt left behind')
})
