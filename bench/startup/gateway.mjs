// Gateway cold start: spawn -> first 200 from /healthz, side by side with a bare node:http
// server answering the same way (the floor: Node's own start). This time is most of the
// gateway's crash recovery (systemd restarts it after RestartSec=200ms).
// Usage: node bench/startup/gateway.mjs [RUNS=9]   (after npm run build)
import { spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const runs = Number(process.argv[2] ?? 9)
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/conductor/bin.js')
const root = mkdtempSync(path.join(os.tmpdir(), 'cnd-bench-start-'))
mkdirSync(path.join(root, 'etc/conductor/policies'), { recursive: true })
writeFileSync(path.join(root, 'etc/conductor/policies/p.json'), JSON.stringify({ match: [{ bearer: [{ token: 'bench-token-'.padEnd(40, 'x') }] }] }))

const freePort = () => new Promise(resolve => { const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)) }) })
const bare = 'require("http").createServer((q, s) => s.end("{\\"ok\\":true}")).listen(+process.argv[1], "127.0.0.1")'
const commands = {
  'node:http server (floor)': port => [process.execPath, ['-e', bare, String(port)]],
  'conductor gateway': port => [process.execPath, [bin, '--root', root, 'gateway', '--listen', `127.0.0.1:${port}`, '--metrics-listen', 'none', '--log-level', 'warn']]
}

async function once (make) {
  const port = await freePort()
  const [cmd, args] = make(port)
  const t0 = performance.now()
  const p = spawn(cmd, args, { stdio: 'inherit' })
  for (;;) {
    try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break } catch {}
    if (p.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  const ms = performance.now() - t0
  p.kill('SIGKILL')
  await new Promise(resolve => p.once('exit', resolve))
  return ms
}

const results = Object.fromEntries(Object.keys(commands).map(k => [k, []]))
for (let i = 0; i < runs; i++) for (const [name, make] of Object.entries(commands)) results[name].push(await once(make)) // interleaved
rmSync(root, { recursive: true, force: true })
const median = xs => [...xs].sort((a, b) => a - b)[xs.length >> 1]
console.log(`Gateway cold start: ${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} cores, load ${os.loadavg().map(l => l.toFixed(1)).join(' ')}, ${runs} interleaved starts each`)
console.log('\n| process | median spawn -> /healthz 200 (ms) | min | max |\n|---|---|---|---|')
for (const [name, xs] of Object.entries(results)) console.log(`| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`)
