import { readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { makeServiceDir } from '../fleet-archive/service-dir.js'
import { startConductorHost, type ConductorHost } from '../../test/harness/conductor-host.js'
import { startHosts } from '../../test/harness/netns.js'
import { waitFor } from '../../test/harness/ports.js'
import { tempDir } from '../../test/harness/tmp.js'

// bench/sync (issue 18): three hosts in network namespaces running Conductor (the peers
// harness), joined into one cluster. Push-to-all latency: from the start of `conductor fleet
// push` on host 1 until every host's sync daemon reports the version installed (its status
// file), for service directories of 1 MiB and 20 MiB (bench/fleet-archive/service-dir.ts, new
// content each run). Then `fleet push` of 100 small services in one command. Markdown out.

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
      if (r.code !== 0) throw new Error(r.stderr)
      cmd.push(Date.now() - t0)
      await waitFor(`${mib} MiB on all`, () => hosts.every(h => installed(h, `blob${mib}`) === version), 120_000, 20)
      times.push(Date.now() - t0)
    }
    rows.push(`| ${mib} MiB | ${RUNS} | ${median(cmd)} | ${median(times)} | ${Math.max(...times)} |`)
  }
  const many: string[] = []
  for (let i = 0; i < 100; i++) {
    const dir = path.join(src, 'many', `small-${String(i).padStart(3, '0')}`)
    makeServiceDir(dir, 8 * 1024, 1000 + i)
    writeFileSync(path.join(dir, 'conductor-service.json'), '{"config": {}}\n')
    many.push(dir)
  }
  const t0 = Date.now()
  const r = await a.cnd('fleet', 'push', ...many)
  if (r.code !== 0) throw new Error(r.stderr)
  const pushMs = Date.now() - t0
  await waitFor(
    '100 services on all',
    () => hosts.every(h => many.every(d => installed(h, path.basename(d)) !== undefined)),
    300_000,
    100
  )
  const allMs = Date.now() - t0
  console.log(
    `load average at the end: ${os
      .loadavg()
      .map(x => x.toFixed(1))
      .join(' ')}; cores: ${os.cpus().length}\n`
  )
  console.log('| service dir | runs | `fleet push` returns (median ms) | on all 3 hosts (median ms) | max ms |')
  console.log('|---|---|---|---|---|')
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
