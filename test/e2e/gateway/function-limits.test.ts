import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startCaddy } from '../../harness/caddy.js'
import { cli, cliProcess, repoRoot } from '../../harness/cli.js'
import { startGatewayProcess } from '../../harness/gateway.js'
import { freePort, waitFor } from '../../harness/ports.js'
import { standInCaddyUnit, startUserManager } from '../../harness/systemd.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// functions[].service_directives (issue 16 item 4), on a real systemd user manager: the gateway
// runs as conductor-gateway.service (installed by `conductor system install`, host.json scope
// "user"), and each function with directives gets a scope of its own in
// app-conductor-functions.slice, holding every process of the function. Read back from the kernel:
// /proc/PID/cgroup of the function's processes and the cgroup files of their scope (cgroup v1
// hybrid here: memory.limit_in_bytes, pids.max). Without a manager the gateway refuses such a
// function (503) and says why in its log.

const fixtures = path.join(repoRoot, 'test/fixtures/functions')
const MIB = 1024 * 1024

// Prints where it runs and under which limits.
const PROBE = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
m=$(grep ':memory:' /proc/self/cgroup | cut -d: -f3)
p=$(grep ':pids:' /proc/self/cgroup | cut -d: -f3)
echo "cgroup=$p"
echo "memory.limit_in_bytes=$(cat /sys/fs/cgroup/memory$m/memory.limit_in_bytes 2>/dev/null)"
echo "pids.max=$(cat /sys/fs/cgroup/pids$p/pids.max 2>/dev/null)"
echo "nofile=$(ulimit -Sn):$(ulimit -Hn)"
`
// The classic fork bomb; it prints nothing.
const BOMB = `#!/bin/sh
b() { b | b & }
b
wait
`
// .../hog holds ~100 MB in a shell variable before printing anything; otherwise it answers "ok".
const HOG = `#!/bin/sh
[ "$PATH_INFO" = /hog ] && x=$(head -c 100000000 /dev/zero | tr '\\0' a)
printf 'Content-Type: text/plain\\r\\n\\r\\nok %s\\n' "\${#x}"
`

/** The v1 hierarchy's directory of a cgroup path ("/a/b.scope") for one controller. */
const cgroupDir = (controller: string, rel: string): string => path.join('/sys/fs/cgroup', controller, rel)
const read = (file: string): string => {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return ''
  }
}
const cgroupOf = (pid: number, controller: string): string =>
  read(`/proc/${pid}/cgroup`)
    .split('\n')
    .find(l => l.split(':')[1] === controller)
    ?.split(':')[2] ?? ''

const MANAGED =
  'service_directives on a real user manager: a scope per function, with its limits, holding all its processes'
t.test(MANAGED, async t => {
  const sd = await startUserManager(t)
  const caddy = await startCaddy(t)
  const root = tempDir(t, 'cnd-fnlim-')
  const gwPort = await freePort()
  writeTree(root, {
    'etc/conductor/host.json': {
      scope: 'user',
      caddy_admin: caddy.adminUrl,
      gateway_listen: `127.0.0.1:${gwPort}`,
      gateway_metrics_listen: 'none'
    },
    'etc/conductor/services/lim/conductor-service.json': {
      functions: [
        {
          name: 'probe',
          exec: ['./probe.sh'],
          service_directives: ['MemoryMax=48M', 'TasksMax=16', 'LimitNOFILE=256:512']
        },
        { name: 'bomb', exec: ['./bomb.sh'], timeout_sec: 3, service_directives: ['TasksMax=24'] },
        { name: 'hog', exec: ['./hog.sh'], service_directives: ['MemoryMax=32M'] },
        {
          name: 'warm',
          format: 'http-stdio',
          mode: 'multi',
          min_warm: 2,
          exec: [path.join(fixtures, 'stdio.sh')],
          service_directives: ['TasksMax=10']
        },
        {
          name: 'daemon',
          mode: 'parallel',
          exec: [path.join(fixtures, 'daemon.mjs')],
          service_directives: ['MemoryMax=128M', 'TasksMax=40']
        },
        { name: 'free', exec: ['./probe.sh'] }
      ]
    },
    'etc/conductor/services/lim/probe.sh': PROBE,
    'etc/conductor/services/lim/bomb.sh': BOMB,
    'etc/conductor/services/lim/hog.sh': HOG
  })
  standInCaddyUnit(sd)
  const env = { ...sd.env, CONDUCTOR_ROOT: root, HOME: root }
  const install = await cliProcess(['system', 'install'], env)
  t.equal(install.code, 0, install.stderr)
  t.teardown(() => {
    sd.systemctl('stop', 'conductor-gateway.service')
  })
  t.equal(sd.systemctl('start', 'conductor-gateway.service').code, 0)
  const gw = `http://127.0.0.1:${gwPort}`
  await waitFor('gateway unit answering /healthz', async () => (await fetch(`${gw}/healthz`)).ok, 30_000, 100)
  // The unit's gateway sheds load (503 "overloaded") while its event loop lags, as it should on
  // this busy machine and right after the fork bomb: such an answer is asked again.
  const get = async (p: string): Promise<{ status: number; body: string }> => {
    for (let i = 0; ; i++) {
      const res = await fetch(`${gw}/.conductor/functions/${p}`)
      const body = await res.text()
      if (res.status !== 503 || !body.includes('"overloaded"') || i === 50) return { status: res.status, body }
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  const field = (body: string, name: string): string => new RegExp(`^${name}=(.*)$`, 'm').exec(body)?.[1] ?? ''
  const scopes = (): string[] =>
    sd
      .systemctl('list-units', '--plain', '--no-legend', 'conductor-function-*')
      .stdout.split('\n')
      .map(l => l.split(/\s+/)[0]!)
      .filter(u => u.endsWith('.scope'))
  const scopeOf = (id: string): string | undefined => scopes().find(u => u.startsWith(`conductor-function-${id}-`))
  const show = (unit: string, property: string): string =>
    new RegExp(`^${property}=(.*)$`, 'm').exec(sd.systemctl('show', '-p', property, unit).stdout)?.[1]?.trim() ?? ''
  const gatewayPid = Number(show('conductor-gateway.service', 'MainPID'))

  await t.test('each function with directives has its scope, with the directives as its properties', async t => {
    const ids = ['lim-probe', 'lim-bomb', 'lim-hog', 'lim-warm', 'lim-daemon']
    await waitFor(
      'the scopes, created when the gateway started',
      () => ids.every(id => scopeOf(id) !== undefined),
      30_000,
      100
    )
    const probe = scopeOf('lim-probe')!
    t.equal(show(probe, 'MemoryMax'), String(48 * MIB), 'MemoryMax= is a property of the scope')
    t.equal(show(probe, 'TasksMax'), '16', 'so is TasksMax=')
    t.match(
      show(probe, 'ControlGroup'),
      /\/app\.slice\/app-conductor\.slice\/app-conductor-functions\.slice\/conductor-function-lim-probe-/,
      'in the functions slice, where services are'
    )
    t.equal(scopeOf('lim-free'), undefined, 'a function without directives has none')
  })

  await t.test("a CGI runs in its function's scope, under its limits; one without directives does not", async t => {
    const r = await get('lim-probe/')
    t.equal(r.status, 200, r.body)
    t.match(field(r.body, 'cgroup'), /\/app-conductor-functions\.slice\/conductor-function-lim-probe-\d+-\d+\.scope$/)
    t.equal(field(r.body, 'memory.limit_in_bytes'), String(48 * MIB), "MemoryMax= is the memory cgroup's limit")
    t.equal(field(r.body, 'pids.max'), '16', "TasksMax= is the pids cgroup's limit")
    t.equal(field(r.body, 'nofile'), '256:512', 'LimitNOFILE= set before exec (soft:hard)')
    const free = await get('lim-free/')
    t.equal(free.status, 200)
    t.notMatch(field(free.body, 'cgroup'), /conductor-function/, 'no scope for a function without directives')
    t.notMatch(cgroupOf(gatewayPid, 'pids'), /conductor-function/, 'nor is the gateway in one')
  })

  await t.test('warm http-stdio workers and the parallel daemon are in their scopes too', async t => {
    const w = await get('lim-warm/x')
    t.equal(w.status, 200, w.body)
    const wpid = Number(/pid=(\d+)/.exec(w.body)?.[1])
    t.match(cgroupOf(wpid, 'pids'), /conductor-function-lim-warm-/, `worker ${wpid}`)
    t.equal(read(path.join(cgroupDir('pids', cgroupOf(wpid, 'pids')), 'pids.max')), '10')
    const d = await get('lim-daemon/y')
    t.equal(d.status, 200, d.body)
    const dpid = Number(/pid=(\d+)/.exec(d.body)?.[1])
    t.match(cgroupOf(dpid, 'memory'), /conductor-function-lim-daemon-/, `daemon ${dpid}`)
    t.equal(read(path.join(cgroupDir('memory', cgroupOf(dpid, 'memory')), 'memory.limit_in_bytes')), String(128 * MIB))
  })

  await t.test('a fork bomb in a CGI is stopped by TasksMax; the gateway and other functions keep serving', async t => {
    const pidsDir = cgroupDir('pids', show(scopeOf('lim-bomb')!, 'ControlGroup'))
    const failedForks = (): number => Number(/max (\d+)/.exec(read(path.join(pidsDir, 'pids.events')))?.[1] ?? 0)
    const before = failedForks()
    const bomb = get('lim-bomb/')
    await waitFor('the bomb hitting TasksMax', () => failedForks() > before, 10_000, 20)
    let peak = 0
    const sample = setInterval(() => {
      peak = Math.max(peak, Number(read(path.join(pidsDir, 'pids.current'))))
    }, 20)
    try {
      const t0 = Date.now()
      const health = await fetch(`${gw}/healthz`)
      t.ok(
        health.status === 200 || health.status === 503,
        `the gateway answers during the bomb: ${health.status} (${Date.now() - t0} ms; 503 when it sheds load)`
      )
      const other = await get('lim-free/')
      t.equal(other.status, 200, 'another function is served during the bomb')
      // 502 when the script's own shell is refused a fork (dash then exits), else 504 at its
      // timeout_sec; either way the gateway kills the whole process group.
      const r = await bomb
      t.ok(r.status === 502 || r.status === 504, `the bomb's request ended (${r.status})`)
    } finally {
      clearInterval(sample)
    }
    t.ok(peak > 0 && peak <= 24, `at most TasksMax=24 tasks in the scope (peak ${peak})`)
    t.ok(failedForks() > before, `forks refused by the pids cgroup: ${failedForks() - before}`)
    const tasks = (): string => read(path.join(pidsDir, 'pids.current'))
    await waitFor('the bomb gone: only the fork server left in the scope', () => tasks() === '1', 15_000, 50)
    t.pass('its process group was killed; nothing of it is left')
  })

  await t.test('past MemoryMax the kernel kills the CGI (502); the scope counts the OOM kill', async t => {
    const memDir = cgroupDir('memory', show(scopeOf('lim-hog')!, 'ControlGroup'))
    const kills = (): number => Number(/oom_kill (\d+)/.exec(read(path.join(memDir, 'memory.oom_control')))?.[1] ?? 0)
    const before = kills()
    const r = await get('lim-hog/hog')
    t.equal(r.status, 502, `the CGI died before its header block: ${r.body}`)
    t.ok(kills() > before, `OOM kills in the function's scope: ${kills() - before}`)
    const health = (await fetch(`${gw}/healthz`)).status
    t.ok(health === 200 || health === 503, 'the gateway answers (503 only while it sheds load)')
    // (A systemd that stops a scope on an OOM kill, OOMPolicy=stop, takes its fork server too:
    // the gateway then starts a new one in a new scope, within seconds.)
    await waitFor('the function serving again', async () => (await get('lim-hog/ok')).status === 200, 15_000, 200)
    t.equal((await get('lim-hog/ok')).body, 'ok 0\n', 'the function serves its next requests')
  })

  await t.test('stopping the gateway leaves no scope and no fork server behind', async t => {
    t.equal(sd.systemctl('stop', 'conductor-gateway.service').code, 0)
    await waitFor('no function scope left', () => scopes().length === 0, 15_000, 100)
    const spawners = readdirSync('/proc').filter(
      p => /^\d+$/.test(p) && read(`/proc/${p}/cmdline`).includes('lim-probe.spawner.sock')
    )
    t.same(spawners, [], 'no fork server of the function left')
  })
})

