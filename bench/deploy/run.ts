import { execFile, execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { binPath, cli } from '../../test/harness/cli.js'
import { startDeployHost } from '../../test/harness/deploy-host.js'
import { waitFor } from '../../test/harness/ports.js'
import { podsNamed } from '../../test/harness/systemd.js'

// For each deploy: total time, time from the new deployment's first ready answer to Caddy
// routing to it (the "switch routes" step, which starts when the readiness probe got its first
// 200 and ends when Caddy's admin API has applied the new config: kamal-proxy polls health
// once per second, so its switch takes up to 1 s), and what the load saw during all the
// deploys: one wrk on keep-alive connections, one wrk opening a connection per request.
// BENCH_BEFORE_BIN=/path/to/other/dist/conductor/bin.js: the deploys alternate between this
// build and that one (same host, same service, each replacing the other's deployment), and
// the table has a column per build: side by side in one run on a noisy machine.

const deploys = Number(process.env.DEPLOYS ?? 20)
const before = process.env.BENCH_BEFORE_BIN
// BENCH_LOAD=0: no wrk load during the deploys, for the deploy's own time on a quiet machine
// (the zero-downtime guarantee is measured with the load, the default).
const withLoad = process.env.BENCH_LOAD !== '0'
const builds: Array<[string, string]> = [['this build', binPath]]
if (before !== undefined && before !== '') builds.push(['before (BENCH_BEFORE_BIN)', before])

interface Row {
  wall: number
  total: number
  start: number
  ready: number
  switch: number
  drain: number
  stop: number
}

type Result = { code: number; stdout: string; stderr: string }
async function deployWith(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return await new Promise(resolve => {
    const opts = { env: { PATH: process.env.PATH, ...env }, maxBuffer: 16 << 20 }
    execFile(process.execPath, [bin, ...args], opts, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}
const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}
const svc = `bench${Math.random().toString(36).slice(2, 6)}`

async function main(): Promise<void> {
  const { caddy, env } = await startDeployHost(t, {
    svc,
    rootPrefix: 'conductor-bench-deploy-',
    version: '0',
    readiness: { http_path: '/', interval_ms: 50 },
    drainTimeoutSec: 5
  })
  await cli(['system', 'install'], env)
  const r = await cli(['reload'], env)
  if (r.code !== 0) throw new Error(r.stdout + r.stderr)
  const url = `http://127.0.0.1:${caddy.httpPort}/`
  await waitFor('first version', async () => (await (await fetch(url)).text()).includes('version 0'), 30_000, 100)

  // wrk stops on SIGINT (and prints its numbers) once the deploys are done: the duration is
  // only an upper bound, far above what N deploys take on a loaded machine.
  const duration = deploys * builds.length * 120 + 60
  // Two loads at once, through Caddy: keep-alive connections (what wrk does by default) and a
  // fresh connection per request (`Connection: close`), because Caddy treats them differently
  // at a config reload (README "Zero-downtime deploys").
  const load = (args: string[]): { stop: () => Promise<string> } => {
    if (!withLoad) return { stop: async () => 'no load (BENCH_LOAD=0)' }
    const p = spawn('wrk', ['-t1', '-c4', `-d${duration}s`, ...args, url], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const exited = new Promise(resolve => p.once('exit', resolve))
    return {
      stop: async () => {
        if (p.exitCode !== null || p.signalCode !== null)
          throw new Error(`wrk ${args.join(' ')} ended before the deploys did: its numbers would not cover them`)
        p.kill('SIGINT')
        await exited
        return out
      }
    }
  }
  const keepAlive = load([])
  const fresh = load(['-H', 'Connection: close'])
  await new Promise(resolve => setTimeout(resolve, 1000))
  const rows: Row[][] = builds.map(() => [])
  let version = 0
  for (let i = 1; i <= deploys; i++) {
    for (let b = 0; b < builds.length; b++) {
      // Each round starts with a different build, so a load that drifts weighs on both alike.
      const k = (b + i) % builds.length
      const [label, bin] = builds[k]!
      // A deploy no longer waits for the old pod's removal (systemd does it): let it finish
      // first, as it would between real deploys, so that Podman's work for the one before does
      // not count in this one.
      await waitFor('the previous old pod removed', async () => podsNamed(`${svc}-`).length <= 1, 120_000, 100)
      const t0 = performance.now()
      const d = await deployWith(bin, ['deploy', svc, '--set', `VERSION=${++version}`, '--json'], env)
      const wall = performance.now() - t0
      if (d.code !== 0) throw new Error(`deploy ${i} (${label}): ${d.stderr}`)
      const steps = (JSON.parse(d.stdout) as Array<{ steps: Array<{ name: string; ms: number }> }>)[0]!.steps
      const ms = (name: string): number => steps.filter(s => s.name === name).reduce((n, s) => n + s.ms, 0)
      rows[k]!.push({
        wall,
        total: steps.reduce((n, s) => n + s.ms, 0),
        start: ms('start new deployment'),
        ready: ms('wait for readiness'),
        switch: ms('switch routes'),
        drain: ms('drain old deployment'),
        stop: ms('stop old deployment')
      })
      process.stderr.write(
        `deploy ${i}/${deploys} (${label}): ${wall.toFixed(0)} ms, ` + `switch ${ms('switch routes').toFixed(0)} ms\n`
      )
    }
  }
  await new Promise(resolve => setTimeout(resolve, 1000))
  const outs = { keepAlive: await keepAlive.stop(), fresh: await fresh.stop() }
  const final = await (await fetch(url)).text()
  const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b)
  const med = (xs: number[]): number => sorted(xs)[Math.floor(xs.length / 2)]!
  const max = (xs: number[]): number => Math.max(...xs)
  const row = (what: string, f: (r: Row) => number): string =>
    `| ${what} | ${rows.map(rs => `${med(rs.map(f)).toFixed(0)} ms | ${max(rs.map(f)).toFixed(0)} ms`).join(' | ')} |`
  const wrkLine = (what: string, out: string): string => {
    const requests = /(\d+) requests in/.exec(out)?.[1] ?? '?'
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? '0'
    const sockErr = /Socket errors: (.*)/.exec(out)?.[1] ?? 'none'
    return `| ${what} | ${requests} | ${non2xx} | ${sockErr} |`
  }
  console.log(
    `${deploys} deploys per build (${builds.map(b => b[0]).join(', ')}) of a busybox httpd pod (ready at once) ` +
      `behind Caddy ${caddyVersion()}, ${withLoad ? 'load through Caddy throughout' : 'no load (BENCH_LOAD=0)'}; final answer: ${final.trim()}`
  )
  console.log(
    `net.ipv4.tcp_migrate_req=${readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim()}, load average at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`
  )
  console.log('')
  console.log(`| measure | ${builds.map(b => `${b[0]}: median | max`).join(' | ')} |`)
  console.log(`|---|${builds.map(() => '---|---|').join('')}`)
  console.log(row('`conductor deploy` process, wall clock (includes Node start)', r => r.wall))
  console.log(row('whole deploy (start, ready, switch, drain, stop old)', r => r.total))
  console.log(row('start new deployment (templates, unit, kube play)', r => r.start))
  console.log(row('new deployment ready (unit active to first 200 of the probe)', r => r.ready))
  console.log(row('first ready answer -> Caddy routes to it (switch routes)', r => r.switch))
  console.log(row('drain of the old deployment', r => r.drain))
  console.log(row('stop old deployment (unit stop queued or waited for)', r => r.stop))
  if (!withLoad) return
  console.log('')
  console.log('| load (wrk -t1 -c4 each, both at once) | requests | non-2xx | socket errors |')
  console.log('|---|---|---|---|')
  console.log(wrkLine('keep-alive connections', outs.keepAlive))
  console.log(wrkLine('a connection per request (Connection: close)', outs.fresh))
}

function caddyVersion(): string {
  try {
    return execFileSync('caddy', ['version'], { encoding: 'utf8' }).split(' ')[0]!.trim()
  } catch {
    return '?'
  }
}

main()
  .catch(err => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) {
      try {
        await fn()
      } catch {
        /* best effort */
      }
    }
  })
