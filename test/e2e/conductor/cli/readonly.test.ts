import t from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { buildProgram } from '../../../../conductor/cli/program.js'
import type { Command } from 'commander'
import { cli, cliProcess, repoRoot } from '../../../harness/cli.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The read-only CLI of issue 3, through the compiled binary where the process matters
// (exit codes, stdout/stderr split) and in-process elsewhere (speed).

const examples = path.join(repoRoot, 'examples/services')

function brokenTree(t: Parameters<typeof tempDir>[0]): string {
  const root = tempDir(t)
  writeTree(root, {
    'etc/conductor/services/good/conductor-service.json': {
      app_name: 'good',
      config: { TAG: 'v1' },
      display_service_config: ['TAG'],
      proxy_config_template: './proxy.sh'
    },
    'etc/conductor/services/good/proxy.sh':
      '#!/bin/sh\necho "[{\\"id\\": \\"x\\", \\"config\\": {\\"@id\\": \\"$CONDUCTOR_SERVICE_NAME\\"}}]"\n',
    'etc/conductor/services/slow/conductor-service.json': {
      proxy_config_template: './proxy.sh',
      template_timeout_sec: 60
    },
    'etc/conductor/services/slow/proxy.sh': '#!/bin/sh\nsleep 30\n',
    'etc/conductor/services/typo/conductor-service.json': {
      app_nmae: 'x',
      pods: [{ pod_template: './p', service_directive: [] }]
    },
    'etc/conductor/services/syntax/conductor-service.json': '{"app_name": "x",\n\n  oops}'
  })
  return root
}

t.test('every command has --help', async t => {
  const walk = (cmd: Command, prefix: string[]): string[][] =>
    cmd.commands
      .filter(c => c.name() !== 'help')
      .flatMap(c => [[...prefix, c.name()], ...walk(c, [...prefix, c.name()])])
  const commands = walk(await buildProgram(), [])
  t.ok(commands.length >= 10, `found ${commands.length} commands`)
  for (const words of [[], ...commands]) {
    const r = await cli([...words, '--help'])
    t.equal(r.code, 0, `${words.join(' ')} --help exits 0`)
    t.match(r.stdout, /^Usage: conductor/, `${words.join(' ')} --help prints usage`)
  }
})

t.test('service ls lists the valid services, marks the broken ones, explains them on stderr, exits 3', async t => {
  const root = brokenTree(t)
  const r = await cliProcess(['service', 'ls'], { CONDUCTOR_ROOT: root })
  t.equal(r.code, 3)
  t.match(r.stdout, /^NAME\s+APP\s+INSTANCE\s+STATE\s+RUNNING\s+TAG\n/)
  t.match(r.stdout, /\ngood\s+good\s+enabled\s+\S+\s+v1\n/)
  t.match(r.stdout, /\nsyntax\s+INVALID\s+\S+\n/)
  t.match(r.stdout, /\ntypo\s+INVALID\s+\S+\n/)
  t.match(r.stderr, /syntax\/conductor-service\.json: line 3 column 3: JSON syntax error/)
  t.match(r.stderr, /typo\/conductor-service\.json: \/app_nmae: unknown field; did you mean "app_name"\?/)
  t.notMatch(r.stdout, /error/, 'diagnostics stay off stdout')
})

t.test('service ls --json on the examples', async t => {
  const r = await cli(['--services-dir', examples, 'service', 'ls', '--json'])
  t.equal(r.code, 0)
  const list = JSON.parse(r.stdout) as Array<{
    name: string
    valid: boolean
    disabled: boolean
    config: Record<string, string>
  }>
  t.same(
    list.map(s => [s.name, s.valid, s.disabled]),
    [
      ['functions', true, false],
      ['hello', true, false],
      ['hello-staging', true, true]
    ]
  )
  t.same(list[1]!.config, { GREETING: 'hello, production', TAG: 'latest' })
})

