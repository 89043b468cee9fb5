import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { protectedRoute } from '../../caddy/index.js'
import { postCaddyConfig as post, startCaddy } from '../../test/harness/caddy.js'
import { makeKey, signToken } from '../../test/harness/jwt.js'
import { freePort, waitFor } from '../../test/harness/ports.js'
import { tempDir } from '../../test/harness/tmp.js'

// bench/forward-auth: the same Caddy, eight routes, wrk on each in turn (issues 5 and 15):
//  a  no auth                      (Caddy static_response)
//  b  forward_auth -> Caddy static_response 200 on a second listener: the hop's own cost
//  f  forward_auth -> a bare node:http server answering 200 with content-length: 0: the Node
//     floor, what any Node forward_auth target costs at the least
//  g  as f, answering the headers the gateway answers for c: the answer's cost apart from the gateway's work
//  c  forward_auth -> gateway, static bearer token
//  d  forward_auth -> gateway, JWT ES256 (the same token repeated: verified-token cache)
//  e  forward_auth -> gateway, JWT RS256
//  c-fastify  as c, through the Fastify route only (--no-fast-auth)
// Prints a markdown table with rps, p99 and the ratios to b and to f, and the p99 each gateway
// case adds over f. Goals (issue 15): c/f >= 0.95, d/f >= 0.90, p99(c) - p99(f) <= 1 ms.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const DURATION = process.env.BENCH_DURATION ?? '8s'
const CONNECTIONS = process.env.BENCH_CONNECTIONS ?? '32'
const THREADS = process.env.BENCH_THREADS ?? '2'
const GATEWAY_LOG = process.env.BENCH_GATEWAY_LOG ?? 'warn'
// Rounds interleave the cases (a b c d e, a b c d e, ...) and report each case's median, so a
// noisy neighbour slows all cases alike instead of one.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3')

const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}

