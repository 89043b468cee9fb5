import t from 'tap'
import path from 'node:path'
import { loadAllServices, loadService } from '../../../../conductor/model/service.js'
import type { ServiceInvalid } from '../../../../errors/conductor.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The loader reads real files from a temporary tree: inheritance across directories, path
// fixing, cycles and every error case of issue 3.

const _sh = '#!/bin/sh\necho ok\n'

t.test('paths are resolved relative to the file that declared them, across several levels', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'shared/org/conductor-service.json': {
      config: { LEVEL: 'org', ORG: 'yes' },
      proxy_config_template: './proxy.sh',
      hooks: [{ id: 'h', when: 'post-start', exec: ['./hook.sh', '--flag'] }]
    },
    'shared/app/conductor-service.json': {
      inherit: ['../org/conductor-service.json'],
      config: { LEVEL: 'app' },
      pods: [{ name: '', pod_template: 'templates/pod.sh' }],
      commands: {
        migrate: { service: true, exec: ['bin/migrate', 'x'] },
        shell: { service: true, exec: ['bash', '-c', 'true'] }
      }
    },
    'services/web/conductor-service.json': {
      inherit: ['../../shared/app/conductor-service.json'],
      config: { LEVEL: 'web' },
      functions: [{ name: 'f', exec: ['./f.cgi'] }]
    }
  })
  const svc = await loadService(path.join(root, 'services'), 'web')
  t.equal(svc.proxy_config_template, path.join(root, 'shared/org/proxy.sh'))
  t.same(svc.hooks[0]!.exec, [path.join(root, 'shared/org/hook.sh'), '--flag'])
  t.equal(svc.pods[0]!.pod_template, path.join(root, 'shared/app/templates/pod.sh'))
  t.same(svc.commands.migrate!.exec, [path.join(root, 'shared/app/bin/migrate'), 'x'])
  t.same(svc.commands.shell!.exec, ['bash', '-c', 'true'], 'a bare program name is left for PATH lookup')
  t.same(svc.functions[0]!.exec, [path.join(root, 'services/web/f.cgi')])
  t.same(svc.config, { LEVEL: 'web', ORG: 'yes' })
  t.same(svc.files, [
    path.join(root, 'shared/org/conductor-service.json'),
    path.join(root, 'shared/app/conductor-service.json'),
    path.join(root, 'services/web/conductor-service.json')
  ])
  t.equal(svc.dir, path.join(root, 'services/web'))
})

t.test('inherit entries apply in order: a later base overrides an earlier one, the child overrides both', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'a.json': { app_name: 'from-a', config: { X: 'a', A: '1' } },
    'b.json': { app_name: 'from-b', config: { X: 'b', B: '1' } },
    'services/s/conductor-service.json': { inherit: ['../../a.json', '../../b.json'], config: { Y: 'child' } }
  })
  const svc = await loadService(path.join(root, 'services'), 's')
  t.equal(svc.app_name, 'from-b')
  t.same(svc.config, { X: 'b', A: '1', B: '1', Y: 'child' })
})

t.test('defaults: app_name is the service name, numbers and booleans in config become strings', async t => {
  const root = tempDir(t)
  writeTree(root, { 'services/plain/conductor-service.json': { config: { N: 3, B: true } } })
  const svc = await loadService(path.join(root, 'services'), 'plain')
  t.equal(svc.app_name, 'plain')
  t.equal(svc.instance_name, '')
  t.equal(svc.disable, false)
  t.same(svc.config, { N: '3', B: 'true' })
  t.same(svc.pods, [])
})

t.test('JSON with comments and trailing commas is accepted', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'services/c/conductor-service.json':
      '// a comment\n{\n  /* block */ "app_name": "c",\n  "config": { "A": "1", },\n}\n'
  })
  t.equal((await loadService(path.join(root, 'services'), 'c')).app_name, 'c')
})

