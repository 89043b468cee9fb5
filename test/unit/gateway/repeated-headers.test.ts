import { createServer, type IncomingMessage } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import t from 'tap'
import {
  AUTHORIZATION,
  DECISION_HEADERS,
  FORWARDED_HOST,
  FORWARDED_METHOD,
  FORWARDED_URI,
  HOST,
  ORIGIN,
  readDecisionHeaders,
  repeatedDecisionHeader
} from '../../../gateway/repeated-headers.js'

// Which repeats make a request malformed for a decision (issue 13), in every spelling of the name.

const cases: Array<[string, string[], string | undefined]> = [
  [
    "Caddy's forward_auth request, nothing repeated",
    [
      'Host',
      'g:2080',
      'Authorization',
      'Bearer a',
      'X-Forwarded-Host',
      'h',
      'X-Forwarded-Method',
      'GET',
      'X-Forwarded-Uri',
      '/',
      'X-Forwarded-For',
      '1',
      'X-Forwarded-For',
      '2',
      'Accept',
      'a',
      'Accept',
      'b'
    ],
    undefined
  ],
  ['Authorization twice', ['Authorization', 'Bearer a', 'Authorization', 'Bearer b'], 'authorization'],
  ['Authorization in two spellings', ['authorization', 'Bearer a', 'AUTHORIZATION', 'Bearer b'], 'authorization'],
  ['Host twice', ['Host', 'a', 'host', 'b'], 'host'],
  ['Origin twice', ['Origin', 'a', 'oRiGiN', 'b'], 'origin'],
  ['X-Forwarded-Uri twice', ['X-Forwarded-Uri', '/a', 'x-forwarded-uri', '/b'], 'x-forwarded-uri'],
  ['X-Forwarded-Host twice', ['X-FORWARDED-HOST', 'a', 'X-Forwarded-Host', 'b'], 'x-forwarded-host'],
  ['X-Forwarded-Method twice', ['x-forwarded-method', 'GET', 'X-Forwarded-Method', 'POST'], 'x-forwarded-method'],
  [
    'same length, other names',
    ['Authorizatioo', 'a', 'Authorization', 'b', 'Origin', 'o', 'Accept', 'x', 'Xost', '1', 'Host', '2'],
    undefined
  ],
  ['empty', [], undefined]
]
for (const [what, raw, want] of cases)
  t.test(what, async t => {
    t.equal(repeatedDecisionHeader(raw), want)
  })

// readDecisionHeaders: the same verdict in one pass, and without a repeat the values a real
// node:http server's req.headers holds for the six names (the /auth fast path reads them here).
t.test('readDecisionHeaders', async t => {
  const seen: Array<[IncomingMessage['headers'], string[]]> = []
  const server = createServer((req, res) => {
    seen.push([req.headers, req.rawHeaders])
    res.end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const { port } = server.address() as AddressInfo
  for (const [what, raw, want] of cases) {
    // Every request needs one Host; the cases without one get it last, where it repeats nothing.
    const lines = raw.some(n => n.toLowerCase() === 'host') ? [...raw] : [...raw, 'Host', 'last']
    let head = 'GET /auth?policy=p HTTP/1.1\r\n'
    for (let i = 0; i < lines.length; i += 2) head += `${lines[i]}: ${lines[i + 1]}\r\n`
    await new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(`${head}Connection: close\r\n\r\n`))
      socket.on('error', reject)
      socket.on('close', () => resolve())
      socket.resume()
    })
    const [headers, rawHeaders] = seen.pop()!
    const got = readDecisionHeaders(rawHeaders)
    if (want !== undefined) t.equal(got, want, `${what}: the repeated one`)
    else
      t.same(
        got,
        DECISION_HEADERS.map(name => headers[name]),
        `${what}: the values of req.headers`
      )
  }
})

t.test('the index constants name the headers they index', async t => {
  t.same(
    [HOST, ORIGIN, AUTHORIZATION, FORWARDED_URI, FORWARDED_HOST, FORWARDED_METHOD].map(i => DECISION_HEADERS[i]),
    ['host', 'origin', 'authorization', 'x-forwarded-uri', 'x-forwarded-host', 'x-forwarded-method']
  )
})
