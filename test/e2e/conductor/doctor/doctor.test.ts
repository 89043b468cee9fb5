import t from 'tap'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { CaddyClient } from '../../../../caddy/index.js'
import { migrateReqCheck, podmanFix } from '../../../../conductor/doctor/checks.js'
import { cliProcess, repoRoot } from '../../../harness/cli.js'
import { startCaddy } from '../../../harness/caddy.js'
import { startGatewayProcess } from '../../../harness/gateway.js'
import { freePort } from '../../../harness/ports.js'
import { standInCaddyUnit, startUserManager } from '../../../harness/systemd.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

const containersConf = path.join(repoRoot, 'test/fixtures/containers.conf')

t.test(
  'doctor runs real checks: podman run works, the gateway answers, a broken service is named; exit 1 on any failure',
  async t => {
    const root = tempDir(t)
    writeTree(root, {
      'etc/conductor/services/ok/conductor-service.json': { app_name: 'ok' },
      'etc/conductor/services/broken/conductor-service.json': { app_nme: 'x' }
    })
    const port = await freePort()
    const env = { CONDUCTOR_ROOT: root, CONTAINERS_CONF: containersConf, HOME: root }
    const down = await cliProcess(['doctor', '--json', '--gateway', `127.0.0.1:${port}`], env)
    t.equal(down.code, 1)
    const checks = Object.fromEntries(
      (JSON.parse(down.stdout).checks as Array<{ name: string; ok: boolean; detail: string; fix?: string }>).map(c => [
        c.name,
        c
      ])
    )
    t.equal(checks.podman!.ok, true, checks.podman!.detail)
    t.match(checks.podman!.detail, /podman run works/)
    t.equal(checks.gateway!.ok, false)
    t.match(checks.gateway!.fix, /start it/)
    t.equal(checks['service files']!.ok, false)
    t.match(checks['service files']!.detail, /broken\/conductor-service\.json: \/app_nme: unknown field/)

    await startGatewayProcess(t, { env, port })
    const up = await cliProcess(['doctor', '--gateway', `127.0.0.1:${port}`], env)
    t.match(up.stdout, new RegExp(`✓ gateway: http://127.0.0.1:${port}/healthz -> 200`))
    t.match(up.stdout, /✓ podman: podman [\d.]+, podman run works/)
    t.match(up.stdout, /✗ service files: /)
  }
)

t.test('podman failures seen on minimal VMs map to their containers.conf fix', async t => {
  t.match(
    podmanFix('error setting rlimits for ready process: error setting rlimit type 7: operation not permitted'),
    /default_ulimits/
  )
  t.match(podmanFix("crun: setrlimit 'RLIMIT_NOFILE': Operation not permitted"), /default_ulimits/)
  t.match(
    podmanFix('crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2'),
    /runtime = "runc".*cgroupfs/
  )
  t.match(podmanFix('something else'), /by hand/)
})

