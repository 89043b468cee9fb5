import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { CaddyClient, type CaddyResponse } from '../../../../caddy/index.js'
import { createCtx } from '../../../../conductor/context.js'
import { caddyDriver } from '../../../../conductor/proxy/index.js'
import { systemContext } from '../../../../conductor/reconcile/context.js'
import {
  outcomeFailed,
  reconcile,
  renderOutcome,
  type ReconcileOutcome
} from '../../../../conductor/reconcile/reconcile.js'
import { startCaddy, type CaddyHandle } from '../../../harness/caddy.js'
import { fakePodman, fakeSystemd } from '../../../harness/fake-host.js'
import { httpRequest } from '../../../harness/http.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The Caddy step of `conductor reload` against a real Caddy (systemd and Podman stand-ins: the
// services here have no pods). A no-op reload runs no proxy template, writes no record and asks
// Caddy one thing (GET /config/); a Caddy that restarted without its routes gets them back from
// the records on the next reload; Caddy down is reported; a changed template runs again; a
// disabled service's routes go.

class CountingClient extends CaddyClient {
  readonly calls: string[] = []
  override async request(
    method: string,
    p: string,
    body?: unknown,
    headers?: Record<string, string>
  ): Promise<CaddyResponse> {
    this.calls.push(`${method} ${p}`)
    return await super.request(method, p, body, headers)
  }
}

const TEMPLATE = (body: string): string => `#!/bin/sh
echo run >> "$RUNS"
printf '[{"id": "conductor-server/routes", "config": {"@id": "%s-route", ' "$CONDUCTOR_SERVICE_NAME"
printf '"match": [{"path": ["/svc"]}], '
printf '"handle": [{"handler": "static_response", "body": "${body}"}]}}]'
`

t.test('reload converges Caddy from its records, and asks it once when nothing changed', async t => {
  let caddy: CaddyHandle = await startCaddy(t)
  const root = tempDir(t, 'conductor-reload-caddy-')
  const runs = path.join(root, 'runs')
  writeFileSync(runs, '')
  const svcDir = path.join(root, 'etc/conductor/services/web')
  const service = (disable = false): object => ({
    config: { RUNS: runs },
    proxy_config_template: './proxy.template',
    disable
  })
  writeTree(root, {
    'etc/conductor/host.json': { caddy_admin: caddy.adminUrl },
    'etc/conductor/services/web/conductor-service.json': service(),
    'etc/conductor/services/web/proxy.template': TEMPLATE('v1')
  })
  const record = path.join(root, 'run/conductor/caddy/service@web.json')
  const count = (): number => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length
  const systemd = fakeSystemd()
  let client = new CountingClient({ adminUrl: caddy.adminUrl })
  const reload = async (): Promise<ReconcileOutcome & { text: string }> => {
    const ctx = createCtx(
      { root },
      {
        out: () => {},
        err: s => {
          t.comment(s)
        }
      },
      { PATH: process.env.PATH }
    )
    const real = caddyDriver(ctx, await ctx.host())
    const sctx = await systemContext(ctx, { systemd, podman: fakePodman(), caddy: { ...real, client: () => client } })
    const o = await reconcile(sctx)
    return { ...o, text: renderOutcome(o) }
  }
  const svc = async (): Promise<string> => (await httpRequest(`http://127.0.0.1:${caddy.httpPort}/svc`)).body

  let r = await reload()
  t.same(r.caddy?.changes, ['service@web: web-route created'], r.text)
  t.equal(await svc(), 'v1')
  t.equal(count(), 1, 'the template ran once')

  client = new CountingClient({ adminUrl: caddy.adminUrl })
  const written = statSync(record).mtimeMs
  r = await reload()
  t.equal(r.text, 'nothing to do\n', 'a second reload has nothing to do')
  t.equal(count(), 1, 'and runs no template')
  t.equal(statSync(record).mtimeMs, written, 'and writes no record')
  t.same(client.calls, ['GET /config/'], 'and asks Caddy one thing: its config')

  // Caddy restarts without --resume: a fresh one on the same ports, no route.
  await caddy.stop()
  caddy = await startCaddy(t, { adminPort: caddy.adminPort, httpPort: caddy.httpPort })
  t.not(await svc(), 'v1', 'the route is gone')
  r = await reload()
  t.same(r.caddy?.changes, ['service@web: web-route created'], 'the next reload registers it again')
  t.equal(await svc(), 'v1')
  t.equal(count(), 1, 'from the record: the template did not run')
  t.equal((await reload()).text, 'nothing to do\n')

  // Caddy down: reported, the reload fails; back: converged.
  await caddy.stop()
  r = await reload()
  t.match(r.text, /^FAIL caddy Caddy: cannot reach the Caddy admin API/m)
  t.ok(outcomeFailed(r))
  caddy = await startCaddy(t, { adminPort: caddy.adminPort, httpPort: caddy.httpPort })
  r = await reload()
  t.same(r.caddy?.changes, ['service@web: web-route created'])
  t.equal(await svc(), 'v1')

  // The template changes: it runs again and the route is replaced in place.
  writeFileSync(path.join(svcDir, 'proxy.template'), TEMPLATE('v2'))
  r = await reload()
  t.same(r.caddy?.changes, ['service@web: web-route replaced'])
  t.equal(await svc(), 'v2')
  t.equal(count(), 2, 'the changed template ran')
  t.equal((await reload()).text, 'nothing to do\n')
  t.equal(count(), 2)

  // Disabled: its route and its record go.
  writeFileSync(path.join(svcDir, 'conductor-service.json'), JSON.stringify(service(true)))
  r = await reload()
  // The stop-service action takes the service's routes out before its unit stops (as the
  // service's config unit would): the Caddy step that follows finds nothing left to remove.
  t.match(r.text, /ok {3}stop service web/)
  t.same(r.caddy?.changes ?? [], [], r.text)
  t.notOk(existsSync(record), 'record removed')
  const routes = await new CaddyClient({ adminUrl: caddy.adminUrl }).get('conductor-server/routes')
  t.same(routes, [], 'Caddy has no route left')
  t.equal((await reload()).text, 'nothing to do\n')
})
