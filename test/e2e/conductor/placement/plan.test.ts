import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { binPath, cli, cliProcess } from '../../../harness/cli.js'
import { chunksHolding, recordLoadsPreload } from '../../../harness/bundle.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// `conductor fleet plan` through the compiled binary (issue 19): a real services directory,
// the same loader as `service check`, a hosts file, text and --json, exit codes and every bad
// input with the file and the JSON path.

const service = (resources?: object, fleet?: object, extra: object = {}): object => ({
  ...(resources !== undefined ? { resources } : {}),
  ...(fleet !== undefined ? { fleet } : {}),
  ...extra
})

interface FleetTree {
  root: string
  hosts: string
  services: string
}

function fleetTree(t: Parameters<typeof tempDir>[0], services: Record<string, object>, hosts: unknown): FleetTree {
  const root = tempDir(t)
  writeTree(root, {
    ...Object.fromEntries(Object.entries(services).map(([name, s]) => [`services/${name}/conductor-service.json`, s])),
    'hosts.json': typeof hosts === 'string' ? hosts : JSON.stringify(hosts)
  })
  return { root, hosts: path.join(root, 'hosts.json'), services: path.join(root, 'services') }
}

const HOSTS = [
  { id: 'b', resources: { vcpu: 8, ram_gb: 64 }, services: ['cache'] },
  { id: 'a', resources: { vcpu: 4, ram_gb: 16 } },
  { id: 'c', resources: { vcpu: 2, ram_gb: 8, gpu: 1 } }
]
const SERVICES = {
  cache: service({ best: { vcpu: 1, ram_gb: 8 } }),
  db: service({ best: { vcpu: 4, ram_gb: 32 }, min: { vcpu: 2, ram_gb: 16 } }),
  api: service({ best: { vcpu: 2, ram_gb: 4 }, min: { vcpu: 1, ram_gb: 2 } }),
  web: service({ min: { vcpu: 0.5 } }, { instances: 3 }),
  ml: service({ best: { gpu: 1, vcpu: 1 } }),
  off: service({ best: { vcpu: 1 } }, undefined, { disable: true })
}
// Largest dominant share first (README "Fleet placement"): ml (gpu 1 of 1), db (ram 32 of 88), api, then web x3.
const EXPECTED = { ml: ['c'], db: ['b'], api: ['a'], web: ['a', 'b', 'c'] }

t.test('plans every service on no host, text and --json; exit 0 when all are placed', async t => {
  const f = fleetTree(t, SERVICES, HOSTS)
  const json = await cliProcess(['fleet', 'plan', '--hosts', f.hosts, '--services', f.services, '--json'])
  t.equal(json.code, 0, json.stderr)
  t.same(JSON.parse(json.stdout), { placements: EXPECTED, unplaceable: {} })
  t.same(Object.keys(JSON.parse(json.stdout).placements), ['ml', 'db', 'api', 'web'], 'in placement order')
  t.equal(json.stderr, '')

  const text = await cliProcess(['fleet', 'plan', '--hosts', f.hosts, '--services', f.services])
  t.equal(text.code, 0)
  t.equal(
    text.stdout,
    [
      'SERVICE  HOST  FIT       LOAD',
      'ml       c     best fit  1',
      'db       b     best fit  0.625',
      'api      a     best fit  0.5',
      'web      a     best fit  0.625',
      'web      b     best fit  0.688',
      'web      c     best fit  1',
      ''
    ].join('\n')
  )
  t.equal(
    text.stderr,
    '6 service(s): 6 copy(ies) of 4 placed, 0 copy(ies) unplaceable, 1 already placed, 1 disabled (not placed)\n'
  )

  // The services directory can come from the global flag too, and an already placed fleet has nothing to do.
  const placedOn = (id: string): string[] =>
    Object.entries(EXPECTED)
      .filter(([, hs]) => hs.includes(id))
      .map(([s]) => s)
  const placed = HOSTS.map(h => ({ ...h, services: [...(h.services ?? []), ...placedOn(h.id)] }))
  const g = fleetTree(t, SERVICES, placed)
  const nothing = await cliProcess(['--services-dir', g.services, 'fleet', 'plan', '--hosts', g.hosts, '--json'])
  t.equal(nothing.code, 0)
  t.same(JSON.parse(nothing.stdout), { placements: {}, unplaceable: {} })
})

