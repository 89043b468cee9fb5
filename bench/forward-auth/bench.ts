import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { protectedRoute } from '../../caddy/index.js'
import { postCaddyConfig as post, startCaddy } from '../../test/harness/caddy.js'
import { makeKey, signToken } from '../../test/harness/jwt.js'
import { freePort, waitFor } from '../../test/harness/ports.js'
import { tempDir } from '../../test/harness/tmp.js'

// bench/forward-auth: the same Caddy, five routes, wrk on each in turn (issue 5):
//  a  no auth                      (Caddy static_response)
//  b  forward_auth -> Caddy static_response 200 on a second listener: the hop's own cost, our limit
//  c  forward_auth -> gateway, static bearer token
//  d  forward_auth -> gateway, JWT ES256 (the same token repeated: verified-token cache)
//  e  forward_auth -> gateway, JWT RS256
// Prints a markdown table with rps, p99 and the ratios c/b, d/b, e/b.

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const DURATION = process.env.BENCH_DURATION ?? '8s'
const CONNECTIONS = process.env.BENCH_CONNECTIONS ?? '32'
const THREADS = process.env.BENCH_THREADS ?? '2'
const GATEWAY_LOG = process.env.BENCH_GATEWAY_LOG ?? 'warn'
// Rounds interleave the cases (a b c d e, a b c d e, ...) and report each case's median, so a
// noisy neighbour slows all cases alike instead of one.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3')

const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }

async function main (): Promise<void> {
  const root = tempDir(t, 'conductor-bench-')
  const es = makeKey('ES256')
  const rs = makeKey('RS256')
  const token = 'bench-static-token-0123456789abcdef'
  mkdirSync(path.join(root, 'etc/conductor/policies'), { recursive: true })
  writeFileSync(path.join(root, 'etc/conductor/policies/bench.json'), JSON.stringify({
    match: [{ any: [
      { meta: { 'peer-id': 'bench' }, default_authorizations: { read: true }, bearer: [{ token }] },
      { meta: { 'peer-id': 'jwt' }, default_authorizations: { read: true }, bearer: [{ public_key: es.pem, audience: 'bench' }, { public_key: rs.pem, audience: 'bench' }] }
    ] }]
  }))
  const lifetime = { exp: Math.floor(Date.now() / 1000) + 3600, aud: 'bench' }
  const esToken = await signToken(es, lifetime)
  const rsToken = await signToken(rs, lifetime)

  const gwPort = await startGateway(root, [])
  // The same gateway without the raw fast path: what Fastify's own request handling costs.
  const slowPort = await startGateway(root, ['--no-fast-auth'])

  const caddy = await startCaddy(t)
  // A second listener answering 200 with an empty body: forward_auth's target for (b).
  const staticPort = await freePort()
  await post(`${caddy.adminUrl}/config/apps/http/servers/authstatic`, {
    listen: [`127.0.0.1:${staticPort}`], automatic_https: { disable: true },
    routes: [{ handle: [{ handler: 'static_response', status_code: 200, headers: { 'X-Conductor-Subject': ['bench'] } }] }]
  })
  const gateway = `127.0.0.1:${gwPort}`
  const ok = { static: { body: 'ok' } }
  // The product's route (caddy/routes.ts), as `caddy protect` and the function/command routes build it.
  await post(`${caddy.adminUrl}/config/apps/http/servers/conductor/routes/...`, [
    { '@id': 'a', match: [{ path: ['/a'] }], handle: [{ handler: 'static_response', status_code: 200, body: 'ok' }], terminal: true },
    protectedRoute({ id: 'b', path: ['/b'], gateway: `127.0.0.1:${staticPort}`, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'c', path: ['/c'], gateway, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'd', path: ['/d'], gateway, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'e', path: ['/e'], gateway, policy: 'bench', upstream: ok }),
    protectedRoute({ id: 'c-fastify', path: ['/c-fastify'], gateway: `127.0.0.1:${slowPort}`, policy: 'bench', upstream: ok })
  ])
  const base = `http://127.0.0.1:${caddy.httpPort}`
  const cases = [
    { id: 'a', what: 'no auth (Caddy static_response)', auth: undefined },
    { id: 'b', what: 'forward_auth -> Caddy static_response 200 (hop cost)', auth: undefined },
    { id: 'c', what: 'forward_auth -> gateway, static bearer', auth: token },
    { id: 'd', what: 'forward_auth -> gateway, JWT ES256', auth: esToken },
    { id: 'e', what: 'forward_auth -> gateway, JWT RS256', auth: rsToken },
    { id: 'c-fastify', what: 'as c, Fastify route only (--no-fast-auth)', auth: token }
  ]
  // Every route must answer 200 before we measure anything.
  for (const c of cases) {
    const res = await fetch(`${base}/${c.id}`, { headers: c.auth === undefined ? {} : { authorization: `Bearer ${c.auth}` } })
    if (res.status !== 200) throw new Error(`route ${c.id} answers ${res.status}`)
  }
  const runs: Record<string, Array<{ rps: number, p99: string, non2xx: number }>> = {}
  const argsOf = (c: typeof cases[number]): string[] => ['-t', THREADS, '-c', CONNECTIONS, '--latency', ...(c.auth === undefined ? [] : ['-H', `Authorization: Bearer ${c.auth}`]), `${base}/${c.id}`]
  for (const c of cases) await wrk(['-d', '2s', ...argsOf(c)]) // warm-up (JIT, connection pools)
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) (runs[c.id] ??= []).push(parseWrk(await wrk(['-d', DURATION, ...argsOf(c)])))
  }
  const results = Object.fromEntries(Object.entries(runs).map(([id, rs]) => [id, { ...rs.slice().sort((x, y) => x.rps - y.rps)[Math.floor(rs.length / 2)]!, non2xx: rs.reduce((n, r) => n + r.non2xx, 0) }]))
  const b = results.b!.rps
  const lines = [
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 16)}Z; wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}, median of ${ROUNDS} interleaved rounds, gateway log level ${GATEWAY_LOG}, load average before: ${os.loadavg().map(l => l.toFixed(1)).join(' ')}`,
    '',
    '| case | route | rps (median) | p99 (of that run) | non-2xx (all runs) | ratio to b |',
    '|---|---|---:|---:|---:|---:|',
    ...cases.map(c => { const r = results[c.id]!; return `| ${c.id} | ${c.what} | ${Math.round(r.rps)} | ${r.p99} | ${r.non2xx} | ${(r.rps / b).toFixed(2)} |` }),
    '',
    `c/b = ${(results.c!.rps / b).toFixed(2)} (target ≥ 0.95), d/b = ${(results.d!.rps / b).toFixed(2)} (target ≥ 0.90), e/b = ${(results.e!.rps / b).toFixed(2)}, c-fastify/b = ${(results['c-fastify']!.rps / b).toFixed(2)}`
  ]
  console.log(lines.join('\n'))
}

async function startGateway (root: string, extra: string[]): Promise<number> {
  const port = await freePort()
  const gw = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'conductor/bin.ts'), 'gateway', '--root', root, '--listen', `127.0.0.1:${port}`, '--metrics-listen', 'none', '--log-level', GATEWAY_LOG, ...extra],
    { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] })
  teardowns.push(() => stop(gw))
  await waitFor('gateway', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 60_000)
  return port
}

async function wrk (args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const p = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    p.on('error', reject)
    p.on('exit', code => code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}: ${out}`)))
  })
}

function parseWrk (out: string): { rps: number, p99: string, non2xx: number } {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '?'
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0)
  return { rps, p99, non2xx }
}

async function stop (p: ChildProcess): Promise<void> {
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
