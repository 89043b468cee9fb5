import path from 'node:path'
import { spawn } from 'node:child_process'
import { startCaddy } from '../../test/harness/caddy.js'
import { cli, cliProcess, repoRoot } from '../../test/harness/cli.js'
import { waitFor } from '../../test/harness/ports.js'
import { removePods, startUserManager } from '../../test/harness/systemd.js'
import { tempDir, writeTree } from '../../test/harness/tmp.js'

// For each deploy: total time, time from the new deployment's first ready answer to Caddy
// routing to it (the "register new routes" step: kamal-proxy polls health once per second,
// so its switch takes up to 1 s), and what wrk saw during all the deploys (errors, non-2xx).

const deploys = Number(process.env.DEPLOYS ?? 20)
const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }
// Pod (busybox httpd, a slow CGI, BROKEN=1 never ready) and proxy templates shared by the
// deploy e2e test and bench/deploy.
const fixtures = path.join(repoRoot, 'test/fixtures/deploy')
const svc = `bench${Math.random().toString(36).slice(2, 6)}`


async function main (): Promise<void> {
  const sd = await startUserManager(t)
  t.teardown(() => removePods(svc + '-'))
  const caddy = await startCaddy(t)
  const root = tempDir(t, 'conductor-bench-deploy-')
  const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user', HOME: root }
  writeTree(root, {
    'etc/conductor/host.json': { scope: 'user', caddy_admin: caddy.adminUrl },
    [`etc/conductor/services/${svc}/conductor-service.json`]: {
      config: { VERSION: '0' },
      pods: [{ name: '', pod_template: path.join(fixtures, 'pod.template'), ports: ['http'], readiness: { http_path: '/', interval_ms: 50 }, drain_timeout_sec: 5 }],
      proxy_config_template: path.join(fixtures, 'proxy.template')
    }
  })
  writeTree(sd.unitsDir, { 'caddy.service': '[Unit]\nDescription=stand-in\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n' })
  await cli(['system', 'install'], env)
  const r = await cli(['reload'], env)
  if (r.code !== 0) throw new Error(r.stdout + r.stderr)
  const url = `http://127.0.0.1:${caddy.httpPort}/`
  await waitFor('first version', async () => (await (await fetch(url)).text()).includes('version 0'), 30_000, 100)

  const duration = deploys * 6 + 30
  const wrk = spawn('wrk', ['-t1', '-c8', `-d${duration}s`, '--latency', url], { stdio: ['ignore', 'pipe', 'pipe'] })
  let wrkOut = ''
  wrk.stdout.on('data', (d: Buffer) => { wrkOut += d.toString() })
  const rows: Array<{ total: number, ready: number, switch: number, drain: number }> = []
  for (let i = 1; i <= deploys; i++) {
    const d = await cliProcess(['deploy', svc, '--set', `VERSION=${i}`, '--json'], env)
    if (d.code !== 0) throw new Error(`deploy ${i}: ${d.stderr}`)
    const steps = (JSON.parse(d.stdout) as Array<{ steps: Array<{ name: string, ms: number }> }>)[0]!.steps
    const ms = (name: string): number => steps.filter(s => s.name === name).reduce((n, s) => n + s.ms, 0)
    rows.push({ total: steps.reduce((n, s) => n + s.ms, 0), ready: ms('wait for readiness'), switch: ms('register new routes'), drain: ms('drain old deployment') })
  }
  wrk.kill('SIGINT')
  await new Promise(resolve => wrk.once('exit', resolve))
  const final = await (await fetch(url)).text()
  const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
  const max = (xs: number[]): number => Math.max(...xs)
  const requests = /(\d+) requests in/.exec(wrkOut)?.[1] ?? '?'
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(wrkOut)?.[1] ?? '0'
  const sockErr = /Socket errors: (.*)/.exec(wrkOut)?.[1] ?? 'none'
  console.log(`${deploys} deploys of a busybox httpd pod behind Caddy, wrk -c8 through Caddy throughout; final answer: ${final.trim()}`)
  console.log('')
  console.log('| measure | median | max |')
  console.log('|---|---|---|')
  console.log(`| whole deploy (start, ready, switch, drain, stop old) | ${med(rows.map(r => r.total)).toFixed(0)} ms | ${max(rows.map(r => r.total)).toFixed(0)} ms |`)
  console.log(`| new deployment ready (from unit start) | ${med(rows.map(r => r.ready)).toFixed(0)} ms | ${max(rows.map(r => r.ready)).toFixed(0)} ms |`)
  console.log(`| ready -> Caddy routes to it (register new routes) | ${med(rows.map(r => r.switch)).toFixed(0)} ms | ${max(rows.map(r => r.switch)).toFixed(0)} ms |`)
  console.log(`| drain of the old deployment | ${med(rows.map(r => r.drain)).toFixed(0)} ms | ${max(rows.map(r => r.drain)).toFixed(0)} ms |`)
  console.log('')
  console.log(`wrk: ${requests} requests, non-2xx: ${non2xx}, socket errors: ${sockErr}`)
}

main().catch(err => { console.error(err); process.exitCode = 1 }).finally(async () => {
  for (const fn of teardowns.reverse()) { try { await fn() } catch { /* best effort */ } }
})