const UNMANAGED =
  'without a systemd manager: a function with cgroup directives gets 503 and the log says why; ' +
  'rlimits alone still apply'
t.test(UNMANAGED, async t => {
  const root = tempDir(t, 'cnd-fnlim-nosd-')
  const noManager = tempDir(t, 'cnd-fnlim-xdg-')
  writeTree(root, {
    'etc/conductor/host.json': { scope: 'user' },
    'etc/conductor/services/nosd/conductor-service.json': {
      functions: [
        { name: 'mem', exec: ['./probe.sh'], service_directives: ['MemoryMax=64M'] },
        { name: 'files', exec: ['./probe.sh'], service_directives: ['LimitNOFILE=128'] },
        { name: 'raise', exec: ['./probe.sh'], service_directives: ['LimitNOFILE=64:infinity'] },
        { name: 'plain', exec: ['./probe.sh'] }
      ]
    },
    'etc/conductor/services/nosd/probe.sh': PROBE
  })
  // XDG_RUNTIME_DIR without a manager's bus: `systemd-run --user` cannot reach one.
  const env = { CONDUCTOR_ROOT: root, XDG_RUNTIME_DIR: noManager, DBUS_SESSION_BUS_ADDRESS: '' }
  const gw = await startGatewayProcess(t, { env, logLevel: 'warn' })
  const get = async (id: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${gw.port}/.conductor/functions/${id}/`)
    return { status: res.status, body: await res.text() }
  }
  const mem = await get('nosd-mem')
  t.equal(mem.status, 503, 'refused, not run without its limits')
  t.match(JSON.parse(mem.body), {
    error: 'CND_CGI_LIMITS_UNAVAILABLE',
    message: /service_directives cannot be applied/
  })
  const logged = 'nosd-mem: its service_directives cannot be applied'
  await waitFor('the reason in the log', () => gw.output().includes(logged), 10_000)
  t.match(
    gw.output(),
    new RegExp(
      'function nosd-mem: its service_directives cannot be applied, so its requests get 503 ' +
        "\\(run the gateway under systemd[^)]*\\): systemd-run --user --scope, creating the function's scope " +
        '\\(MemoryMax=64M\\), exited at start: [^"]*(bus|systemd)',
      'i'
    )
  )
  const files = await get('nosd-files')
  t.equal(files.status, 200, files.body)
  t.match(files.body, /^nofile=128:128$/m, 'process limits need no systemd: set by the fork server')
  const raise = await get('nosd-raise')
  t.equal(raise.status, 503, "a hard limit above the gateway's cannot be set: refused")
  await waitFor('that reason in the log', () => gw.output().includes('cannot set LimitNOFILE=64:infinity'), 10_000)
  t.match(gw.output(), /cannot set LimitNOFILE=64:infinity: the hard limit here is \d+, and raising a hard limit needs/)
  t.equal((await get('nosd-plain')).status, 200, 'a function without directives is served as usual')
})

t.test('directives that cannot apply to a function are refused at load, with the file and JSON path', async t => {
  const root = tempDir(t, 'cnd-fnlim-bad-')
  writeTree(root, {
    'etc/conductor/services/bad/conductor-service.json': {
      functions: [
        {
          name: 'f',
          exec: ['/bin/true'],
          service_directives: [
            'MemoryMax=64M',
            'ExecStart=/bin/evil',
            'Restart=always',
            'memorymax=1G',
            'TasksMax=lots',
            'LimitNOFILE=10:5',
            'nonsense'
          ]
        }
      ]
    }
  })
  const r = await cli(['--root', root, 'service', 'show', 'bad'])
  t.not(r.code, 0)
  const file = 'services/bad/conductor-service.json'
  const lines: Array<[number, RegExp]> = [
    [
      1,
      new RegExp(
        '"ExecStart=" cannot apply to a function: it configures a service\'s own process.*' +
          'allowed: resource control \\(.*MemoryMax=.*\\) and process limits \\(.*LimitNOFILE='
      )
    ],
    [2, /"Restart=" cannot apply to a function/],
    [3, /"memorymax=": unknown directive; did you mean "MemoryMax="\?/],
    [4, /TasksMax=lots: expected a number of tasks/],
    [5, /LimitNOFILE=10:5: the soft limit is above the hard limit/],
    [6, /"nonsense": expected "Key=Value"/]
  ]
  for (const [i, message] of lines) {
    const where = `${file.replace(/\./g, '\\.')}: /functions/0/service_directives/${i}: `
    t.match(r.stderr, new RegExp(where + message.source), `entry ${i}`)
  }
  t.notMatch(r.stderr, /service_directives\/0:/, 'MemoryMax=64M is fine')
})
