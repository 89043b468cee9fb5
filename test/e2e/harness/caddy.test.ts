import t from 'tap'
import { startCaddy } from '../../harness/caddy.js'

t.test('the harness starts a real Caddy whose admin API accepts a route', async t => {
  const caddy = await startCaddy(t)
  const route = { '@id': 'smoke', handle: [{ handler: 'static_response', body: 'caddy is real' }] }
  const post = await fetch(`${caddy.adminUrl}/config/apps/http/servers/conductor/routes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(route)
  })
  t.equal(post.status, 200, 'route accepted')
  const res = await fetch(`http://127.0.0.1:${caddy.httpPort}/`)
  t.equal(await res.text(), 'caddy is real')
  const del = await fetch(`${caddy.adminUrl}/id/smoke`, { method: 'DELETE' })
  t.equal(del.status, 200, 'route removed by @id')
})