interface ErrorCase {
  name: string
  files: Record<string, string | object>
  code: string
  match: RegExp
  jsonPath?: string
}
const errorCases: ErrorCase[] = [
  {
    name: 'invalid JSON names the line and column',
    files: { 'services/x/conductor-service.json': '{\n  "app_name": "x"\n  "config": {}\n}' },
    code: 'CND_SERVICE_SYNTAX',
    match: /conductor-service\.json: line 3 column 3: JSON syntax error: CommaExpected/
  },
  {
    name: 'unknown field suggests the right one',
    files: { 'services/x/conductor-service.json': { pods: [{ pod_tmplate: './p' }] } },
    code: 'CND_SERVICE_INVALID',
    match: /\/pods\/0\/pod_tmplate: unknown field; did you mean "pod_template"\?/,
    jsonPath: '/pods/0/pod_tmplate'
  },
  {
    name: 'wrong type names the path',
    files: { 'services/x/conductor-service.json': { config: { A: ['list'] } } },
    code: 'CND_SERVICE_INVALID',
    match: /\/config\/A: /,
    jsonPath: '/config/A'
  },
  {
    name: 'reserved config name',
    files: { 'services/x/conductor-service.json': { config: { CONDUCTOR_APP: 'x' } } },
    code: 'CND_SERVICE_INVALID',
    match: /\/config\/CONDUCTOR_APP: key is reserved/
  },
  {
    name: 'bad hook moment lists the valid ones',
    files: { 'services/x/conductor-service.json': { hooks: [{ id: 'a', when: 'sometimes', exec: ['x'] }] } },
    code: 'CND_SERVICE_INVALID',
    match: /\/hooks\/0\/when: .*pre-start/
  },
  {
    name: 'missing inherited file',
    files: { 'services/x/conductor-service.json': { inherit: ['../base.json'] } },
    code: 'CND_SERVICE_INHERIT_MISSING',
    match: /\/inherit\/0: inherited file .*base\.json does not exist/,
    jsonPath: '/inherit/0'
  },
  {
    name: 'cycle is named',
    files: {
      'a.json': { inherit: ['./b.json'] },
      'b.json': { inherit: ['./a.json'] },
      'services/x/conductor-service.json': { inherit: ['../../a.json'] }
    },
    code: 'CND_SERVICE_INHERIT_CYCLE',
    match: /inheritance cycle: .*a\.json -> .*b\.json -> .*a\.json/
  },
  {
    name: 'self inheritance is a cycle',
    files: { 'services/x/conductor-service.json': { inherit: ['./conductor-service.json'] } },
    code: 'CND_SERVICE_INHERIT_CYCLE',
    match: /inheritance cycle/
  },
  {
    name: 'a pod without template after inheritance',
    files: { 'services/x/conductor-service.json': { pods: [{ name: 'web' }] } },
    code: 'CND_SERVICE_INVALID',
    match: /\/pods\/0\/pod_template: missing/
  },
  {
    name: 'a command without context',
    files: { 'services/x/conductor-service.json': { commands: { m: { exec: ['./m'] } } } },
    code: 'CND_SERVICE_INVALID',
    match: /\/commands\/m: declares no context/
  },
  {
    name: 'duplicate pod names',
    files: {
      'services/x/conductor-service.json': {
        pods: [
          { name: 'a', pod_template: 'p' },
          { name: 'a', pod_template: 'q' }
        ]
      }
    },
    code: 'CND_SERVICE_INVALID',
    match: /\/pods\/1: duplicate pod name "a"/
  },
  {
    name: 'a pod name with a dash',
    files: { 'services/x/conductor-service.json': { pods: [{ name: 'a-b', pod_template: 'p' }] } },
    code: 'CND_SERVICE_INVALID',
    match: /\/pods\/0\/name: "a-b" is not a valid name/
  },
  {
    name: 'an invalid base file is reported in the base',
    files: { 'base.json': { app_nam: 'x' }, 'services/x/conductor-service.json': { inherit: ['../../base.json'] } },
    code: 'CND_SERVICE_INVALID',
    match: /base\.json: \/app_nam: unknown field; did you mean "app_name"/
  }
]

for (const c of errorCases) {
  t.test(`error: ${c.name}`, async t => {
    const root = tempDir(t)
    writeTree(root, c.files)
    const err = await loadService(path.join(root, 'services'), 'x').then(
      () => undefined,
      (e: unknown) => e as ServiceInvalid
    )
    t.ok(err, 'throws')
    t.equal(err?.code, c.code)
    t.match(err?.message, c.match)
    if (c.jsonPath !== undefined) t.equal(err?.jsonPath, c.jsonPath)
  })
}

t.test('every problem of a file is reported, not only the first', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'services/x/conductor-service.json': { app_nme: 'x', pods: [{ name: 'a', pod_templat: 'p' }], disable: 'yes' }
  })
  try {
    await loadService(path.join(root, 'services'), 'x')
    t.fail('should throw')
  } catch (err) {
    const paths = (err as ServiceInvalid)
      .allProblems()
      .map(p => p.jsonPath)
      .sort()
    t.same(paths, ['/app_nme', '/disable', '/pods/0/pod_templat'])
  }
})

t.test('loadAllServices lists every service and keeps the broken ones with their error', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'services/a/conductor-service.json': { app_name: 'a' },
    'services/b/conductor-service.json': '{ broken',
    'services/c/conductor-service.json': { app_name: 'c' },
    'services/not-a-service/README': 'no service file here',
    'services/bad name/conductor-service.json': {}
  })
  const entries = await loadAllServices(path.join(root, 'services'))
  t.same(
    entries.map(e => [e.name, e.service !== undefined, e.error?.code]),
    [
      ['a', true, undefined],
      ['b', false, 'CND_SERVICE_SYNTAX'],
      ['bad name', false, 'CND_SERVICE_INVALID'],
      ['c', true, undefined]
    ]
  )
})