async function main(): Promise<void> {
  const loadBefore = loadavg()
  const root = tempDir(t, 'conductor-bench-')
  const es = makeKey('ES256')
  const rs = makeKey('RS256')
  const token = 'bench-static-token-0123456789abcdef'
  mkdirSync(path.join(root, 'etc/conductor/policies'), { recursive: true })
  writeFileSync(
    path.join(root, 'etc/conductor/policies/bench.json'),
    JSON.stringify({
      match: [
        {
          any: [
            { meta: { 'peer-id': 'bench' }, default_authorizations: { read: true }, bearer: [{ token }] },
            {
              meta: { 'peer-id': 'jwt' },
              default_authorizations: { read: true },
              bearer: [
                { public_key: es.pem, audience: 'bench' },
                { public_key: rs.pem, audience: 'bench' }
              ]
            }
          ]
        }
      ]
    })
  )
  const lifetime = { exp: Math.floor(Date.now() / 1000) + 3600, aud: 'bench' }
  const esToken = await signToken(es, lifetime)
  const rsToken = await signToken(rs, lifetime)

  const floorPort = await startFloor()
  // The gateway's answer to the bearer token, written by the floor: what separates c from f
  // that is the answer itself (headers Caddy parses and copies) and not the gateway's work.
  const answerFloorPort = await startFloor({
    'content-length': '0',
    'cache-control': 'no-store',
    'x-conductor-policy': 'bench',
    'x-conductor-authorizations': 'read',
    'x-conductor-peer-id': 'bench'
  })
  const gwPort = await startGateway(root, [])
  // BENCH_BEFORE=DIR: another checkout (with node_modules) whose gateway runs beside this one, as c-before and d-before.
  const before = process.env.BENCH_BEFORE
  const beforePort = before === undefined ? undefined : await startGateway(root, [], before)
  // The same gateway without the raw fast path: what Fastify's own request handling costs.
  const slowPort = await startGateway(root, ['--no-fast-auth'])

  const caddy = await startCaddy(t)
  // A second listener answering 200 with an empty body: forward_auth's target for (b).
  const staticPort = await freePort()
  await post(`${caddy.adminUrl}/config/apps/http/servers/authstatic`, {
    listen: [`127.0.0.1:${staticPort}`],
    automatic_https: { disable: true },
    routes: [
      { handle: [{ handler: 'static_response', status_code: 200, headers: { 'X-Conductor-Subject': ['bench'] } }] }
    ]
  })
  const gateway = `127.0.0.1:${gwPort}`
  const ok = { static: { body: 'ok' } }
  // The product's route (caddy/routes.ts), as `caddy protect` and the function/command routes build it.
  await post(`${caddy.adminUrl}/config/apps/http/servers/conductor/routes/...`, [
    {
      '@id': 'a',
      match: [{ path: ['/a'] }],
      handle: [{ handler: 'static_response', status_code: 200, body: 'ok' }],
      terminal: true
    },
    protectedRoute({ id: 'b', path: ['/b'], gateway: `127.0.0.1:${staticPort}`, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'f', path: ['/f'], gateway: `127.0.0.1:${floorPort}`, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'g', path: ['/g'], gateway: `127.0.0.1:${answerFloorPort}`, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'c', path: ['/c'], gateway, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'd', path: ['/d'], gateway, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'e', path: ['/e'], gateway, policy: 'bench', upstream: ok }),
    protectedRoute({
      id: 'c-fastify',
      path: ['/c-fastify'],
      gateway: `127.0.0.1:${slowPort}`,
      policy: 'bench',
      upstream: ok
    }),
    ...(beforePort === undefined
      ? []
      : ['c-before', 'd-before'].map(id =>
          protectedRoute({ id, path: [`/${id}`], gateway: `127.0.0.1:${beforePort}`, policy: 'bench', upstream: ok })
        ))
  ])
  // g stands for c only while it answers what the gateway answers.
  const answer = await fetch(`http://${gateway}/auth?policy=bench`, { headers: { authorization: `Bearer ${token}` } })
  const names = [...answer.headers.keys()].filter(h => !['date', 'connection', 'keep-alive'].includes(h)).sort()
  const expected = [
    'cache-control',
    'content-length',
    'x-conductor-authorizations',
    'x-conductor-peer-id',
    'x-conductor-policy'
  ]
  if (answer.status !== 200 || names.join() !== expected.join())
    throw new Error(`the gateway answers ${answer.status} ${names.join()}; case g writes ${expected.join()}: update g`)
  const base = `http://127.0.0.1:${caddy.httpPort}`
  const all = [
    { id: 'a', what: 'no auth (Caddy static_response)', auth: undefined },
    { id: 'b', what: 'forward_auth -> Caddy static_response 200 (hop cost)', auth: undefined },
    { id: 'f', what: 'forward_auth -> bare node:http 200, content-length: 0 (Node floor)', auth: token },
    { id: 'g', what: "forward_auth -> bare node:http 200 with the gateway's answer headers for c", auth: token },
    { id: 'c', what: 'forward_auth -> gateway, static bearer', auth: token },
    { id: 'd', what: 'forward_auth -> gateway, JWT ES256', auth: esToken },
    { id: 'e', what: 'forward_auth -> gateway, JWT RS256', auth: rsToken },
    { id: 'c-fastify', what: 'as c, Fastify route only (--no-fast-auth)', auth: token },
    ...(beforePort === undefined
      ? []
      : [
          { id: 'c-before', what: `as c, the gateway of ${before ?? ''}`, auth: token },
          { id: 'd-before', what: `as d, the gateway of ${before ?? ''}`, auth: esToken }
        ])
  ]
  // BENCH_CASES=b,f,c,d runs only those (f and b always: the ratios need them).
  const only = process.env.BENCH_CASES?.split(',')
  const cases = all.filter(c => only === undefined || ['b', 'f', ...only].includes(c.id))
  // Every route must answer 200 before we measure anything.
  for (const c of cases) {
    const res = await fetch(`${base}/${c.id}`, {
      headers: c.auth === undefined ? {} : { authorization: `Bearer ${c.auth}` }
    })
    if (res.status !== 200) throw new Error(`route ${c.id} answers ${res.status}`)
  }
  const runs: Record<string, Array<{ rps: number; p99: string; non2xx: number }>> = {}
  const argsOf = (c: (typeof cases)[number]): string[] => [
    '-t',
    THREADS,
    '-c',
    CONNECTIONS,
    '--latency',
    ...(c.auth === undefined ? [] : ['-H', `Authorization: Bearer ${c.auth}`]),
    `${base}/${c.id}`
  ]
  for (const c of cases) await wrk(['-d', '2s', ...argsOf(c)]) // warm-up (JIT, connection pools)
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) (runs[c.id] ??= []).push(parseWrk(await wrk(['-d', DURATION, ...argsOf(c)])))
  }
  const results = Object.fromEntries(
    Object.entries(runs).map(([id, rs]) => [
      id,
      {
        ...rs.slice().sort((x, y) => x.rps - y.rps)[Math.floor(rs.length / 2)]!,
        non2xx: rs.reduce((n, r) => n + r.non2xx, 0)
      }
    ])
  )
  const b = results.b!.rps
  const f = results.f!.rps
  const ms = (p99: string): number => {
    const m = /^([\d.]+)(us|ms|s)$/.exec(p99)
    return m === null ? NaN : Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1)
  }
  const added = (id: string): string => (ms(results[id]!.p99) - ms(results.f!.p99)).toFixed(2)
  const lines = [
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z; wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}, median of ${ROUNDS} interleaved rounds, gateway log level ${GATEWAY_LOG}, load average before: ${loadBefore}, after: ${loadavg()}`,
    '',
    '| case | route | rps (median) | p99 (of that run) | non-2xx (all runs) | ratio to b | ratio to f (Node floor) |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...cases.map(c => {
      const r = results[c.id]!
      return `| ${c.id} | ${c.what} | ${Math.round(r.rps)} | ${r.p99} | ${r.non2xx} | ${(r.rps / b).toFixed(2)} | ${(r.rps / f).toFixed(2)} |`
    }),
    '',
    ['c', 'd', 'e', 'c-fastify', 'c-before', 'd-before']
      .filter(id => results[id] !== undefined)
      .map(id => `${id}/f = ${(results[id]!.rps / f).toFixed(2)}, p99 added ${added(id)} ms`)
      .join('; ') + ` (goals: c/f ≥ 0.95, d/f ≥ 0.90, p99 added ≤ 1 ms); f/b = ${(f / b).toFixed(2)}`,
    ...(results.g === undefined || results.c === undefined
      ? []
      : [
          `g/f = ${(results.g.rps / f).toFixed(2)} (the answer's headers, parsed and copied by Caddy); ` +
            `c/g = ${(results.c.rps / results.g.rps).toFixed(2)} (the gateway's own work for the same answer)`
        ]),
    // Every round's rps, in run order: the spread says how far a median can be trusted on a busy machine.
    'rps per round: ' + cases.map(c => `${c.id} ${runs[c.id]!.map(r => Math.round(r.rps)).join('/')}`).join('; ')
  ]
  console.log(lines.join('\n'))
}

