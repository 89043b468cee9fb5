import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { CaddyClient } from '../../../../caddy/index.js'
import { deregisterServiceSnippets, registerServiceSnippets } from '../../../../conductor/proxy/index.js'
import {
  loadService,
  type Service,
  resolveRoots,
  serviceVariables,
  baseVariables
} from '../../../../conductor/model/index.js'
import { startCaddy, type CaddyHandle } from '../../../harness/caddy.js'
import { cli, cliProcess } from '../../../harness/cli.js'
import { startGatewayProcess } from '../../../harness/gateway.js'
import { httpRequest } from '../../../harness/http.js'
import { freePort, waitFor } from '../../../harness/ports.js'
import { startUserManager } from '../../../harness/systemd.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Proxy snippets of services and deployments through a real Caddy: registration from the
// proxy template, idempotence, stale @ids removed, register_only kept on deregistration, and
// a Caddy restart repaired by `conductor caddy sync` (status missing before, registered after),
// and the same repair done by conductor-caddy-sync.service under a real systemd user manager.
// Then the Caddy config `system install` writes, as a new host gets it: its "conductor-server"
// serves the routes of reload and caddy protect, and `doctor` checks that server (its fixes
// are applied and work).

const TEMPLATE = `#!/bin/bash
if [[ -n "\${POD_IP_ADDRESS+x}" ]]; then
cat <<JSON
[{"id": "conductor-server/routes", "config": {"@id": "$CONDUCTOR_DEPLOYMENT-route", "match": [{"path": ["/dep"]}], "handle": [{"handler": "static_response", "body": "deployment $CONDUCTOR_DEPLOYMENT at $POD_IP_ADDRESS"}]}}]
JSON
else
cat <<JSON
[{"id": "conductor-server/routes", "config": {"@id": "$ROUTE_ID", "match": [{"path": ["/svc"]}], "handle": [{"handler": "static_response", "body": "service $CONDUCTOR_SERVICE_NAME $ROUTE_ID"}]}},
 {"id": "/config/apps/http/servers/conductor/routes", "config": {"match": [{"path": ["/kept"]}], "handle": [{"handler": "static_response", "body": "kept"}]}, "register_only": true}]
JSON
fi
`

function makeHost(t: Test, routeId = 'web-route'): string {
  const root = tempDir(t)
  writeTree(root, {
    'etc/conductor/services/web/conductor-service.json': {
      config: { ROUTE_ID: routeId },
      pods: [{ pod_template: './pod.template' }],
      proxy_config_template: './proxy.template'
    },
    'etc/conductor/services/web/proxy.template': TEMPLATE,
    'etc/conductor/services/web/pod.template': '#!/bin/sh\necho pod\n',
    'etc/conductor/services/off/conductor-service.json': { disable: true, proxy_config_template: './proxy.template' },
    'etc/conductor/services/off/proxy.template': '#!/bin/sh\nexit 1\n'
  })
  return root
}

const body = async (caddy: CaddyHandle, p: string): Promise<string> =>
  (await httpRequest(`http://127.0.0.1:${caddy.httpPort}${p}`)).body

t.test("register, re-register, change, deregister a service's snippets", async t => {
  const caddy = await startCaddy(t)
  const root = makeHost(t)
  const roots = resolveRoots({ root })
  const client = new CaddyClient({ adminUrl: caddy.adminUrl })
  const load = async (): Promise<Service> => await loadService(roots.services, 'web')
  const vars = async (): Promise<Record<string, string>> => serviceVariables(await load(), baseVariables(roots, {}))

  const first = await registerServiceSnippets(await load(), await vars(), client, { roots })
  t.same(
    first.results.map(r => r.result),
    ['created', 'created']
  )
  t.equal(first.owner, 'service@web')
  t.equal(await body(caddy, '/svc'), 'service web web-route')
  t.equal(await body(caddy, '/kept'), 'kept')
  const recordFile = path.join(roots.run, 'caddy', 'service@web.json')
  t.ok(existsSync(recordFile), 'what was registered is recorded')

  const second = await registerServiceSnippets(await load(), await vars(), client, { roots })
  t.same(
    second.results.map(r => r.result),
    ['unchanged', 'unchanged']
  )
  t.equal((await client.get<unknown[]>('conductor-server/routes')).length, 2, 'no duplicate after registering twice')

  // The template now prints another @id: the old route is removed, the new one added.
  const file = path.join(roots.services, 'web/conductor-service.json')
  writeFileSync(
    file,
    JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), config: { ROUTE_ID: 'web-route-2' } })
  )
  const third = await registerServiceSnippets(await load(), await vars(), client, { roots })
  t.same(third.removed, ['web-route'], 'the stale @id is removed')
  t.equal(await client.has('web-route'), false)
  t.equal(await body(caddy, '/svc'), 'service web web-route-2')
  t.equal((await client.get<unknown[]>('conductor-server/routes')).length, 2)

  // Deregistration works from the record even when the template is broken by then.
  writeFileSync(path.join(roots.services, 'web/proxy.template'), '#!/bin/sh\necho broken >&2; exit 3\n')
  const gone = await deregisterServiceSnippets(await load(), await vars(), client, { roots })
  t.match(gone.templateError, /exited with status 3/)
  t.same(gone.results.map(r => r.result).sort(), ['deleted', 'kept'])
  t.equal(await client.has('web-route-2'), false, 'the route is gone')
  t.equal(await body(caddy, '/kept'), 'kept', 'the register_only snippet survives')
  t.notOk(existsSync(recordFile), 'record removed')
})