t.test(
  'doctor with a real Caddy and a real user manager: Caddy, its running version and its "conductor-server", ' +
    'units installed and current, policies valid; every ✗ has its fix',
  async t => {
    const sd = await startUserManager(t)
    const caddy = await startCaddy(t)
    const root = tempDir(t)
    writeTree(root, {
      'etc/conductor/host.json': { scope: 'user', caddy_admin: caddy.adminUrl },
      'etc/conductor/policies/good.json': { match: [{ bearer: [{ token: 'a-long-enough-static-token' }] }] },
      'etc/conductor/policies/broken.json': { match: [{ bearer: [{ tokn: 'x' }] }] }
    })
    chmodSync(path.join(root, 'etc/conductor/policies/good.json'), 0o644)
    // The test's Caddy is the one units would depend on: a stand-in caddy.service (as in the
    // deploy test) keeps `system install` from writing and starting another one.
    standInCaddyUnit(sd)
    const env = { ...sd.env, CONDUCTOR_ROOT: root, HOME: root }
    const doctor = async (): Promise<{
      code: number
      checks: Record<string, { ok: boolean; detail: string; fix?: string }>
    }> => {
      const r = await cliProcess(['doctor', '--json'], env)
      const parsed = JSON.parse(r.stdout) as {
        checks: Array<{ name: string; ok: boolean; detail: string; fix?: string }>
      }
      return { code: r.code, checks: Object.fromEntries(parsed.checks.map(c => [c.name, c])) }
    }

    let d = await doctor()
    t.equal(d.code, 1)
    t.equal(d.checks['systemd (user)']!.ok, true, d.checks['systemd (user)']!.detail)
    t.equal(d.checks.caddy!.ok, true, d.checks.caddy!.detail)
    t.match(
      d.checks.caddy!.detail,
      new RegExp(
        `admin API ${caddy.adminUrl} \\(from host\\.json\\) answers; Caddy 2\\.\\d+\\.\\d+ \\(pid ${caddy.process.pid!}, /\\S*caddy\\)`
      ),
      'the version of the process that holds the admin port'
    )
    t.equal(d.checks.units!.ok, false)
    t.match(d.checks.units!.detail, /not installed: .*conductor-gateway\.service/)
    t.match(d.checks.units!.fix, /^conductor system install --scope user --root /)
    t.equal(d.checks.policies!.ok, false)
    t.match(
      d.checks.policies!.detail,
      /broken\.json: \/match\/0\/bearer\/0\/tokn: unknown field; did you mean "token"\?/
    )
    t.match(d.checks.policies!.fix, /conductor policy ls/)
    // issue 13 item 11: a plaintext token others can read is named, with the fix, never printed.
    t.match(
      d.checks.policies!.detail,
      /good\.json: \/match\/0\/bearer\/0\/token: plaintext token in a file everyone can read/
    )
    t.match(d.checks.policies!.fix, /chmod 600 each file named .*or replace "token" with "token_sha256"/)
    t.notMatch(JSON.stringify(d.checks), /a-long-enough-static-token/)

    const install = await cliProcess(['system', 'install'], env)
    t.equal(install.code, 0, install.stderr)
    writeTree(root, { 'etc/conductor/policies/broken.json': { match: [{ always: true }] } })
    chmodSync(path.join(root, 'etc/conductor/policies/good.json'), 0o600)
    d = await doctor()
    t.same(
      Object.entries(d.checks)
        .filter(([, c]) => !c.ok)
        .map(([n]) => n)
        .sort(),
      ['fleet sync', 'gateway', 'nats'],
      'only the units not started here fail once units are installed and policies fixed: the gateway, NATS, the fleet daemon'
    )
    t.match(d.checks.nats!.fix, /conductor-nats\.service/, "NATS down: the fix names the product's unit")
    t.match(d.checks.units!.detail, /file\(s\) installed and current/)
    t.match(d.checks.policies!.detail, /2 policies valid/)
    t.match(
      d.checks.caddy!.detail,
      `; HTTP server "conductor-server" listens on 127.0.0.1:${caddy.httpPort}`,
      'the server routes go into is there'
    )

    // Without that server every route registration fails: ✗, and since this Caddy's config is not
    // Conductor's (a caddy.service it did not write), the fix says what to declare in it.
    t.equal((await new CaddyClient({ adminUrl: caddy.adminUrl }).request('DELETE', '/id/conductor-server')).status, 200)
    d = await doctor()
    t.equal(d.checks.caddy!.ok, false)
    t.match(
      d.checks.caddy!.detail,
      /answers; Caddy 2\.\d+\.\d+ .*; no HTTP server with "@id": "conductor-server": the routes of services, functions and caddy protect/
    )
    t.match(d.checks.caddy!.fix, 'declare it in the config your Caddy loads (a caddy.service or a ')
    t.match(
      d.checks.caddy!.fix,
      '"apps": {"http": {"servers": {"conductor":{"@id":"conductor-server","listen":[":80",":443"],"routes":[]}}}}'
    )
    t.match(d.checks.caddy!.fix, /a Caddyfile cannot set "@id": convert it with `caddy adapt`/)

    // A unit edited by hand (or written by an older Conductor) is out of date, with the line; and
    // something else than Caddy on the admin port (one doctor run for both: each costs a podman run).
    const gwUnit = path.join(sd.unitsDir, 'conductor-gateway.service')
    writeFileSync(gwUnit, readFileSync(gwUnit, 'utf8').replace(/^RestartSec=.*$/m, 'RestartSec=30'))
    await caddy.stop()
    const impostor = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-length': '9' })
      res.end('not here\n')
    })
    await new Promise<void>(resolve => impostor.listen(caddy.adminPort, '127.0.0.1', resolve))
    d = await doctor()
    t.equal(d.checks.units!.ok, false)
    t.match(
      d.checks.units!.detail,
      /out of date: .*conductor-gateway\.service \(line \d+: `RestartSec=30` on disk, `RestartSec=[^`]+` expected\)/
    )
    t.equal(d.checks.caddy!.ok, false)
    t.match(d.checks.caddy!.detail, /GET \/config\/ -> 404/)
    t.match(d.checks.caddy!.fix, /admin API/)
    await new Promise(resolve => impostor.close(resolve))
    const text = await cliProcess(['doctor'], env)
    t.equal(text.code, 1)
    t.match(
      text.stdout,
      new RegExp(`✗ caddy: ${caddy.adminUrl} \\(from host\\.json\\) not reachable: ECONNREFUSED\\n    fix: start Caddy`)
    )
    t.match(text.stdout, /✗ units: out of date: /)
    t.match(text.stdout, /✓ policies: 2 policies valid/)
  }
)

t.test('doctor with a broken host.json names it and still checks what does not depend on it', async t => {
  const root = tempDir(t)
  writeTree(root, { 'etc/conductor/host.json': { scope: 'moon' } })
  const r = await cliProcess(['doctor', '--json'], {
    CONDUCTOR_ROOT: root,
    CONTAINERS_CONF: containersConf,
    HOME: root
  })
  t.equal(r.code, 1)
  const checks = (
    JSON.parse(r.stdout) as { checks: Array<{ name: string; ok: boolean; detail: string; fix?: string }> }
  ).checks
  t.same(
    checks.map(c => c.name),
    ['podman', 'kernel (deploys)', 'host.json', 'service files', 'policies']
  )
  const hostCheck = checks.find(c => c.name === 'host.json')!
  t.match(hostCheck.detail, /host\.json.*\/scope/)
  t.match(hostCheck.fix, /checks that depend on it were skipped/)
})

t.test('doctor checks net.ipv4.tcp_migrate_req, which zero-downtime route switches need', async t => {
  const real = await migrateReqCheck()()
  t.same(
    { ok: real.ok, detail: real.detail },
    {
      ok: true,
      detail:
        "net.ipv4.tcp_migrate_req=1: connections queued on Caddy's old socket move to the new one at a config change"
    },
    'this host (scripts/setup-host.sh sets it)'
  )
  const procSys = tempDir(t)
  const off = path.join(procSys, 'net/ipv4')
  mkdirSync(off, { recursive: true })
  const missing = await migrateReqCheck(procSys)()
  t.equal(missing.ok, false, 'an old kernel without the setting')
  t.match(missing.fix, /Linux >= 5\.14/)
  writeFileSync(path.join(off, 'tcp_migrate_req'), '0\n')
  const zero = await migrateReqCheck(procSys)()
  t.equal(zero.ok, false)
  t.match(zero.detail, /tcp_migrate_req=0: every Caddy config change/)
  t.equal(zero.fix, 'echo net.ipv4.tcp_migrate_req=1 > /etc/sysctl.d/60-conductor-caddy.conf && sysctl --system')
})
