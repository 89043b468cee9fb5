import { request, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import type { Duplex } from 'node:stream'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { Front } from '../../../gateway/front.js'

// The front server with real sockets on loopback: what a served gateway does before Fastify is
// attached (gateway/serve.ts) and at its stop.

async function listen(t: Test, front: Front): Promise<number> {
  await new Promise<void>(resolve => front.server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    await front.close()
  })
  return (front.server.address() as AddressInfo).port
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    request({ port, host: '127.0.0.1', path, headers }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        body += d
      })
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }))
    })
      .on('error', reject)
      .end()
  })
}

const settled = async <T>(p: Promise<T>, ms: number): Promise<T | 'pending'> =>
  await Promise.race([p, new Promise<'pending'>(resolve => setTimeout(() => resolve('pending'), ms))])

t.test(
  'before attach: the fast path and early answers are served, the rest waits and is answered in order once attached',
  async t => {
    const front = new Front({ holdUpgrades: true })
    front.fast = (req, res) => {
      if (req.url !== '/auth') return false
      res.writeHead(200, { 'content-length': '0' }).end()
      return true
    }
    front.early = (req, res) => {
      if (req.url !== '/healthz') return false
      res.writeHead(200, { 'content-length': '5' }).end('early')
      return true
    }
    const port = await listen(t, front)
    t.equal((await get(port, '/auth')).status, 200, 'fast path')
    t.equal((await get(port, '/healthz')).body, 'early')
    const held = [get(port, '/one'), get(port, '/two')]
    t.equal(await settled(held[0]!, 300), 'pending', 'held, not refused')
    const order: string[] = []
    front.attach((req, res) => {
      order.push(req.url!)
      res.writeHead(200, { 'content-length': '4' }).end('late')
    }, front.innerServer())
    t.same(
      (await Promise.all(held)).map(r => r.body),
      ['late', 'late']
    )
    t.same(order.sort(), ['/one', '/two'])
    t.equal((await get(port, '/healthz')).body, 'late', 'once attached, the handler answers what early did')
    t.equal((await get(port, '/auth')).status, 200, 'the fast path still comes first')
    t.same(order.sort(), ['/healthz', '/one', '/two'])
  }
)

t.test("an upgrade before attach is held and handed to the attached server's listeners", async t => {
  const front = new Front({ holdUpgrades: true })
  const port = await listen(t, front)
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  socket.on('data', d => {
    received += d.toString()
  })
  socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(received, '', 'nothing answered before attach')
  const inner = front.innerServer()
  inner.on('upgrade', (req: IncomingMessage, s: Duplex) => {
    s.end(`HTTP/1.1 101 Switching Protocols\r\nX-Path: ${req.url!}\r\n\r\n`)
  })
  front.attach(() => {
    t.fail('not a plain request')
  }, inner)
  await new Promise(resolve => socket.once('end', resolve))
  t.match(received, /^HTTP\/1\.1 101 [\s\S]*X-Path: \/ws/, 'the upgrade reached the attached server')
})

t.test('close(): connections kept alive by a busy client end too', async t => {
  const front = new Front()
  // Slow answers: the connection is busy, not idle, whenever the stop comes.
  front.attach((_req, res) => {
    setTimeout(() => res.writeHead(200, { 'content-length': '0' }).end(), 100)
  })
  await new Promise<void>(resolve => front.server.listen(0, '127.0.0.1', resolve))
  const port = (front.server.address() as AddressInfo).port
  // A client that never lets its connection idle: a new request as soon as an answer arrives.
  const socket = connect(port, '127.0.0.1')
  let answers = ''
  let ended = false
  socket.on('data', d => {
    answers += d.toString()
    if (!ended) socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  })
  socket.on('end', () => {
    ended = true
  })
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
  await new Promise(resolve => setTimeout(resolve, 150))
  const started = Date.now()
  await front.close()
  t.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`)
  t.match(answers, /^HTTP\/1\.1 200/, 'answered meanwhile')
  if (!socket.closed) await settled(new Promise(resolve => socket.once('close', resolve)), 2000)
  t.ok(ended, "the client's connection was ended by the server")
  socket.destroy()
})

t.test('whenQuiet waits for a pause in requests, and no longer than its limit', async t => {
  const front = new Front()
  front.attach((_req, res) => {
    res.writeHead(200, { 'content-length': '0' }).end()
  })
  const port = await listen(t, front)
  let t0 = performance.now()
  await front.whenQuiet(20, 1000)
  t.ok(performance.now() - t0 < 500, 'quiet at once')
  // Requests every 5 ms: never 50 ms without one, so the limit ends the wait.
  let busy = true
  const load = (async () => {
    while (busy) {
      await get(port, '/x')
      await new Promise(resolve => setTimeout(resolve, 5))
    }
  })()
  t0 = performance.now()
  await front.whenQuiet(50, 400)
  const waited = performance.now() - t0
  busy = false
  await load
  t.ok(waited >= 350, `waited for the limit (${Math.round(waited)} ms)`)
})