t.test('a bad template output changes nothing and names the template and element', async t => {
  const caddy = await startCaddy(t)
  const root = makeHost(t)
  const roots = resolveRoots({ root })
  writeFileSync(
    path.join(roots.services, 'web/proxy.template'),
    `#!/bin/sh
echo '[{"id": "conductor-server/routes", "config": {"@id": "ok"}}, {"id": "conductor-server/routes", "config": {"handle": []}}]'
`
  )
  const client = new CaddyClient({ adminUrl: caddy.adminUrl })
  const svc = await loadService(roots.services, 'web')
  await t.rejects(registerServiceSnippets(svc, serviceVariables(svc), client, { roots }), {
    code: 'CND_CADDY_SNIPPET_INVALID',
    message: `${path.join(roots.services, 'web/proxy.template')}: /1/config/@id: missing: a snippet that is not register_only needs a unique @id (a non-empty string) so it can be replaced and removed`
  })
  t.equal((await client.get<unknown[]>('conductor-server/routes')).length, 0, 'nothing half-applied')
})

t.test('Caddy restart: status shows missing, caddy sync restores service and deployment routes', async t => {
  const caddy = await startCaddy(t)
  const root = makeHost(t)
  writeTree(root, {
    'var/lib/conductor/deployments/web-0abc/state.json': {
      version: 1,
      id: 'web-0abc',
      service: 'web',
      part: '',
      hash: 'h',
      desired: 'running',
      config: {},
      ports: {},
      pod_ip: '127.0.0.1',
      created_at: '2026-11-25T00:00:00.000Z'
    }
  })
  const env = { CONDUCTOR_CADDY_ADMIN: caddy.adminUrl }

  const sync1 = await cli(['--root', root, 'caddy', 'sync', '--json'], env)
  t.equal(sync1.code, 0, sync1.stderr)
  const owners = JSON.parse(sync1.stdout).owners as Array<{ owner: string; results: Array<{ result: string }> }>
  t.same(
    owners.map(o => o.owner),
    ['service@web', 'deployment@web-0abc'],
    'disabled services are skipped; deployments come from state.json'
  )
  t.equal(await body(caddy, '/dep'), 'deployment web-0abc at 127.0.0.1')
  const st1 = await cli(['--root', root, 'caddy', 'status'], env)
  t.equal(st1.code, 0, st1.stdout + st1.stderr)
  t.match(st1.stdout, /service@web\s+conductor-server\/routes\s+web-route\s+registered/)
  t.match(st1.stdout, /deployment@web-0abc\s+conductor-server\/routes\s+web-0abc-route\s+registered/)

  // Caddy restarts without --resume: a fresh one on the same admin port, routes lost.
  await caddy.stop()
  const down = await cli(['--root', root, 'caddy', 'sync'], env)
  t.equal(down.code, 6, 'sync exits 6 when Caddy is unreachable')
  t.match(down.stderr, new RegExp(`cannot reach the Caddy admin API at ${caddy.adminUrl.replace(/\./g, '\\.')}`))
  const fresh = await startCaddy(t, { adminPort: caddy.adminPort, httpPort: caddy.httpPort })
  t.equal(fresh.adminUrl, caddy.adminUrl, 'same admin endpoint')
  const st2 = await cli(['--root', root, 'caddy', 'status', '--json'], env)
  t.equal(st2.code, 1, 'status exits 1 when something is missing')
  const states = (JSON.parse(st2.stdout).owners as Array<{ owner: string; snippets: Array<{ state: string }> }>).map(
    o => [o.owner, o.snippets.map(s => s.state)]
  )
  t.same(states, [
    ['service@web', ['missing', 'missing']],
    ['deployment@web-0abc', ['missing']]
  ])

  const sync2 = await cli(['--root', root, 'caddy', 'sync'], env)
  t.equal(sync2.code, 0, sync2.stderr)
  t.match(sync2.stdout, /web-route\s+created/)
  t.equal(await body(fresh, '/svc'), 'service web web-route')
  t.equal(await body(fresh, '/dep'), 'deployment web-0abc at 127.0.0.1')
  const st3 = await cli(['--root', root, 'caddy', 'status', '--json'], env)
  t.equal(st3.code, 0)
  t.equal(JSON.parse(st3.stdout).ok, true, 'everything registered again')
  const sync3 = await cli(['--root', root, 'caddy', 'sync', '--json'], env)
  t.same(
    (JSON.parse(sync3.stdout).owners as Array<{ results: Array<{ result: string }> }>).flatMap(o =>
      o.results.map(r => r.result)
    ),
    ['unchanged', 'unchanged', 'unchanged'],
    'a second sync does nothing'
  )

  // A deployment that is gone (no state.json) but whose route is still in Caddy: stale.
  rmSync(path.join(root, 'var/lib/conductor/deployments/web-0abc'), { recursive: true })
  const st4 = await cli(['--root', root, 'caddy', 'status'], env)
  t.equal(st4.code, 1)
  t.match(st4.stdout, /deployment@web-0abc\s+conductor-server\/routes\s+web-0abc-route\s+stale/)

  // What conductor-caddy-sync.service does: sync --wait started while Caddy is still down.
  await fresh.stop()
  const pending = cli(['--root', root, 'caddy', 'sync', '--wait', '20'], env)
  await new Promise(resolve => setTimeout(resolve, 300))
  const third = await startCaddy(t, { adminPort: caddy.adminPort, httpPort: caddy.httpPort })
  const waited = await pending
  t.equal(waited.code, 0, waited.stderr)
  t.equal(await body(third, '/svc'), 'service web web-route', 'routes back without operator action')
})

