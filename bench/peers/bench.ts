import { readFileSync } from 'node:fs'
import os from 'node:os'
import { joinCluster, startConductorHost, type ConductorHost } from '../../test/harness/conductor-host.js'
import { startHosts } from '../../test/harness/netns.js'

// bench/peers (issue 17): N hosts in network namespaces, each running Conductor as a server does
// (test/harness/conductor-host.ts: units under its own user manager, Caddy with tls internal).
// Host 1 invites; the others join one at a time with `conductor peer add` (the seed's direction:
// the newcomer invites, host 1 adds it). For each add: the time until every host's peers policy
// trusts every member ("trust"), and until every nats-server routes to every other ("routes"),
// from the moment `peer add` returns. Then the RSS of each nats-server and fleet daemon.

const sizes = (process.env.SIZES ?? '3 5')
  .split(/\s+/)
  .filter(s => s !== '')
  .map(Number)
const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}

function rss(pid: number): number {
  const line =
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find(l => l.startsWith('VmRSS:')) ?? ''
  return Number(line.replace(/\D/g, '')) / 1024
}

function mainPid(h: ConductorHost, unit: string): number {
  return Number(/MainPID=(\d+)/.exec(h.sd.systemctl('show', '-p', 'MainPID', unit).stdout)?.[1] ?? 0)
}

interface Row {
  n: number
  join: number
  cmdMs: number
  trustMs: number
  routesMs: number
}
const rows: Row[] = []
const startLoad = os
  .loadavg()
  .map(l => l.toFixed(1))
  .join(' ')
const mem: Array<{ n: number; host: string; nats: number; daemon: number }> = []

try {
  for (const n of sizes) {
    const fleet = await startHosts(t, { count: n })
    const t0 = Date.now()
    const hosts = await Promise.all(fleet.hosts.map(async (h, i) => await startConductorHost(t, h, `h${i + 1}`)))
    process.stderr.write(
      `N=${n}: ${n} hosts installed and started in ${Date.now() - t0} ms (load ${os.loadavg()[0]!.toFixed(1)})\n`
    )
    for (const [i, j] of (await joinCluster(hosts)).entries()) {
      rows.push({ n, join: i + 2, cmdMs: j.cmdMs, trustMs: j.trustMs, routesMs: j.routesMs })
      process.stderr.write(
        `N=${n} member ${i + 2}: peer add ${j.cmdMs} ms, trust +${j.trustMs} ms, routes +${j.routesMs} ms\n`
      )
    }
    // Some heartbeats into the bucket, then memory.
    await new Promise(resolve => setTimeout(resolve, 5000))
    for (const h of hosts)
      mem.push({
        n,
        host: h.id,
        nats: rss(mainPid(h, 'conductor-nats.service')),
        daemon: rss(mainPid(h, 'conductor-sync.service'))
      })
    for (const fn of teardowns.splice(0).reverse()) await fn()
  }
} finally {
  for (const fn of teardowns.reverse()) await fn()
}

const load = os
  .loadavg()
  .map(l => l.toFixed(1))
  .join(' ')
const cpu = os.cpus()
console.log(
  `${new Date().toISOString()}; ${cpu.length} x ${cpu[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
    `load average (1, 5, 15 min) at the start ${startLoad}, at the end ${load}\n`
)
console.log(
  '| N | member joining | `peer add` (ms) | every host trusts it (ms after) | full mesh of routes (ms after) | ' +
    'from `peer add` to every host converged (ms) |'
)
console.log('|---|---|---|---|---|---|')
for (const r of rows) {
  // Converged: every policy trusts every member and every server routes to every other.
  const total = r.cmdMs + Math.max(r.trustMs, r.routesMs)
  console.log(`| ${r.n} | ${r.join} | ${r.cmdMs} | ${r.trustMs} | ${r.routesMs} | ${total} |`)
}
console.log('\n| N | nats-server RSS per host (MiB) | fleet daemon RSS per host (MiB) |')
console.log('|---|---|---|')
for (const n of sizes) {
  const m = mem.filter(x => x.n === n)
  const fmt = (xs: number[]): string =>
    `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} (mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)})`
  console.log(`| ${n} | ${fmt(m.map(x => x.nats))} | ${fmt(m.map(x => x.daemon))} |`)
}
