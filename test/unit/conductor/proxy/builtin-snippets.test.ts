import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { isBuiltinPeersTemplate, renderPeersService, type UnitPaths } from '../../../../conductor/host/index.js'
import {
  baseVariables,
  functionId,
  functionVariables,
  loadHostConfig,
  loadService,
  PEERS_SERVICE,
  resolveRoots,
  serviceVariables
} from '../../../../conductor/model/index.js'
import { builtinPeersSnippets } from '../../../../conductor/proxy/builtin-snippets.js'
import { renderProxySnippets } from '../../../../conductor/proxy/snippets.js'
import { binPath } from '../../../harness/cli.js'
import { tempDir } from '../../../harness/tmp.js'

// The built-in peers service's routes are computed in the process (proxy/builtin-snippets.ts)
// instead of by its proxy template, which starts `conductor function caddy-config` once per
// function. They must be exactly what that template prints: compared here with the real
// template running the real CLI (dist), for each of its functions and host.json's listeners.

/** A root with host.json HOST and the built-in service as `system install` writes it. */
function installRoot(host: object, conductor = [process.execPath, binPath]): string {
  const root = tempDir(t, 'conductor-builtin-routes-')
  const roots = resolveRoots({ root })
  mkdirSync(path.dirname(roots.hostFile), { recursive: true })
  writeFileSync(roots.hostFile, JSON.stringify(host))
  for (const f of renderPeersService({ conductor } as UnitPaths, roots.services)) {
    mkdirSync(path.dirname(f.path), { recursive: true })
    writeFileSync(f.path, f.content)
    chmodSync(f.path, f.mode)
  }
  return root
}

// Each comparison starts the CLI: every function once, two more times for the other listeners.
for (const [what, host, only] of [
  ['default listener', {}, undefined],
  ['gateway_listen', { gateway_listen: '127.0.0.1:2999' }, ['identity', 'add_peer']],
  [
    'functions_listen (unix socket)',
    { gateway_listen: '127.0.0.1:2999', functions_listen: 'unix:/run/cnd/f.sock' },
    ['identity', 'write_service']
  ]
] as const) {
  t.test(`every built-in function's routes as its template prints them: ${what}`, async t => {
    const roots = resolveRoots({ root: installRoot(host) })
    const svc = await loadService(roots.services, PEERS_SERVICE)
    const hostConfig = await loadHostConfig(roots.hostFile)
    const vars = serviceVariables(svc, baseVariables(roots))
    t.equal(svc.functions.length, 9)
    const own = await builtinPeersSnippets(svc, vars, hostConfig)
    t.same(own, [], 'the service context: no route')
    if (only === undefined)
      t.same(own, await renderProxySnippets(svc, vars, { cwd: svc.dir }), 'as the template prints')
    for (const fn of svc.functions.filter(f => only === undefined || (only as readonly string[]).includes(f.name))) {
      const fvars = functionVariables(vars, functionId(svc.name, fn.name))
      const computed = await builtinPeersSnippets(svc, fvars, hostConfig)
      t.ok(computed !== undefined && computed.length === 1, `${fn.name}: one route computed`)
      t.same(computed, await renderProxySnippets(svc, fvars, { cwd: svc.dir }), `${fn.name}: as the template prints`)
    }
  })
}

t.test('an edited template runs as it is; the install-written one is known for any command line', async t => {
  const root = installRoot({}, ['/opt/my node/node', "/opt/it's/bin.js"])
  const roots = resolveRoots({ root })
  const svc = await loadService(roots.services, PEERS_SERVICE)
  const file = path.resolve(svc.dir, svc.proxy_config_template!)
  const text = readFileSync(file, 'utf8')
  t.ok(isBuiltinPeersTemplate(text), 'quoted paths with a space and a quote: still the built-in template')
  const host = await loadHostConfig(roots.hostFile)
  const fvars = functionVariables(serviceVariables(svc, baseVariables(roots)), functionId(svc.name, 'identity'))
  t.ok((await builtinPeersSnippets(svc, fvars, host)) !== undefined, 'computed')
  for (const edited of [
    text.replace("echo '[]'", "echo '[{}]'"),
    text.replace(' function caddy-config', '; rm -rf /tmp/x; true function caddy-config'),
    text.replace(' function caddy-config', ' $(id) function caddy-config'),
    text + 'echo more\n'
  ]) {
    t.notOk(isBuiltinPeersTemplate(edited), `not the built-in: ${JSON.stringify(edited.slice(-60))}`)
    writeFileSync(file, edited)
    t.equal(await builtinPeersSnippets(svc, fvars, host), undefined, 'edited: the template runs')
  }
  const other = await loadService(roots.services, PEERS_SERVICE)
  t.equal(
    await builtinPeersSnippets({ ...other, name: 'web' }, fvars, host),
    undefined,
    'another service with the same template: run as a template'
  )
})