t.test('an unplaceable service is told with the unit that excluded each machine; exit 1', async t => {
  const f = fleetTree(
    t,
    {
      ...SERVICES,
      huge: service({ best: { vcpu: 64 }, min: { vcpu: 16 } }),
      gpus: service({ min: { gpu: 2 } }, { instances: 1 })
    },
    HOSTS
  )
  const json = await cliProcess(['fleet', 'plan', '--hosts', f.hosts, '--services', f.services, '--json'])
  t.equal(json.code, 1)
  const out = JSON.parse(json.stdout) as { placements: Record<string, string[]>; unplaceable: Record<string, string> }
  t.same(out.unplaceable, {
    huge:
      'no machine can hold its minimum: a: vcpu min 16 > capacity 4; ' +
      'b: vcpu min 17 (16 + 1 of the services there) > capacity 8; c: vcpu min 16 > capacity 2',
    gpus:
      'no machine can hold its minimum: a: gpu min 2 > capacity 0 (not declared); ' +
      'b: gpu min 2 > capacity 0 (not declared); c: gpu min 2 > capacity 1'
  })
  t.same(out.placements, EXPECTED, 'the others are placed as before')
  const text = await cliProcess(['fleet', 'plan', '--hosts', f.hosts, '--services', f.services])
  t.equal(text.code, 1)
  t.match(text.stdout, /\nunplaceable:\n {2}huge: no machine can hold its minimum: a: vcpu min 16 > capacity 4; /)
  t.match(text.stderr, /2 copy\(ies\) unplaceable/)
})

t.test('invalid services are reported as service ls does, the others planned, exit 3', async t => {
  const f = fleetTree(
    t,
    {
      ...SERVICES,
      bad: service({ best: { vcpu: 1 }, min: { vcpu: 2 } }),
      neg: service({ best: { vcpu: -1 } })
    },
    HOSTS
  )
  const r = await cliProcess(['fleet', 'plan', '--hosts', f.hosts, '--services', f.services, '--json'])
  t.equal(r.code, 3)
  t.same(JSON.parse(r.stdout).placements, EXPECTED)
  t.match(r.stderr, /services\/bad\/conductor-service\.json: \/resources\/min\/vcpu: 2 is above best \(1\)/)
  t.match(r.stderr, /services\/neg\/conductor-service\.json: \/resources\/best\/vcpu: must not be negative/)
})

