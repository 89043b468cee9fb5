// Gateway cold start: spawn -> first 200 from /healthz, side by side with a bare node:http
// server answering the same way (the floor: Node's own start). This time is most of the
// gateway's crash recovery (systemd restarts it after RestartSec=200ms).
// The gateway answers /auth and /healthz before Fastify has loaded (gateway/serve.ts), so two
// more columns: spawn -> first /auth answer, and spawn -> Fastify attached (a request only
// Fastify answers, sent right after the first /healthz, answered).
// The host has one policy and SERVICES services (10), validated once before the runs (the
// validation cache: a restart reads the same files); one more row starts with an empty cache.
// Usage: node bench/startup/gateway.mjs [RUNS=9]   (after npm run build; env SERVICES, BENCH_BEFORE_BIN)
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const runs = Number(process.argv[2] ?? 9)
const services = Number(process.env.SERVICES ?? 10)
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/conductor/bin.js')
const root = mkdtempSync(path.join(os.tmpdir(), 'cnd-bench-start-'))
const token = 'bench-token-'.padEnd(40, 'x')
mkdirSync(path.join(root, 'etc/conductor/policies'), { recursive: true })
const policy = path.join(root, 'etc/conductor/policies/p.json')
writeFileSync(policy, JSON.stringify({ match: [{ bearer: [{ token }] }] }))
chmodSync(policy, 0o600)
for (let i = 0; i < services; i++) {
  const dir = path.join(root, `etc/conductor/services/svc${i}`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(
    path.join(dir, 'conductor-service.json'),
    JSON.stringify({
      app_name: `svc${i}`,
      config: { TAG: `v${i}` },
      functions: [{ name: 'hello', exec: ['./hello.cgi'], policy: 'p' }]
    })
  )
}
const warmCache = path.join(root, 'cache-warm')

const freePort = () =>
  new Promise(resolve => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
const bare = 'require("http").createServer((q, s) => s.end("{\\"ok\\":true}")).listen(+process.argv[1], "127.0.0.1")'
const gateway = port => [
  process.execPath,
  [bin, '--root', root, 'gateway', '--listen', `127.0.0.1:${port}`, '--metrics-listen', 'none', '--log-level', 'warn']
]
const commands = {
  'node:http server (floor)': { make: port => [process.execPath, ['-e', bare, String(port)]] },
  'conductor gateway': { make: gateway, env: { CONDUCTOR_CACHE_DIR: warmCache }, gateway: true },
  'conductor gateway, empty validation cache': {
    make: gateway,
    env: { CONDUCTOR_CACHE_DIR: path.join(root, 'cache-cold') },
    gateway: true,
    cold: true
  }
}
// BENCH_BEFORE_BIN=.../dist/conductor/bin.js: another build's gateway beside this one.
const beforeBin = process.env.BENCH_BEFORE_BIN
if (beforeBin !== undefined) {
  commands[`gateway of ${beforeBin}`] = {
    make: port => [
      process.execPath,
      [
        beforeBin,
        '--root',
        root,
        'gateway',
        '--listen',
        `127.0.0.1:${port}`,
        '--metrics-listen',
        'none',
        '--log-level',
        'warn'
      ]
    ],
    env: { CONDUCTOR_CACHE_DIR: warmCache },
    gateway: true
  }
}

async function once({ make, env, gateway, cold }) {
  if (cold === true) rmSync(env.CONDUCTOR_CACHE_DIR, { recursive: true, force: true })
  const port = await freePort()
  const [cmd, args] = make(port)
  const t0 = performance.now()
  const p = spawn(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } })
  const base = `http://127.0.0.1:${port}`
  for (;;) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break
    } catch {}
    if (p.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  const healthz = performance.now() - t0
  let auth, fastify
  if (gateway === true) {
    // Both sent now, in parallel: /auth is answered by the fast path, the other one waits for Fastify.
    await Promise.all([
      fetch(`${base}/auth?policy=p`, { headers: { authorization: `Bearer ${token}` } }).then(r => {
        if (r.status !== 200) throw new Error(`/auth ${r.status}`)
        auth = performance.now() - t0
      }),
      fetch(`${base}/.conductor/functions/none`).then(r => {
        if (r.status !== 404) throw new Error(`probe ${r.status}`)
        fastify = performance.now() - t0
      })
    ])
  }
  p.kill('SIGKILL')
  await new Promise(resolve => p.once('exit', resolve))
  return { healthz, auth, fastify }
}

// Fills the validation cache (what every later start of the same files finds).
await once(commands['conductor gateway'])
const results = Object.fromEntries(Object.keys(commands).map(k => [k, []]))
for (let i = 0; i < runs; i++) for (const [name, c] of Object.entries(commands)) results[name].push(await once(c)) // interleaved
rmSync(root, { recursive: true, force: true })
const median = xs => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const floor = median(results['node:http server (floor)'].map(r => r.healthz))
console.log(
  `Gateway cold start: ${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} cores, load ${os
    .loadavg()
    .map(l => l.toFixed(1))
    .join(' ')}, ${runs} interleaved starts each, ${services} services`
)
console.log(
  '\n| process | median spawn -> /healthz 200 (ms) | min | max | vs floor | spawn -> first /auth 200 | spawn -> Fastify attached |\n|---|---:|---:|---:|---:|---:|---:|'
)
for (const [name, rs] of Object.entries(results)) {
  const xs = rs.map(r => r.healthz)
  const opt = key => (rs[0][key] === undefined ? '' : median(rs.map(r => r[key])).toFixed(0))
  console.log(
    `| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${(median(xs) / floor).toFixed(2)}× | ${opt('auth')} | ${opt('fastify')} |`
  )
}