t.test('service env prints exactly the service variables; --json too', async t => {
  const r = await cli(['--services-dir', examples, 'service', 'env', 'hello', '--json'], {
    PATH: '/usr/bin:/bin',
    HOME: '/root',
    SECRET_TOKEN: 'nope'
  })
  t.equal(r.code, 0)
  t.same(JSON.parse(r.stdout), {
    PATH: '/usr/bin:/bin',
    IMAGE: 'localhost/busybox',
    TAG: 'latest',
    GREETING: 'hello, production',
    CONDUCTOR_APP: 'hello',
    CONDUCTOR_INSTANCE: 'production',
    CONDUCTOR_SERVICE_NAME: 'hello',
    CONDUCTOR_SERVICE_DIR: path.join(examples, 'hello'),
    CONDUCTOR_SERVICE_UNIT: 'conductor-service@hello.service',
    CONDUCTOR_SERVICE_CONFIG_UNIT: 'conductor-service-config@hello.service'
  })
  const text = await cli(['--services-dir', examples, 'service', 'env', 'hello'], { PATH: '/bin' })
  t.match(text.stdout, /^CONDUCTOR_APP=hello\n/)
  t.match(text.stdout, /\nGREETING='hello, production'\n/)
})

t.test('service show --json: resolved, absolute paths, seed field names', async t => {
  const r = await cli(['--services-dir', examples, 'service', 'show', 'hello-staging', '--json'])
  t.equal(r.code, 0)
  const svc = JSON.parse(r.stdout)
  t.equal(svc.instance_name, 'staging')
  t.equal(svc.disable, true)
  t.equal(svc.pods[0].pod_template, path.join(repoRoot, 'examples/base/pod.template'))
  t.equal(svc.proxy_config_template, path.join(examples, 'hello/proxy-config.template'))
  t.same(svc.commands.greet.exec, [path.join(repoRoot, 'examples/base/greet.cmd')])
  t.notOk('inherit' in svc)
  t.same(
    svc.files.map((f: string) => path.relative(repoRoot, f)),
    [
      'examples/base/conductor-service.json',
      'examples/services/hello/conductor-service.json',
      'examples/services/hello-staging/conductor-service.json'
    ]
  )
})

t.test('service check prints every problem and exits 3; a valid selection exits 0; an unknown name 4', async t => {
  const root = brokenTree(t)
  const all = await cliProcess(['service', 'check'], { CONDUCTOR_ROOT: root })
  t.equal(all.code, 3)
  t.match(all.stdout, /typo\/conductor-service\.json: \/app_nmae: unknown field; did you mean "app_name"\?\n/)
  t.match(
    all.stdout,
    /typo\/conductor-service\.json: \/pods\/0\/service_directive: unknown field; did you mean "service_directives"\?\n/
  )
  t.match(all.stdout, /syntax\/conductor-service\.json: line 3/)
  t.match(all.stderr, /4 service\(s\) checked, 2 invalid, 3 problem\(s\)/)
  const json = await cli(['--root', root, 'service', 'check', '--json'])
  t.equal(JSON.parse(json.stdout).problems.length, 3)
  t.equal((await cli(['--root', root, 'service', 'check', 'good'])).code, 0)
  const ghost = await cli(['--root', root, 'service', 'check', 'ghost'])
  t.equal(ghost.code, 4)
  t.match(ghost.stderr, /no service "ghost"/)
})

