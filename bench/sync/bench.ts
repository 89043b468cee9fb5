import { readFileSync, writeFileSync } from 'node:fs'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import os from 'node:os'
import path from 'node:path'
import { makeServiceDir } from '../fleet-archive/service-dir.js'
import { startConductorHost, type ConductorHost } from '../../test/harness/conductor-host.js'
import { binPath } from '../../test/harness/cli.js'
import { startHosts } from '../../test/harness/netns.js'
import { waitFor } from '../../test/harness/ports.js'
import { tempDir } from '../../test/harness/tmp.js'

// bench/sync (issue 18): three hosts in network namespaces running Conductor (the peers
// harness), joined into one cluster. Push-to-all latency: from the start of `conductor fleet
// push` on host 1 until every host's sync daemon reports the version installed (its status
// file), for service directories of 1 MiB and 20 MiB (bench/fleet-archive/service-dir.ts, new
// content each run), and the throughput that makes (MiB/s). Then `fleet push` of 100 small
// services in one command. Markdown out.

const RUNS = Number(process.env.RUNS ?? 3)
const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}

const installed = (h: ConductorHost, service: string): string | undefined => {
  try {
    return (
      JSON.parse(readFileSync(path.join(h.root, 'run/conductor/fleet-sync.json'), 'utf8')) as {
        services: Record<string, { version?: string }>
      }
    ).services[service]?.version
  } catch {
    return undefined
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const startLoad = os
  .loadavg()
  .map(x => x.toFixed(1))
  .join(' ')

try {
  const fleet = await startHosts(t, { count: 3 })
  const hosts = await Promise.all(fleet.hosts.map(async (h, i) => await startConductorHost(t, h, `h${i + 1}`)))
  const [a, b, c] = hosts as [ConductorHost, ConductorHost, ConductorHost]
  const inv = JSON.parse((await a.cnd('peer', 'invite', '--json')).stdout) as { secret: string }
  let add = await b.cnd('peer', 'add', a.host.ip, inv.secret, '--ca-file', a.caddy.caFile)
  for (let i = 0; i < 3 && /cannot reach/.test(add.stderr); i++)
    add = await b.cnd('peer', 'add', a.host.ip, inv.secret, '--ca-file', a.caddy.caFile)
  if (add.code !== 0) throw new Error(add.stderr)
  await waitFor('h1, h2 clustered', () => a.state().clustered && b.state().clustered, 120_000, 200)
  await new Promise(resolve => setTimeout(resolve, 5000))
  const inv3 = JSON.parse((await c.cnd('peer', 'invite', '--json')).stdout) as { secret: string }
  const addC = await a.cnd('peer', 'add', c.host.ip, inv3.secret, '--ca-file', c.caddy.caFile)
  if (addC.code !== 0) throw new Error(addC.stderr)
  await waitFor(
    'all clustered, sync running',
    () =>
      hosts.every(h => {
        try {
          return (
            h.state().clustered &&
            Date.now() -
              (
                JSON.parse(readFileSync(path.join(h.root, 'run/conductor/fleet-sync.json'), 'utf8')) as {
                  updated_at: number
                }
              ).updated_at <
              3000
          )
        } catch {
          return false
        }
      }),
    180_000,
    200
  )
  // As the e2e test does: the joins scale the fleet's buckets to 3 replicas; the numbers are for
  // a cluster that has settled (every replica current), not for the minute after a join.
  const auth = (
    JSON.parse(readFileSync(path.join(a.root, 'var/lib/conductor/cluster/cluster.json'), 'utf8')) as {
      nats_auth: { user: string; password: string }
    }
  ).nats_auth
  const nc = await connect({
    servers: `127.0.0.1:${await a.host.forward(4222)}`,
    user: auth.user,
    pass: auth.password,
    ignoreClusterUpdates: true,
    maxReconnectAttempts: -1
  })
  t.teardown(async () => await nc.close())
  const jsm = await jetstreamManager(nc)
  const settledAt = Date.now()
  await waitFor(
    "the fleet's streams at 3 replicas, every one current",
    async () => {
      for (const name of ['KV_conductor-service-versions', 'OBJ_conductor-services', 'KV_conductor-sync-status']) {
        const i = await jsm.streams.info(name)
        const replicas = i.cluster?.replicas ?? []
        if (i.config.num_replicas !== 3 || !i.cluster?.leader || replicas.length !== 2) return false
        if (!replicas.every(r => r.current && !r.offline)) return false
      }
      return true
    },
    120_000,
    250
  )
  process.stderr.write(`cluster settled (buckets R3, replicas current) after ${Date.now() - settledAt} ms more\n`)
  const src = tempDir(t)
  const rows: string[] = []
  let seed = 1
  for (const mib of [1, 20]) {
    const times: number[] = []
    const cmd: number[] = []
    for (let run = 0; run < RUNS; run++) {
      const dir = path.join(src, `s${mib}-${run}`, `blob${mib}`)
      makeServiceDir(dir, mib * 1024 * 1024, seed++)
      writeFileSync(path.join(dir, 'conductor-service.json'), '{"config": {}}\n')
      const version = `r${run}`
      const t0 = Date.now()
      const r = await a.cnd('fleet', 'push', dir, '--set-version', version)
      if (r.code !== 0) throw new Error(`fleet push ${mib} MiB: exit ${r.code}: ${r.stderr}`)
      cmd.push(Date.now() - t0)
      await waitFor(`${mib} MiB on all`, () => hosts.every(h => installed(h, `blob${mib}`) === version), 120_000, 20)
      times.push(Date.now() - t0)
      // Each host's own account (its sync task's log line): how old the record was when its watch
      // delivered it, the fetch and install, then the reconcile.
      const line = (h: ConductorHost): string | undefined =>
        new RegExp(`blob${mib} \\w+ at version ${version} in (\\d+ ms \\([^)]*\\))`).exec(h.logs())?.[1]
      await waitFor('the sync log lines', () => hosts.every(h => line(h) !== undefined), 10_000, 100).catch(() => {})
      const lines = hosts.map(h => `${h.id} ${line(h) ?? '?'}`)
      process.stderr.write(
        `${mib} MiB ${version}: push ${cmd.at(-1)} ms, on all ${times.at(-1)} ms; ${lines.join('; ')}\n`
      )
    }
    // Throughput: the directory's size over the command's time (stored, replicated to the
    // bucket's quorum) and over the time until every host has it installed.
    const rate = (ms: number): string => (mib / (ms / 1000)).toFixed(1)
    rows.push(
      `| ${mib} MiB | ${RUNS} | ${median(cmd)} | ${median(times)} | ${Math.max(...times)} | ` +
        `${rate(median(cmd))} | ${rate(median(times))} |`
    )
    process.stderr.write(`${rows.at(-1)!}\n`)
  }
  const many: string[] = []
  for (let i = 0; i < 100; i++) {
    const dir = path.join(src, 'many', `small-${String(i).padStart(3, '0')}`)
    makeServiceDir(dir, 8 * 1024, 1000 + i)
    writeFileSync(path.join(dir, 'conductor-service.json'), '{"config": {}}\n')
    many.push(dir)
  }
  const t0 = Date.now()
  // One command, 100 services: longer than the harness's 60 s bound for a CLI run on a loaded machine.
  const r = await a.host.exec(process.execPath, [binPath, 'fleet', 'push', ...many], { timeoutMs: 900_000 })
  if (r.code !== 0) throw new Error(`fleet push of 100 services: exit ${r.code}: ${r.stderr}${r.stdout.slice(-2000)}`)
  const pushMs = Date.now() - t0
  await waitFor(
    '100 services on all',
    () => hosts.every(h => many.every(d => installed(h, path.basename(d)) !== undefined)),
    300_000,
    100
  )
  const allMs = Date.now() - t0
  const cpu = os.cpus()
  const load = os
    .loadavg()
    .map(x => x.toFixed(1))
    .join(' ')
  console.log(
    `${new Date().toISOString()}; ${cpu.length} x ${cpu[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
      `load average (1, 5, 15 min) at the start ${startLoad}, at the end ${load}\n`
  )
  console.log(
    '| service dir | runs | `fleet push` returns (median ms) | on all 3 hosts (median ms) | max ms | ' +
      'push MiB/s | to all hosts MiB/s |'
  )
  console.log('|---|---|---|---|---|---|---|')
  for (const row of rows) console.log(row)
  console.log(
    `\n100 small services (8 KiB each) in one \`fleet push\`: the command ${pushMs} ms ` +
      `(${(100 / (pushMs / 1000)).toFixed(1)} services/s), installed on all 3 hosts after ${allMs} ms`
  )
} finally {
  for (const fn of teardowns.reverse()) {
    try {
      await fn()
    } catch {
      /* best effort */
    }
  }
}
