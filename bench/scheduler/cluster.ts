import os from 'node:os'
import path from 'node:path'
import { openSchedulerKv, readPlacementKv } from '../../conductor/scheduler/index.js'
import type { ConductorHost } from '../../test/harness/conductor-host.js'
import { startFleetOfThree } from '../../test/harness/fleet-cluster.js'
import { waitFor } from '../../test/harness/ports.js'
import { tempDir, writeTree } from '../../test/harness/tmp.js'

// bench/scheduler, the live half (issue 19): three hosts in network namespaces running
// Conductor's fleet daemon (sync + scheduler). Push-to-running: from the start of `conductor
// fleet push` on host a until the service's unit is active on the host the scheduler placed it
// on (RUNS services, one at a time). Failover: a host holding a service is killed (every
// process of it, a power cut); from the kill until the service is active on another host; the
// host is restarted before the next run. Never host a: this process's NATS client reaches the
// cluster through a's server (as in the scheduler's e2e test). Markdown out.

const RUNS = Number(process.env.RUNS ?? 5)
const FAILOVERS = Number(process.env.FAILOVERS ?? 2)
const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}
const active = (h: ConductorHost, name: string): boolean =>
  h.sd.systemctl('is-active', `conductor-service@${name}.service`).stdout.trim() === 'active'
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

try {
  const loadAtStart = os.loadavg().map(x => x.toFixed(2))
  const started = Date.now()
  const { hosts, nc } = await startFleetOfThree(t, () => ({ resources: { vcpu: 4 } }))
  const kv = await openSchedulerKv(nc, 3)
  const setupMs = Date.now() - started
  const src = tempDir(t)
  // By key, from the stream's leader: listing the bucket would create a consumer at each poll.
  const where = async (name: string): Promise<string[]> => (await readPlacementKv(kv, name))?.value.hosts ?? []
  const push: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const name = `svc${i}`
    const dir = path.join(src, name)
    writeTree(dir, { 'conductor-service.json': { resources: { best: { vcpu: 1 } } } })
    const t0 = Date.now()
    const r = await hosts[0]!.cnd('fleet', 'push', dir)
    if (r.code !== 0) throw new Error(r.stderr)
    let on: ConductorHost | undefined
    await waitFor(
      `${name} running where placed`,
      async () => {
        const h = (await where(name))[0]
        on = hosts.find(x => x.id === h)
        return on !== undefined && active(on, name)
      },
      120_000,
      20
    )
    push.push(Date.now() - t0)
  }
  const failover: number[] = []
  const failedOver = new Set<string>()
  for (let i = 0; i < FAILOVERS; i++) {
    // A service not failed over yet, on a host other than a.
    let name = ''
    let placedOn = ''
    // The last host first (c, as the scheduler's e2e test kills).
    for (let j = 0; j < RUNS; j++) {
      const on = (await where(`svc${j}`))[0]
      if (on === undefined || on === hosts[0]!.id || failedOver.has(`svc${j}`)) continue
      if (name === '' || on > placedOn) [name, placedOn] = [`svc${j}`, on]
    }
    if (name === '') throw new Error(`no service left on a host other than ${hosts[0]!.id} to fail over`)
    failedOver.add(name)
    const victim = hosts.find(h => h.id === placedOn)!
    const t0 = Date.now()
    await victim.host.kill()
    await waitFor(
      `${name} running elsewhere`,
      async () => {
        const h = (await where(name))[0]
        const on = hosts.find(x => x.id === h)
        return on !== undefined && on !== victim && active(on, name)
      },
      120_000,
      20
    )
    failover.push(Date.now() - t0)
    await victim.restart(t)
  }
  const load = os.loadavg().map(x => x.toFixed(2))
  console.log(
    `${new Date().toISOString()}, load average ${loadAtStart.join(' ')} at the start, ${load.join(' ')} at the end, ` +
      `${os.cpus().length} cores`
  )
  console.log(`setup (three hosts, joined, synced): ${setupMs} ms\n`)
  console.log('| measure | runs | median | min | max |')
  console.log('|---|---:|---:|---:|---:|')
  console.log(
    `| push to running (fleet push → active where placed) | ${push.length} | ${median(push)} ms | ${Math.min(...push)} ms | ${Math.max(...push)} ms |`
  )
  console.log(
    `| failover (host killed → active elsewhere; dead_after_sec 5) | ${failover.length} | ${median(failover)} ms | ${Math.min(...failover)} ms | ${Math.max(...failover)} ms |`
  )
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