t.test('schema prints the JSON Schema, identical to the checked-in schema/conductor-service.schema.json', async t => {
  const r = await cli(['schema'])
  t.equal(r.code, 0)
  const schema = JSON.parse(r.stdout)
  t.equal(schema.type, 'object')
  t.equal(schema.additionalProperties, false)
  t.ok(schema.properties.pods.items.properties.pod_template.description, 'fields carry their description')
  t.same(
    schema,
    JSON.parse(readFileSync(path.join(repoRoot, 'schema/conductor-service.schema.json'), 'utf8')),
    'regenerate with: node dist/conductor/bin.js schema > schema/conductor-service.schema.json'
  )
  t.equal((await cli(['schema', 'nope'])).code, 2)
  const host = await cli(['schema', 'host'])
  t.equal(host.code, 0)
  t.match(
    JSON.parse(host.stdout).properties.fleet.properties.dead_after_sec,
    { type: 'number', minimum: 2, description: /dead: its services are placed elsewhere \(default 5/ },
    'schema host: host.json, fleet.dead_after_sec included'
  )
})

t.test('_ service template and _ deployment template run the real templates', async t => {
  const proxy = await cli(['--services-dir', examples, '_', 'service', 'template', 'hello', 'proxy'])
  t.equal(proxy.code, 0)
  t.same(JSON.parse(proxy.stdout), [], 'the service context has no POD_IP_ADDRESS: no route')
  const depl = await cli([
    '--services-dir',
    examples,
    '_',
    'deployment',
    'template',
    'hello',
    'proxy',
    '--port',
    'http=41234',
    '--id',
    'hello-abc'
  ])
  t.equal(depl.code, 0, depl.stderr)
  const snippets = JSON.parse(depl.stdout)
  t.equal(snippets[0].config['@id'], 'hello-abc')
  t.same(snippets[0].config.handle[1].upstreams, [{ dial: '127.0.0.1:41234' }], "the deployment's loopback port")
  const pod = await cli([
    '--services-dir',
    examples,
    '_',
    'deployment',
    'template',
    'hello',
    'pod',
    '--id',
    'hello-abc',
    '--set',
    'TAG=v2'
  ])
  t.match(pod.stdout, /name: hello-abc\n/)
  t.match(pod.stdout, /image: localhost\/busybox:v2\n/)
  const byPath = await cli([
    '--services-dir',
    examples,
    '_',
    'service',
    'template',
    'hello',
    path.join(repoRoot, 'examples/base/greet.cmd')
  ])
  t.match(byPath.stdout, /hello, production/)
})

t.test('--template-timeout kills a slow template: exit 5 with a clear message', async t => {
  const root = brokenTree(t)
  const started = Date.now()
  const r = await cliProcess(['--template-timeout', '0.5', '_', 'service', 'template', 'slow', 'proxy'], {
    CONDUCTOR_ROOT: root
  })
  t.equal(r.code, 5)
  t.match(r.stderr, /slow\/proxy\.sh: template did not finish within 0\.5s/)
  t.ok(Date.now() - started < 10_000)
})

t.test('deployment env simulates a deployment; bad usage exits 2', async t => {
  const r = await cli([
    '--services-dir',
    examples,
    'deployment',
    'env',
    'hello',
    '--pod-ip',
    '10.1.2.3',
    '--id',
    'hello-x',
    '--set',
    'TAG=v9',
    '--json'
  ])
  t.equal(r.code, 0)
  const vars = JSON.parse(r.stdout)
  t.equal(vars.POD_IP_ADDRESS, '10.1.2.3')
  t.equal(vars.CONDUCTOR_DEPLOYMENT, 'hello-x')
  t.equal(vars.TAG, 'v9')
  t.match(
    (await cli(['--services-dir', examples, 'deployment', 'env', 'hello'])).stdout,
    /\nCONDUCTOR_DEPLOYMENT=hello-[0-9a-z]{10}\n/
  )
  const bad = await cli(['--services-dir', examples, 'deployment', 'env', 'hello', '--set', 'CONDUCTOR_APP=x'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /--set "CONDUCTOR_APP=x"/)
  t.equal((await cli(['--services-dir', examples, 'deployment', 'env', 'hello', '--part', 'nope'])).code, 4)
  t.equal((await cli(['service', 'ls', '--bogus'])).code, 2)
  t.equal((await cli(['--template-timeout', 'soon', 'service', 'ls'])).code, 2)
})

t.test('--version prints the package version', async t => {
  const r = await cliProcess(['--version'])
  t.equal(r.code, 0)
  t.equal(r.stdout.trim(), JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version)
})

t.test(
  '_ service|deployment template NAME ./x runs ./x of the service directory, wherever the operator stands',
  async t => {
    const root = tempDir(t)
    writeTree(root, {
      'etc/conductor/services/tpl/conductor-service.json': { pods: [{ pod_template: './pod.sh' }] },
      'etc/conductor/services/tpl/pod.sh': '#!/bin/sh\necho "pod of $CONDUCTOR_SERVICE_NAME"\n',
      'etc/conductor/services/tpl/try/me.sh':
        '#!/bin/sh\necho "tried in $(pwd) as $CONDUCTOR_SERVICE_NAME ${CONDUCTOR_DEPLOYMENT:-}"\n'
    })
    const elsewhere = tempDir(t)
    for (const rel of ['./try/me.sh', 'try/me.sh']) {
      const svc = await cliProcess(['_', 'service', 'template', 'tpl', rel], { CONDUCTOR_ROOT: root }, elsewhere)
      t.equal(svc.code, 0, `${rel}: ${svc.stderr}`)
      t.match(svc.stdout, /^tried in \S+\/services\/tpl as tpl $/m, `service context: ${rel} is the service's file`)
    }
    const depl = await cliProcess(
      ['_', 'deployment', 'template', 'tpl', './try/me.sh', '--id', 'tpl-x'],
      { CONDUCTOR_ROOT: root },
      elsewhere
    )
    t.equal(depl.code, 0, depl.stderr)
    t.match(depl.stdout, /^tried in \S+ as tpl tpl-x$/m, 'deployment context: the same file')
    const missing = await cliProcess(
      ['_', 'service', 'template', 'tpl', './nope.sh'],
      { CONDUCTOR_ROOT: root },
      elsewhere
    )
    t.not(missing.code, 0)
    t.match(missing.stderr, /services\/tpl\/nope\.sh/, 'a missing file is named with its service directory')
  }
)

t.test('service ls and deployment ls without a reachable systemd: "?", one warning line, exit 0', async t => {
  const root = tempDir(t)
  const noManager = tempDir(t)
  writeTree(root, {
    'etc/conductor/host.json': { scope: 'user' },
    'etc/conductor/services/hello/conductor-service.json': {
      config: { TAG: 'v1' },
      display_service_deployment_config: ['TAG'],
      pods: [{ pod_template: './pod.sh' }]
    },
    'var/lib/conductor/deployments/hello-abc/state.json': {
      version: 1,
      id: 'hello-abc',
      service: 'hello',
      part: '',
      hash: 'h',
      desired: 'running',
      config: {},
      ports: { http: 41000 },
      pod_ip: '',
      created_at: '2026-01-01T00:00:00.000Z'
    }
  })
  // XDG_RUNTIME_DIR without a manager's bus: `systemctl --user` cannot reach one.
  const env = { CONDUCTOR_ROOT: root, XDG_RUNTIME_DIR: noManager, DBUS_SESSION_BUS_ADDRESS: '' }
  const warning = /^conductor: warning: running state unknown \("\?"\): cannot ask systemd: .*bus.*\n$/i
  const svc = await cliProcess(['service', 'ls'], env)
  t.equal(svc.code, 0, svc.stderr)
  t.match(svc.stdout, /\nhello\s+hello\s+enabled\s+\?\n/, 'service ls: RUNNING "?"')
  t.match(svc.stderr, warning, 'service ls: one warning line saying why')
  const depl = await cliProcess(['deployment', 'ls'], env)
  t.equal(depl.code, 0, `deployment ls exits 0 (was 6): ${depl.stderr}`)
  t.match(depl.stdout, /^ID\s+SERVICE\s+PART\s+DESIRED\s+UNIT\s+PORTS\s+TAG\n/)
  t.match(
    depl.stdout,
    /\nhello-abc\s+hello\s+-\s+running\s+\?\s+http=41000\s+v1\n/,
    'deployment ls: UNIT "?", the rest from disk'
  )
  t.match(depl.stderr, warning, 'deployment ls: the same one warning line')
  const json = await cliProcess(['deployment', 'ls', '--json'], env)
  t.equal(json.code, 0)
  t.match(
    JSON.parse(json.stdout),
    [{ id: 'hello-abc', unit_state: null, columns: { TAG: 'v1' } }],
    'JSON: unit_state null'
  )
})