t.test('one broken service does not stop the others', async t => {
  const caddy = await startCaddy(t)
  const root = makeHost(t)
  writeTree(root, {
    'etc/conductor/services/broken/conductor-service.json': { proxy_config_template: './proxy.template' },
    'etc/conductor/services/broken/proxy.template':
      '#!/bin/sh\necho \'[{"id": "conductor-server/routes", "config": {}}]\'\n',
    'etc/conductor/services/invalid/conductor-service.json': { pods: [{ pod_tmplate: 'x' }] }
  })
  const env = { CONDUCTOR_CADDY_ADMIN: caddy.adminUrl }
  const sync = await cli(['--root', root, 'caddy', 'sync'], env)
  t.equal(sync.code, 1, 'exit 1: something failed')
  t.match(sync.stderr, /service@broken: .*broken\/proxy\.template: \/0\/config\/@id: missing/)
  t.match(sync.stderr, /service@invalid: .*\/pods\/0\/pod_tmplate: unknown field; did you mean "pod_template"\?/)
  t.equal(await body(caddy, '/svc'), 'service web web-route', 'the good service is registered anyway')
  const status = await cli(['--root', root, 'caddy', 'status'], env)
  t.equal(status.code, 1)
  t.match(status.stdout, /service@broken\s+ERROR/)
  t.match(status.stdout, /service@web\s+conductor-server\/routes\s+web-route\s+registered/)
})