t.test('bad hosts files: the file, the JSON path and the fix; nothing planned', async t => {
  const cases: Array<[unknown, number, RegExp]> = [
    [[{ id: 'a', resources: { vcpu: -4 } }], 3, /hosts\.json: \/0\/resources\/vcpu: must not be negative/],
    [
      [{ id: 'a', resources: { vcpu: 'four' } }],
      3,
      /hosts\.json: \/0\/resources\/vcpu: must be a number of abstract units, got "four"/
    ],
    [[{ id: 'a' }, { id: 'a' }], 3, /hosts\.json: \/1\/id: "a" is already the id of machine \/0: peer ids are unique/],
    [[{ id: 'a', resource: {} }], 3, /hosts\.json: \/0\/resource: unknown field; did you mean "resources"\?/],
    [[{ id: 'a', services: ['api', 'api'] }], 3, /hosts\.json: \/0\/services\/1: "api" is listed twice/],
    [[{ id: '../x' }], 3, /hosts\.json: \/0\/id: must be a peer id/],
    [{ a: {} }, 3, /hosts\.json: \/: /],
    ['[{"id": "a",]', 3, /hosts\.json: line 1 column \d+: JSON syntax error/],
    [
      [
        { id: 'a', services: ['ghost', 'api'] },
        { id: 'b', services: ['phantom'] }
      ],
      4,
      new RegExp(
        'hosts\\.json: /0/services/0: service "ghost" is not in \\S+/services: its resources are unknown; ' +
          'add its directory there \\(or point --services at the right one\\) or remove it from machine "a"\\n' +
          '.*hosts\\.json: /1/services/0: service "phantom"'
      )
    ]
  ]
  // In-process but for the first case (one CLI process costs 1-2 s on a loaded 2-core machine).
  for (const [i, [hosts, code, message]] of cases.entries()) {
    const f = fleetTree(t, SERVICES, hosts)
    const args = ['fleet', 'plan', '--hosts', f.hosts, '--services', f.services, '--json']
    const r = i === 0 ? await cliProcess(args) : await cli(args)
    t.equal(r.code, code, `exit ${code}: ${message.source}`)
    t.match(r.stderr, message)
    t.equal(r.stdout, '', 'no plan printed')
  }
  const broken = fleetTree(t, { ...SERVICES, bad: { resources: {} } }, [{ id: 'a', services: ['bad'] }])
  const r = await cliProcess(['fleet', 'plan', '--hosts', broken.hosts, '--services', broken.services])
  t.equal(r.code, 3)
  t.match(r.stderr, /bad\/conductor-service\.json: \/resources: declares neither best nor min/)
  t.match(
    r.stderr,
    new RegExp(
      'hosts\\.json: /0/services/0: service "bad" is invalid \\(reported above\\): ' +
        'its resources are unknown; fix \\S+ or remove it from machine "a"'
    )
  )
  t.equal(r.stdout, '')
})

t.test('usage errors: no --hosts, an unreadable hosts file, --services not a directory (exit 2)', async t => {
  const f = fleetTree(t, SERVICES, HOSTS)
  const none = await cliProcess(['fleet', 'plan', '--services', f.services])
  t.equal(none.code, 2)
  t.match(none.stderr, /required option '--hosts <file>' not specified/)
  const nope = path.join(f.root, 'nope.json')
  const missing = await cliProcess(['fleet', 'plan', '--hosts', nope, '--services', f.services])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--hosts \S+nope\.json: cannot read \(ENOENT\)/)
  const notDir = await cliProcess(['fleet', 'plan', '--hosts', f.hosts, '--services', path.join(f.root, 'nowhere')])
  t.equal(notDir.code, 2)
  t.match(notDir.stderr, /--services \S+nowhere: not a directory/)
})

t.test('fleet plan --help answers without loading zod (CLI start-up)', async t => {
  const dir = tempDir(t)
  // zod is a chunk of the bundle (dist/conductor/), or node_modules/zod/ when run from the sources.
  const zodChunks = (await chunksHolding('zod')).map(c => `/dist/conductor/${c}`)
  const preload = recordLoadsPreload(dir)
  const run = async (args: string[]): Promise<{ stdout: string; stderr: string }> => {
    const loaded = path.join(dir, `loaded-${args.length}`)
    const r = await new Promise<{ stdout: string; stderr: string }>(resolve => {
      const argv = ['--require', preload, binPath, ...args]
      const env = { ...process.env, LOADED: loaded }
      execFile(process.execPath, argv, { env }, (_err, stdout, stderr) => resolve({ stdout, stderr }))
    })
    const files = existsSync(loaded) ? readFileSync(loaded, 'utf8').split('\n') : []
    const zod = files.some(f => f.includes('/node_modules/zod/') || zodChunks.some(z => f.endsWith(z)))
    return { stdout: r.stdout, stderr: r.stderr + (zod ? 'zod loaded\n' : '') }
  }
  const help = await run(['fleet', 'plan', '--help'])
  t.match(help.stdout, /Usage: conductor fleet plan/)
  t.notMatch(help.stderr, /zod loaded/)
  const f = fleetTree(t, SERVICES, HOSTS)
  const plan = await run(['fleet', 'plan', '--hosts', f.hosts, '--services', f.services])
  t.match(plan.stderr, /zod loaded/, 'the hook sees zod when the plan needs it')
})