function loadavg(): string {
  return os
    .loadavg()
    .map(l => l.toFixed(1))
    .join(' ')
}

/**
 * The Node floor: node:http answering 200 with an empty body and content-length: 0, nothing
 * else; or, given `headers`, answering those constant headers (the floor with the gateway's answer).
 */
async function startFloor(headers: Record<string, string> = { 'content-length': '0' }): Promise<number> {
  const port = await freePort()
  const code =
    'const h = JSON.parse(process.argv[2]);' +
    'require("http").createServer((q, s) => { s.writeHead(200, h); s.end() })' +
    '.listen(+process.argv[1], "127.0.0.1")'
  const p = spawn(process.execPath, ['-e', code, String(port), JSON.stringify(headers)], {
    stdio: ['ignore', 'ignore', 'inherit']
  })
  teardowns.push(() => stop(p))
  await waitFor('node floor', async () => (await fetch(`http://127.0.0.1:${port}/`)).ok, 60_000)
  return port
}

/**
 * How the gateway starts: the shipped bundle, as its systemd unit runs it, when the checkout
 * has one (npm run build); the TypeScript sources through tsx otherwise (an older checkout given
 * as BENCH_BEFORE). tsx's loader thread and source maps are not what an operator runs.
 */
function gatewayEntry(from: string): string[] {
  const bundle = path.join(from, 'dist/conductor/bin.js')
  return existsSync(bundle) ? [bundle] : ['--import', 'tsx', path.join(from, 'conductor/bin.ts')]
}

async function startGateway(root: string, extra: string[], from = repo): Promise<number> {
  const port = await freePort()
  const gw = spawn(
    process.execPath,
    [
      ...gatewayEntry(from),
      'gateway',
      '--root',
      root,
      '--listen',
      `127.0.0.1:${port}`,
      '--metrics-listen',
      'none',
      '--log-level',
      GATEWAY_LOG,
      ...extra
    ],
    { cwd: from, stdio: ['ignore', 'ignore', 'inherit'] }
  )
  teardowns.push(() => stop(gw))
  await waitFor('gateway', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 60_000)
  return port
}

async function wrk(args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    p.on('error', reject)
    p.on('exit', code => (code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}: ${out}`))))
  })
}

function parseWrk(out: string): { rps: number; p99: string; non2xx: number } {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '?'
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  return { rps, p99, non2xx }
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return
  const exited = new Promise(resolve => p.once('exit', resolve))
  p.kill('SIGTERM')
  await exited
}

try {
  await main()
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
