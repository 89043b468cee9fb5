import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { protectedRoute } from '../../caddy/index.js'
import { postCaddyConfig, startCaddy } from '../../test/harness/caddy.js'
import { makeKey, signToken } from '../../test/harness/jwt.js'
import { freePort, waitFor } from '../../test/harness/ports.js'
import { tempDir } from '../../test/harness/tmp.js'

// Where does the gateway's time go under forward_auth load? Runs the gateway with --cpu-prof
// behind a real Caddy, loads it with wrk for 10 s (static bearer, or `jwt` for ES256), and
// prints the steady-state CPU split (idle, node http/net, our /auth handler, policies, fastify).
// Usage: node --import tsx bench/forward-auth/profile.ts [bearer|jwt]

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}

try {
  const root = tempDir(t, 'conductor-prof-')
  const profDir = path.join(root, 'prof')
  mkdirSync(path.join(root, 'etc/conductor/policies'), { recursive: true })
  const es = makeKey('ES256')
  const token = 'bench-static-token-0123456789abcdef'
  writeFileSync(
    path.join(root, 'etc/conductor/policies/bench.json'),
    JSON.stringify({
      match: [
        {
          meta: { 'peer-id': 'b' },
          default_authorizations: { read: true },
          bearer: [{ token }, { public_key: es.pem }]
        }
      ]
    })
  )
  const credential =
    process.argv[2] === 'jwt' ? await signToken(es, { exp: Math.floor(Date.now() / 1000) + 3600 }) : token
  const port = await freePort()
  const gw = spawn(
    process.execPath,
    [
      '--cpu-prof',
      `--cpu-prof-dir=${profDir}`,
      '--import',
      'tsx',
      path.join(repo, 'conductor/bin.ts'),
      'gateway',
      '--root',
      root,
      '--listen',
      `127.0.0.1:${port}`,
      '--log-level',
      'warn'
    ],
    { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] }
  )
  await waitFor('gateway', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 60_000)
  const caddy = await startCaddy(t)
  await postCaddyConfig(
    `${caddy.adminUrl}/config/apps/http/servers/conductor/routes`,
    protectedRoute({ id: 'c', gateway: `127.0.0.1:${port}`, policy: 'bench', upstream: { static: { body: 'ok' } } })
  )
  await new Promise<void>(resolve => {
    const w = spawn(
      'wrk',
      ['-t2', '-c32', '-d10s', '-H', `Authorization: Bearer ${credential}`, `http://127.0.0.1:${caddy.httpPort}/c`],
      { stdio: ['ignore', 'inherit', 'inherit'] }
    )
    w.on('exit', () => resolve())
  })
  const exited = new Promise(resolve => gw.once('exit', resolve))
  gw.kill('SIGTERM')
  await exited
  const main = readdirSync(profDir)
    .map(f => path.join(profDir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0]!
  summarize(JSON.parse(readFileSync(main, 'utf8')) as Profile)
} finally {
  for (const fn of teardowns.reverse()) await fn()
}

interface Frame {
  functionName: string
  url: string
}
interface Profile {
  nodes: Array<{ id: number; callFrame: Frame; children?: number[] }>
  samples: number[]
  timeDeltas: number[]
  startTime: number
}

function summarize(p: Profile): void {
  const nodes = new Map(p.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  let time = p.startTime
  const stamps = p.timeDeltas.map(d => (time += d))
  const end = stamps[stamps.length - 1]!
  const split = new Map<string, number>()
  let total = 0
  p.samples.forEach((id, i) => {
    const age = end - stamps[i]!
    if (age > 8_500_000 || age < 500_000) return // steady state: the last 8 s of load
    const d = p.timeDeltas[i]!
    total += d
    const frames: Frame[] = []
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) frames.push(nodes.get(x)!.callFrame)
    const leaf = frames[0]!.functionName
    const urls = frames.map(f => f.url).join(' ')
    const bucket =
      leaf === '(idle)'
        ? 'idle'
        : leaf === '(garbage collector)'
          ? 'gc'
          : urls.includes('/policies/')
            ? 'policies (decide, caches)'
            : /auth-fast-path|auth-answer|authorize\.ts/.test(urls)
              ? 'gateway /auth handler (incl. writeHead/end socket writes)'
              : urls.includes('under-pressure')
                ? 'under-pressure sampling'
                : urls.includes('fastify')
                  ? 'fastify'
                  : /_http|node:net|stream/.test(urls)
                    ? 'node http/net (parse, socket)'
                    : 'other'
    split.set(bucket, (split.get(bucket) ?? 0) + d)
  })
  console.log('\n| where | share of gateway CPU samples |\n|---|---:|')
  for (const [k, v] of [...split].sort((a, b) => b[1] - a[1]))
    console.log(`| ${k} | ${((v / total) * 100).toFixed(1)}% |`)
}
