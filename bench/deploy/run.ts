import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cli, cliProcess } from '../../test/harness/cli.js'
import { startDeployHost } from '../../test/harness/deploy-host.js'
import { waitFor } from '../../test/harness/ports.js'

// For each deploy: total time, time from the new deployment's first ready answer to Caddy
// routing to it (the "switch routes" step, which starts when the readiness probe got its first
// 200 and ends when Caddy's admin API has applied the new config: kamal-proxy polls health
// once per second, so its switch takes up to 1 s), and what the load saw during all the
// deploys: one wrk on keep-alive connections, one wrk opening a connection per request.

const deploys = Number(process.env.DEPLOYS ?? 20)
const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }
const svc = `bench${Math.random().toString(36).slice(2, 6)}`


async function main (): Promise<void> {
  const { caddy, env } = await startDeployHost(t, { svc, rootPrefix: 'conductor-bench-deploy-', version: '0', readiness: { http_path: '/', interval_ms: 50 }, drainTimeoutSec: 5 })
  await cli(['system', 'install'], env)
  const r = await cli(['reload'], env)
  if (r.code !== 0) throw new Error(r.stdout + r.stderr)
  const url = `http://127.0.0.1:${caddy.httpPort}/`
  await waitFor('first version', async () => (await (await fetch(url)).text()).includes('version 0'), 30_000, 100)

  // wrk stops on SIGINT (and prints its numbers) once the deploys are done: the duration is
  // only an upper bound, far above what N deploys take on a loaded machine.
  const duration = deploys * 120 + 60
  // Two loads at once, through Caddy: keep-alive connections (what wrk does by default) and a
  // fresh connection per request (`Connection: close`), because Caddy treats them differently
  // at a config reload (README "Zero-downtime deploys").
  const load = (args: string[]): { stop: () => Promise<string> } => {
    const p = spawn('wrk', ['-t1', '-c4', `-d${duration}s`, ...args, url], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise(resolve => p.once('exit', resolve))
    return {
      stop: async () => {
        if (p.exitCode !== null || p.signalCode !== null) throw new Error(`wrk ${args.join(' ')} ended before the deploys did: its numbers would not cover them`)
        p.kill('SIGINT')
        await exited
        return out
      }
    }
  }
  const keepAlive = load([])
  const fresh = load(['-H', 'Connection: close'])
  await new Promise(resolve => setTimeout(resolve, 1000))
  const rows: Array<{ wall: number, total: number, start: number, ready: number, switch: number, drain: number, stop: number }> = []
  for (let i = 1; i <= deploys; i++) {
    const t0 = performance.now()
    const d = await cliProcess(['deploy', svc, '--set', `VERSION=${i}`, '--json'], env)
    const wall = performance.now() - t0
    if (d.code !== 0) throw new Error(`deploy ${i}: ${d.stderr}`)
    const steps = (JSON.parse(d.stdout) as Array<{ steps: Array<{ name: string, ms: number }> }>)[0]!.steps
    const ms = (name: string): number => steps.filter(s => s.name === name).reduce((n, s) => n + s.ms, 0)
    rows.push({ wall, total: steps.reduce((n, s) => n + s.ms, 0), start: ms('start new deployment'), ready: ms('wait for readiness'), switch: ms('switch routes'), drain: ms('drain old deployment'), stop: ms('stop old deployment') })
    process.stderr.write(`deploy ${i}/${deploys}: ${wall.toFixed(0)} ms, switch ${ms('switch routes').toFixed(0)} ms\n`)
  }
  await new Promise(resolve => setTimeout(resolve, 1000))
  const outs = { keepAlive: await keepAlive.stop(), fresh: await fresh.stop() }
  const final = await (await fetch(url)).text()
  const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b)
  const med = (xs: number[]): number => sorted(xs)[Math.floor(xs.length / 2)]!
  const max = (xs: number[]): number => Math.max(...xs)
  const row = (what: string, xs: number[]): string => `| ${what} | ${med(xs).toFixed(0)} ms | ${max(xs).toFixed(0)} ms |`
  const wrkLine = (what: string, out: string): string => {
    const requests = /(\d+) requests in/.exec(out)?.[1] ?? '?'
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0'
    const sockErr = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none'
    return `| ${what} | ${requests} | ${non2xx} | ${sockErr} |`
  }
  console.log(`${deploys} deploys of a busybox httpd pod (ready at once) behind Caddy ${caddyVersion()}, load through Caddy throughout; final answer: ${final.trim()}`)
  console.log(`net.ipv4.tcp_migrate_req=${readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim()}, load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  console.log('')
  console.log('| measure | median | max |')
  console.log('|---|---|---|')
  console.log(row('`conductor deploy` process, wall clock (includes Node start)', rows.map(r => r.wall)))
  console.log(row('whole deploy (start, ready, switch, drain, stop old)', rows.map(r => r.total)))
  console.log(row('start new deployment (templates, unit, kube play)', rows.map(r => r.start)))
  console.log(row('new deployment ready (unit active to first 200 of the probe)', rows.map(r => r.ready)))
  console.log(row('first ready answer -> Caddy routes to it (switch routes)', rows.map(r => r.switch)))
  console.log(row('drain of the old deployment', rows.map(r => r.drain)))
  console.log(row('stop old deployment (unit stop, pod removed)', rows.map(r => r.stop)))
  console.log('')
  console.log('| load (wrk -t1 -c4 each, both at once) | requests | non-2xx | socket errors |')
  console.log('|---|---|---|---|')
  console.log(wrkLine('keep-alive connections', outs.keepAlive))
  console.log(wrkLine('a connection per request (Connection: close)', outs.fresh))
}

function caddyVersion (): string {
  try { return execFileSync('caddy', ['version'], { encoding: 'utf8' }).split(' ')[0]!.trim() } catch { return '?' }
}

main().catch(err => { console.error(err); process.exitCode = 1 }).finally(async () => {
  for (const fn of teardowns.reverse()) { try { await fn() } catch { /* best effort */ } }
})
