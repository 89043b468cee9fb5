import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { probe } from '../../../../conductor/deploy/readiness.js'

// One readiness probe's verdict and its words, which end up in a failed deploy's message.

t.test('an HTTP probe that times out says "timeout", not the DOMException code', async t => {
  // Accepts the connection and never answers.
  const server = createServer(() => {})
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}/`
  const r = await probe({ kind: 'http', url }, 200)
  t.equal(r.ok, false)
  t.equal(r.detail, `GET ${url} -> timeout`)
})

t.test('an HTTP probe answered 200 passes; a refused connection names the error', async t => {
  const server = createServer((_req, res) => res.end('ok'))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const ok = await probe({ kind: 'http', url: `http://127.0.0.1:${port}/` }, 2000)
  t.match(ok, { ok: true, detail: `GET http://127.0.0.1:${port}/ -> 200: ok` })
  await new Promise(resolve => server.close(resolve))
  const refused = await probe({ kind: 'http', url: `http://127.0.0.1:${port}/` }, 2000)
  t.match(refused, { ok: false, detail: `GET http://127.0.0.1:${port}/ -> ECONNREFUSED` })
})