t.test(
  'Caddy restarted mid-life under systemd: conductor-caddy-sync.service brings the routes back, no conductor command run',
  async t => {
    const sd = await startUserManager(t)
    const root = makeHost(t)
    const adminPort = await freePort()
    const httpPort = await freePort()
    const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user' }
    // system install writes Caddy's config: the admin API and the server routes are added to,
    // listening where host.json caddy_listen says.
    const caddyJson = path.join(root, 'etc/conductor/caddy.json')
    writeTree(root, {
      'etc/conductor/host.json': {
        scope: 'user',
        caddy_admin: `127.0.0.1:${adminPort}`,
        caddy_listen: [`127.0.0.1:${httpPort}`]
      }
    })
    // The service without its pod part: its service-context route is enough here, no Podman needed.
    writeTree(root, {
      'etc/conductor/services/web/conductor-service.json': {
        config: { ROUTE_ID: 'web-route' },
        proxy_config_template: './proxy.template'
      }
    })

    const install = await cli(['system', 'install'], env)
    t.equal(install.code, 0, install.stdout + install.stderr)
    const unit = readFileSync(path.join(sd.unitsDir, 'caddy.service'), 'utf8')
    t.match(unit, /ExecStart=\S*caddy run --resume --config /, 'system install wrote the default caddy.service')
    const server = { '@id': 'conductor-server', listen: [`127.0.0.1:${httpPort}`] }
    t.match(
      JSON.parse(readFileSync(caddyJson, 'utf8')),
      { apps: { http: { servers: { conductor: server } } } },
      'and its caddy.json'
    )
    t.match(
      readFileSync(path.join(sd.unitsDir, 'caddy.service.d/50-conductor-caddy-sync.conf'), 'utf8'),
      /Wants=conductor-caddy-sync\.service/
    )
    // Caddy started WITHOUT --resume (as Debian's own caddy.service does): a restart forgets
    // every route added through the admin API. Only this drop-in is the test's.
    writeTree(sd.unitsDir, {
      'caddy.service.d/10-test-no-resume.conf': `[Service]\nExecStart=\nExecStart=${unit.match(/ExecStart=(\S*caddy) run/)![1]!} run --config ${caddyJson}\n`
    })
    t.equal(sd.systemctl('daemon-reload').code, 0)

    const reload = await cli(['reload'], env)
    t.equal(reload.code, 0, reload.stdout + reload.stderr)
    t.equal(
      sd.systemctl('is-active', 'caddy.service').stdout.trim(),
      'active',
      'caddy.service started with the services'
    )
    const url = `http://127.0.0.1:${httpPort}/svc`
    await waitFor(
      'the route through Caddy',
      async () => (await httpRequest(url)).body === 'service web web-route',
      20_000,
      100
    )
    const invocation = (): string =>
      sd.systemctl('show', '-p', 'InvocationID', '--value', 'conductor-caddy-sync.service').stdout.trim()
    await waitFor(
      'the sync unit ran once',
      () => sd.systemctl('is-active', 'conductor-caddy-sync.service').stdout.trim() === 'active',
      20_000,
      100
    )
    const firstSync = invocation()
    const caddyPid = (): string => sd.systemctl('show', '-p', 'MainPID', '--value', 'caddy.service').stdout.trim()
    const firstPid = caddyPid()

    // The restart: from here on the test runs no conductor command, it only asks.
    t.equal(sd.systemctl('restart', 'caddy.service').code, 0)
    t.not(caddyPid(), firstPid, 'a new Caddy process')
    await waitFor(
      'the route back through the restarted Caddy',
      async () => (await httpRequest(url)).body === 'service web web-route',
      30_000,
      100
    )
    // The sync registers the snippets one after the other: the second may land a moment later.
    await waitFor(
      'the register_only route back',
      async () => (await httpRequest(`http://127.0.0.1:${httpPort}/kept`)).body === 'kept',
      10_000,
      100
    )
    t.equal(await body({ httpPort } as CaddyHandle, '/svc'), 'service web web-route', 'the service route answers again')
    t.equal(await body({ httpPort } as CaddyHandle, '/kept'), 'kept', 'the register_only snippet too')
    t.not(invocation(), firstSync, 'conductor-caddy-sync.service ran again, pulled in by caddy.service')
    t.same(
      (
        JSON.parse(readFileSync(caddyJson, 'utf8')) as {
          apps: { http: { servers: { conductor: { routes: unknown[] } } } }
        }
      ).apps.http.servers.conductor.routes,
      [],
      "Caddy's own config holds no route: the sync unit put them back"
    )
    // The routes can answer while the oneshot unit is still finishing ("activating"): wait, not assume.
    await waitFor(
      'the sync unit finished again',
      () => sd.systemctl('is-active', 'conductor-caddy-sync.service').stdout.trim() === 'active',
      20_000,
      100
    )
    t.equal(sd.systemctl('is-active', 'conductor-caddy-sync.service').stdout.trim(), 'active')
    const client = new CaddyClient({ adminUrl: `http://127.0.0.1:${adminPort}` })
    // In any order (the sync registers its owners one by one: which comes first depends on how
    // long each one's template takes), each once.
    const ids = (list: Array<string | undefined>): string[] => list.map(id => id ?? '(no @id)').sort()
    t.same(
      ids((await client.get<Array<{ '@id'?: string }>>('conductor-server/routes')).map(r => r['@id'])),
      ids([
        'web-route',
        undefined,
        // The built-in peer functions `system install` writes have their routes too, put back alike.
        ...[
          'add_peer',
          'remove_peer',
          'list_peers',
          'write_service',
          'enable',
          'disable',
          'start',
          'stop',
          'identity'
        ].map(f => `conductor-function-conductor-peers-${f}`)
      ]),
      "exactly the routes of before (the service's, the built-in peer functions'), none duplicated"
    )
  }
)

