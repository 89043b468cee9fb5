import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import {
  loadAllServices,
  loadService,
  resolveRoots,
  serviceVariables,
  type Service
} from '../../../../conductor/model/index.js'
import {
  ownerSnippets,
  snippetSources,
  type DesiredSnippets,
  type SnippetRecord,
  type SnippetSource
} from '../../../../conductor/proxy/index.js'
import { desiredSnippetSources } from '../../../../conductor/proxy/sources.js'
import { placedElsewhere, readPlacement, writePlacementFile } from '../../../../conductor/state/index.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// A proxy template runs again only when what it depends on changed (proxy/inputs.ts): its
// content, its variables, its directory, the service definition, host.json. Otherwise the
// recorded snippets are used: a no-op reload runs no template. The template counts its runs.

const TEMPLATE = (body: string): string => `#!/bin/sh
echo run >> "$RUNS"
printf '[{"id": "conductor-server/routes", "config": {"@id": "%s-route", ' "$CONDUCTOR_SERVICE_NAME"
printf '"handle": [{"body": "${body}"}]}}]'
`

t.test('the recorded snippets are used while the inputs are those recorded', async t => {
  const root = tempDir(t)
  const runs = path.join(root, 'runs')
  writeFileSync(runs, '')
  writeTree(root, {
    'etc/conductor/services/web/conductor-service.json': {
      config: { RUNS: runs },
      proxy_config_template: './proxy.template'
    },
    'etc/conductor/services/web/proxy.template': TEMPLATE('v1')
  })
  const roots = resolveRoots({ root })
  const count = (): number => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length
  const load = async (): Promise<Service> => await loadService(roots.services, 'web')
  const source = (svc: Service, vars = serviceVariables(svc), cwd = svc.dir): SnippetSource => ({
    owner: 'service@web',
    service: svc,
    vars,
    cwd
  })
  const opts = { caddyAdmin: 'http://127.0.0.1:2019', host: { gateway_listen: '127.0.0.1:8081' } }
  let record: SnippetRecord | undefined
  const step = async (src: SnippetSource, o = opts): Promise<boolean> => {
    const got = await ownerSnippets(src, record, o)
    record = { ...got.record, updated_at: 'now' }
    return got.reused
  }

  const svc = await load()
  t.equal(await step(source(svc)), false, 'no record: the template runs')
  t.equal(count(), 1)
  t.match(record!.snippets, [{ config: { '@id': 'web-route', handle: [{ body: 'v1' }] } }])
  t.equal(await step(source(svc)), true, 'same inputs: the record is used')
  t.equal(await step(source(await load())), true, 'the service loaded again: still the same inputs')
  t.equal(count(), 1, 'the template did not run again')

  const changes: Array<[string, () => Promise<SnippetSource | [SnippetSource, typeof opts]>]> = [
    [
      "the template's content",
      async () => {
        writeFileSync(path.join(roots.services, 'web/proxy.template'), TEMPLATE('v2'))
        return source(await load())
      }
    ],
    [
      'a variable',
      async () => {
        const s = await load()
        return source(s, { ...serviceVariables(s), EXTRA: '1' })
      }
    ],
    [
      'the directory it runs in',
      async () => {
        const s = await load()
        return source(s, serviceVariables(s), root)
      }
    ],
    [
      'the service definition (a function added)',
      async () => {
        const file = path.join(roots.services, 'web/conductor-service.json')
        const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
        writeFileSync(file, JSON.stringify({ ...json, functions: [{ name: 'f', format: 'cgi', exec: ['./f'] }] }))
        return source(await load())
      }
    ],
    ['host.json', async () => [source(await load()), otherHost]]
  ]
  const otherHost = { ...opts, host: { gateway_listen: '127.0.0.1:9999' } }
  let runsBefore = count()
  for (const [what, change] of changes) {
    const got = await change()
    const [src, o] = Array.isArray(got) ? got : [got, opts]
    t.equal(await step(src, o), false, `${what} changed: the template runs`)
    t.equal(count(), runsBefore + 1)
    t.equal(await step(src, o), true, `${what}: then the record is used again`)
    t.equal(count(), runsBefore + 1)
    runsBefore = count()
  }
  t.match(record!.snippets, [{ config: { handle: [{ body: 'v2' }] } }], 'the recorded snippets are the last output')
  t.equal(
    await step(source(await load()), { ...otherHost, caddyAdmin: 'http://127.0.0.1:1' }),
    true,
    'another admin endpoint is not a template input'
  )

  t.test('a record of an older version (no inputs) runs the template once', async t => {
    const { inputs: _, ...old } = record!
    record = old
    t.equal(await step(source(await load()), otherHost), false)
    t.equal(await step(source(await load()), otherHost), true)
  })
})

// A synced service placed on other hosts only (LIB/fleet/placement.json, issue 18) is disabled
// here for Caddy too: `reload` (convergeCaddy) and `caddy sync` give it no routes, its functions
// none either; one placed here, and an operator's own service (absent from the file), have theirs.
t.test('snippet sources honour the fleet placement file', async t => {
  const root = tempDir(t)
  const svc = (fns = false): object => ({
    proxy_config_template: './proxy.template',
    ...(fns ? { functions: [{ name: 'hook', exec: ['./hook.cgi'] }] } : {})
  })
  writeTree(root, {
    'etc/conductor/services/web/conductor-service.json': svc(true),
    'etc/conductor/services/web/proxy.template': TEMPLATE('web'),
    'etc/conductor/services/api/conductor-service.json': svc(),
    'etc/conductor/services/api/proxy.template': TEMPLATE('api'),
    'etc/conductor/services/own/conductor-service.json': svc(),
    'etc/conductor/services/own/proxy.template': TEMPLATE('own')
  })
  const roots = resolveRoots({ root })
  const ctx = { roots, env: {} }
  const names = (d: DesiredSnippets): string[] => [...new Set(d.sources.map(s => s.service.name))].sort()
  t.same(names(await desiredSnippetSources(ctx)), ['api', 'own', 'web'], 'no placement file: every service')
  writePlacementFile(roots.lib, {
    here: 'c',
    services: { web: { hosts: ['a', 'b'], source: 'file' }, api: { hosts: ['c'], source: 'pusher' } }
  })
  const placed = await desiredSnippetSources(ctx)
  t.same(names(placed), ['api', 'own'], '`caddy sync`: web (placed on a and b) has no routes here')
  t.notOk(
    placed.sources.some(s => s.owner.includes('web')),
    'nor has its function'
  )
  const entries = await loadAllServices(roots.services)
  const elsewhere = placedElsewhere(readPlacement(roots.lib))
  t.same(
    names(snippetSources(ctx, entries, { records: [], strays: [] }, elsewhere)),
    ['api', 'own'],
    'reload: the same'
  )
})