t.test('a missing services directory is an empty list; an unknown service is CND_SERVICE_NOT_FOUND', async t => {
  const root = tempDir(t)
  t.same(await loadAllServices(path.join(root, 'nope')), [])
  await t.rejects(loadService(root, 'ghost'), { code: 'CND_SERVICE_NOT_FOUND' })
  await t.rejects(loadService(root, '../etc'), { code: 'CND_SERVICE_NOT_FOUND' })
})

t.test('the validation cache skips the schema only for contents validated before', async t => {
  const { ValidationCache } = await import('../../../../conductor/model/validation-cache.js')
  const root = tempDir(t)
  const cacheFile = path.join(root, 'cache/validated.json')
  writeTree(root, { 'services/a/conductor-service.json': { app_name: 'a' } })
  const first = new ValidationCache(cacheFile, 'v1')
  await loadService(path.join(root, 'services'), 'a', first)
  first.save()
  const second = new ValidationCache(cacheFile, 'v1')
  t.ok(
    second.isKnownValid(JSON.stringify({ app_name: 'a' }, null, 2)),
    'the valid content is remembered across processes'
  )
  t.notOk(
    new ValidationCache(cacheFile, 'v2').isKnownValid(JSON.stringify({ app_name: 'a' }, null, 2)),
    'another schema version trusts nothing'
  )
  writeTree(root, { 'services/a/conductor-service.json': { app_nam: 'a' } })
  await t.rejects(
    loadService(path.join(root, 'services'), 'a', second),
    { code: 'CND_SERVICE_INVALID' },
    'changed content is validated again'
  )
  const broken = new ValidationCache(path.join(root, 'nope/\0bad'), 'v1')
  broken.markValid('x')
  t.doesNotThrow(() => broken.save(), 'an unwritable cache is ignored')
})

t.test('the validation cache fingerprint tells apart kinds and near-identical contents', async t => {
  const { digest } = await import('../../../../conductor/model/validation-cache.js')
  const base = JSON.stringify({ app_name: 'a', config: { TAG: 'v1', TOKEN_FILE: '/etc/secret' } }, null, 2)
  t.equal(digest('service', base), digest('service', base), 'stable')
  t.not(digest('service', base), digest('host', base), 'a verdict for one kind says nothing of another')
  t.notMatch(digest('service', base), /TAG|secret|app_name/, 'nothing of the content')
  // Every one-character change, and every swap of two neighbours, of a 300-character document.
  const doc = `${base}\n${'x'.repeat(300 - base.length - 1)}`
  const seen = new Map<string, string>([[digest('service', doc), doc]])
  let variants = 1
  for (let i = 0; i < doc.length; i++) {
    for (const c of ['y', ' ', '0', '"', '\u00e9']) {
      const v = doc.slice(0, i) + c + doc.slice(i + 1)
      if (v === doc) continue
      const d = digest('service', v)
      if (seen.has(d) && seen.get(d) !== v) t.fail(`collision at ${i}`)
      seen.set(d, v)
      variants++
    }
    if (i + 1 < doc.length && doc[i] !== doc[i + 1]) {
      const v = doc.slice(0, i) + doc[i + 1] + doc[i] + doc.slice(i + 2)
      seen.set(digest('service', v), v)
      variants++
    }
  }
  t.equal(seen.size, variants, `${variants} documents, as many fingerprints`)
})

t.test('pods[].replicas: an integer from 1 to MAX_REPLICAS, else an error with the file and JSON path', async t => {
  const root = tempDir(t)
  const load = async (replicas: unknown): Promise<unknown> => {
    writeTree(root, { 'services/x/conductor-service.json': { pods: [{ name: 'web', pod_template: 'p', replicas }] } })
    return await loadService(path.join(root, 'services'), 'x').then(
      s => s.pods[0]!.replicas,
      (e: unknown) => e
    )
  }
  t.equal(await load(3), 3)
  t.equal(await load(64), 64)
  const file = path.join(root, 'services/x/conductor-service.json')
  const cases: Array<[unknown, RegExp]> = [
    [0, /must be at least 1: remove the part, or disable the service, to run none/],
    [-2, /must be at least 1/],
    [1.5, /must be an integer \(a count of deployments\)/],
    ['2', /must be an integer from 1 to 64, got "2"/],
    [null, /must be an integer from 1 to 64, got null/],
    [65, /must be at most 64/]
  ]
  for (const [value, reason] of cases) {
    const err = (await load(value)) as ServiceInvalid
    t.equal(err.code, 'CND_SERVICE_INVALID', `replicas ${JSON.stringify(value)}`)
    t.equal(err.file, file)
    t.equal(err.jsonPath, '/pods/0/replicas')
    t.match(err.message, reason)
    t.match(err.message, `${file}: /pods/0/replicas: `)
  }
})