t.test(
  'system install declares "conductor-server" on caddy_listen: Caddy started from it serves the routes of ' +
    'reload and caddy protect; doctor checks the server, and its fixes work',
  async t => {
    const sd = await startUserManager(t)
    const root = makeHost(t)
    const [adminPort, httpPort, otherPort] = [await freePort(), await freePort(), await freePort()]
    const token = 'a-long-enough-static-token'
    const host = (listen: number): object => ({
      scope: 'user',
      caddy_admin: `127.0.0.1:${adminPort}`,
      caddy_listen: [`127.0.0.1:${listen}`]
    })
    writeTree(root, {
      'etc/conductor/host.json': host(httpPort),
      'etc/conductor/services/web/conductor-service.json': {
        config: { ROUTE_ID: 'web-route' },
        proxy_config_template: './proxy.template'
      },
      'etc/conductor/policies/ci.json': { match: [{ bearer: [{ token }] }] }
    })
    const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user', HOME: root }
    const gw = await startGatewayProcess(t, { env: { CONDUCTOR_ROOT: root } })
    const client = new CaddyClient({ adminUrl: `http://127.0.0.1:${adminPort}` })
    const svc = async (port: number): Promise<string> => (await httpRequest(`http://127.0.0.1:${port}/svc`)).body
    const protectedStatus = async (port: number, auth?: string): Promise<number> =>
      (await httpRequest(`http://127.0.0.1:${port}/p`, auth === undefined ? {} : { headers: { authorization: auth } }))
        .status
    const doctor = async (): Promise<{ ok: boolean; detail: string; fix?: string }> => {
      const r = await cliProcess(['doctor', '--json', '--gateway', `127.0.0.1:${gw.port}`], env)
      type Checks = { checks: Array<{ name: string; ok: boolean; detail: string; fix?: string }> }
      const checks = (JSON.parse(r.stdout) as Checks).checks
      return checks.find(c => c.name === 'caddy')!
    }

    // A first start (no autosaved config yet): Caddy loads caddy.json, server included.
    const install = await cli(['system', 'install'], env)
    t.equal(install.code, 0, install.stdout + install.stderr)
    t.same(JSON.parse(readFileSync(path.join(root, 'etc/conductor/caddy.json'), 'utf8')).apps.http.servers.conductor, {
      '@id': 'conductor-server',
      listen: [`127.0.0.1:${httpPort}`],
      routes: [],
      automatic_https: { disable: true }
    })
    const reload = await cli(['reload'], env)
    t.equal(reload.code, 0, reload.stdout + reload.stderr)
    t.equal(
      sd.systemctl('is-active', 'caddy.service').stdout.trim(),
      'active',
      'the installed caddy.service, started by reload'
    )
    await waitFor('the route through Caddy', async () => (await svc(httpPort)) === 'service web web-route', 20_000, 100)
    t.equal(await svc(httpPort), 'service web web-route', 'the route reload registered answers through the server')
    const protect = await cli(
      [
        'caddy',
        'protect',
        '--policy',
        'ci',
        '--path',
        '/p',
        '--upstream',
        'static:protected',
        '--gateway',
        `127.0.0.1:${gw.port}`,
        '--id',
        'p-route'
      ],
      env
    )
    t.equal(protect.code, 0, protect.stderr)
    t.equal(await protectedStatus(httpPort), 401, "caddy protect's route asks the gateway: no token, 401")
    t.equal(await protectedStatus(httpPort, `Bearer ${token}`), 200, 'with the token, 200')
    let check = await doctor()
    t.equal(check.ok, true, check.detail)
    t.match(check.detail, `; HTTP server "conductor-server" listens on 127.0.0.1:${httpPort}`)

    // Later starts resume the autosaved config: server and routes are there at once.
    t.equal(sd.systemctl('restart', 'caddy.service').code, 0)
    await waitFor('Caddy back', async () => (await svc(httpPort)) === 'service web web-route', 20_000, 100)
    // Caddy rewrites autosave.json in place after every config change (the sync unit's, just after
    // the restart): a read in the middle of one finds it empty, so read until it parses.
    let saved: unknown
    await waitFor(
      'autosave.json complete',
      async () => {
        try {
          saved = JSON.parse(readFileSync(path.join(root, 'var/lib/conductor/caddy/caddy/autosave.json'), 'utf8'))
          return true
        } catch {
          return false
        }
      },
      10_000,
      50
    )
    t.match(
      saved,
      { apps: { http: { servers: { conductor: { '@id': 'conductor-server' } } } } },
      'the config Caddy autosaved holds the server'
    )

    // No server in the running Caddy (as after an upgrade from a version that did not declare it,
    // whose autosaved config --resume keeps loading): doctor says so, and its fix works.
    const res = await client.request('DELETE', '/id/conductor-server')
    t.equal(res.status, 200, res.body)
    check = await doctor()
    t.equal(check.ok, false)
    t.match(
      check.detail,
      'no HTTP server with "@id": "conductor-server": the routes of services, functions and caddy protect have nowhere to go'
    )
    t.match(
      check.fix,
      `conductor system install --scope user --root ${root} (its ${root}/etc/conductor/caddy.json ` +
        `declares the server), then load that file: systemctl --user reload caddy.service && conductor caddy sync --root ${root}`
    )
    t.equal(sd.systemctl('reload', 'caddy.service').code, 0, 'the fix: reload caddy.service (caddy.json)...')
    const sync = await cli(['caddy', 'sync'], env)
    t.equal(sync.code, 0, sync.stdout + sync.stderr)
    t.equal(await svc(httpPort), 'service web web-route', '... and caddy sync: the routes answer again')
    t.equal(await protectedStatus(httpPort, `Bearer ${token}`), 200, "caddy protect's route too")
    check = await doctor()
    t.equal(check.ok, true, check.detail)

    // caddy_listen changes: install rewrites caddy.json and says how to load it; the running
    // Caddy keeps the old addresses until then, which doctor reports with the same fix.
    writeTree(root, { 'etc/conductor/host.json': host(otherPort) })
    const again = await cli(['system', 'install'], env)
    t.equal(again.code, 0, again.stderr)
    t.match(
      again.stdout,
      /note: .*caddy\.json changed; a running Caddy keeps its config .*: load it with systemctl --user reload caddy\.service && conductor caddy sync/
    )
    check = await doctor()
    t.equal(check.ok, false)
    t.match(
      check.detail,
      `HTTP server "conductor-server" listens on 127.0.0.1:${httpPort}, host.json caddy_listen asks for 127.0.0.1:${otherPort}`
    )
    t.match(check.fix, 'then load it: systemctl --user reload caddy.service && conductor caddy sync')
    t.equal(sd.systemctl('reload', 'caddy.service').code, 0)
    t.equal((await cli(['caddy', 'sync'], env)).code, 0)
    t.equal(await svc(otherPort), 'service web web-route', 'the routes answer on the new address')
    t.equal(await protectedStatus(otherPort), 401)
    check = await doctor()
    t.equal(check.ok, true, check.detail)
    t.match(check.detail, `listens on 127.0.0.1:${otherPort}`)

    // caddy_admin changes: `caddy reload` would knock at the new address, so the note says to start
    // Caddy from caddy.json; conductor-caddy-sync then registers the routes, no conductor command run.
    const newAdmin = await freePort()
    writeTree(root, { 'etc/conductor/host.json': { ...host(otherPort), caddy_admin: `127.0.0.1:${newAdmin}` } })
    const moved = await cli(['system', 'install'], env)
    t.equal(moved.code, 0, moved.stderr)
    const autosave = path.join(root, 'var/lib/conductor/caddy/caddy/autosave.json')
    t.match(
      moved.stdout,
      `its admin address changed: start it from caddy.json with rm -f ${autosave} && systemctl --user restart caddy.service`
    )
    rmSync(autosave)
    t.equal(sd.systemctl('restart', 'caddy.service').code, 0)
    await waitFor(
      'the routes back through the restarted Caddy',
      async () => (await svc(otherPort)) === 'service web web-route',
      30_000,
      100
    )
    t.equal(await protectedStatus(otherPort, `Bearer ${token}`), 200, "caddy protect's route too")
    check = await doctor()
    t.equal(check.ok, true, check.detail)
    t.match(check.detail, `admin API http://127.0.0.1:${newAdmin} (from host.json) answers`)
  }
)
