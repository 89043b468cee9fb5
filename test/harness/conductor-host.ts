import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { DaemonStatus } from '../../conductor/cluster/status.js'
import { binPath } from './cli.js'
import { startHostCaddy, startHostUserManager, type HostCaddy } from './fleet-host.js'
import type { ExecResult, TestHost } from './netns.js'
import { waitFor } from './ports.js'
import { standInCaddyUnit, type UserManager } from './systemd.js'
import { writeTree } from './tmp.js'

// A test host (test/harness/netns.ts) running Conductor the way a server does: its own user
// manager, its Caddy (tls internal on its IP; a stand-in caddy.service so the units that
// Require= it start), then `conductor system install` (units, the peer identity, the NATS config)
// and the units enabled and started: conductor-nats.service (the product's own config),
// conductor-sync.service (the fleet daemon), conductor-gateway.socket/.service; finally
// `conductor reload`, which registers the built-in peer functions' routes in Caddy.
// Used by the peers e2e test and bench/peers.

type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

export const CONDUCTOR_UNITS = [
  'conductor-nats.service',
  'conductor-sync.service',
  'conductor-gateway.socket',
  'conductor-gateway.service'
]

export interface ConductorHost {
  host: TestHost
  /** The peer id (host.json hostname). */
  id: string
  sd: UserManager
  caddy: HostCaddy
  /** CONDUCTOR_ROOT */
  root: string
  /** The compiled CLI run inside the host (its namespace, its env). */
  cnd: (...args: string[]) => Promise<ExecResult>
  /** cluster.json as the host's daemon and commands left it. */
  state: () => { cluster_name: string; clustered: boolean; members: Array<{ id: string }>; seeds: unknown[] }
  /** ROOT/etc/conductor/policies/peers.json, parsed (undefined when absent). */
  peersPolicy: () => { match: Array<{ any?: Array<{ meta?: Record<string, string> }> }> } | undefined
  keyFile: string
  /** The output of the host's Conductor units so far (the test's diagnostics). */
  logs: () => string
  /**
   * Starts the host's user manager and Caddy again (after host.kill()); the enabled units come up
   * with it. T's teardown stops them: pass the test that outlives their use, not a subtest.
   */
  restart: (t: Teardown) => Promise<void>
}

export interface ConductorHostOptions {
  /**
   * Files written under ROOT/etc/conductor/services/ before the first `conductor reload` (a
   * service the test needs routed, without a reload of its own later).
   */
  services?: Record<string, string | object>
  /** More host.json fields (resources, fleet), merged over the harness's own. */
  hostJson?: Record<string, unknown>
}

export async function startConductorHost(
  t: Teardown,
  host: TestHost,
  id: string,
  o: ConductorHostOptions = {}
): Promise<ConductorHost> {
  const root = host.env.CONDUCTOR_ROOT!
  if (o.services !== undefined) writeTree(path.join(root, 'etc/conductor/services'), o.services)
  writeTree(root, {
    'etc/conductor/host.json': {
      hostname: id,
      scope: 'user',
      caddy_admin: 'http://127.0.0.1:2019',
      cluster: { hostname: host.ip },
      ...o.hostJson
    }
  })
  // Generous start bounds: several hosts start at once on a machine other runs share.
  const [sd, caddy] = await Promise.all([
    startHostUserManager(t, host, { startTimeoutMs: 60_000 }),
    startHostCaddy(t, host, { routes: [] })
  ])
  const cnd = async (...args: string[]): Promise<ExecResult> =>
    await host.exec(process.execPath, [binPath, ...args], { timeoutMs: 60_000 })
  const h: ConductorHost = {
    host,
    id,
    sd,
    caddy,
    root,
    cnd,
    state: () => JSON.parse(readFileSync(path.join(root, 'var/lib/conductor/cluster/cluster.json'), 'utf8')),
    peersPolicy: () => {
      try {
        return JSON.parse(readFileSync(path.join(root, 'etc/conductor/policies/peers.json'), 'utf8'))
      } catch {
        return undefined
      }
    },
    keyFile: path.join(root, 'var/lib/conductor/keys/conductor-peer.key'),
    logs: () =>
      CONDUCTOR_UNITS.filter(u => u.endsWith('.service'))
        .map(u => {
          try {
            return `--- ${u}\n${readFileSync(path.join(host.dir, `${u}.log`), 'utf8').slice(-4000)}`
          } catch {
            return ''
          }
        })
        .join('\n'),
    restart: async t => {
      // What kill() left: the old manager's cgroup (its stop is idempotent and removes it).
      await Promise.all([h.sd.stop(), h.caddy.stop()])
      // The enabled units start with the manager: it is up once they have (or one failed).
      const [sd2, caddy2] = await Promise.all([
        startHostUserManager(t, host, { startTimeoutMs: 120_000, degradedOk: true }),
        startHostCaddy(t, host, { routes: [] })
      ])
      h.sd = sd2
      h.caddy = caddy2
      await startUnits(h)
      // Caddy lost its routes with its process: put them back (what conductor-caddy-sync does after a restart).
      const sync = await cnd('caddy', 'sync', '--wait', '10')
      if (sync.code !== 0) throw new Error(`caddy sync on ${id}: ${sync.stderr}`)
    }
  }
  standInCaddyUnit(sd)
  // The user manager has no journal here: each unit's output goes to a file of the host (logs()).
  for (const unit of CONDUCTOR_UNITS.filter(u => u.endsWith('.service'))) {
    const log = path.join(host.dir, `${unit}.log`)
    writeTree(sd.unitsDir, {
      [`${unit}.d/90-test-log.conf`]: `[Service]\nStandardOutput=append:${log}\nStandardError=append:${log}\n`
    })
  }
  const install = await cnd('system', 'install')
  if (install.code !== 0) throw new Error(`system install on ${id}: ${install.stderr}`)
  const enable = sd.systemctl('enable', ...CONDUCTOR_UNITS)
  // Under a heavy load systemctl may be cut off by its 30 s bound after its work is done: what counts is the result.
  if (enable.code !== 0 && sd.systemctl('is-enabled', ...CONDUCTOR_UNITS).code !== 0) {
    throw new Error(`enable on ${id}: ${enable.stderr}`)
  }
  await startUnits(h)
  const reload = await cnd('reload')
  if (reload.code !== 0) throw new Error(`reload on ${id}: ${reload.stdout}${reload.stderr}`)
  return h
}

async function startUnits(h: ConductorHost): Promise<void> {
  const r = h.sd.systemctl('start', ...CONDUCTOR_UNITS)
  if (r.code !== 0) throw new Error(`start on ${h.id}: ${r.stderr}`)
  // The daemon writes its status once connected to its NATS server.
  let status = ''
  try {
    await waitFor(
      `${h.id}: fleet daemon connected to NATS`,
      () => {
        status = readFileSync(path.join(h.root, 'run/conductor/fleet-status.json'), 'utf8')
        const s = JSON.parse(status) as { nats: { ok: boolean }; updated_at: number }
        return s.nats.ok && Date.now() - s.updated_at < 5000
      },
      300_000,
      100
    )
  } catch (err) {
    const units = h.sd.systemctl(
      'status',
      '--no-pager',
      '--lines=30',
      'conductor-sync.service',
      'conductor-nats.service'
    ).stdout
    throw new Error(`${(err as Error).message}; status file: ${status}; units: ${units}; logs: ${h.logs()}`)
  }
  // The gateway (socket-activated, started above) serves once its /healthz answers.
  const gw = await h.host.forward(2080)
  await waitFor(
    `${h.id}: gateway /healthz`,
    async () => (await fetch(`http://127.0.0.1:${gw}/healthz`, { signal: AbortSignal.timeout(5000) })).ok,
    300_000,
    200
  )
}

/** Peer ids in a host's peers policy (its trust, as the gateway loads it). */
export function policyPeers(h: ConductorHost): string[] {
  const any = h.peersPolicy()?.match[0]?.any ?? []
  return any
    .map(e => e.meta?.['peer-id'])
    .filter((x): x is string => x !== undefined)
    .sort()
}

/** Routes this host's nats-server has now (its monitoring port, /routez). */
export async function routesOf(h: ConductorHost): Promise<number> {
  const port = await h.host.forward(8222)
  return (
    (await (await fetch(`http://127.0.0.1:${port}/routez`, { signal: AbortSignal.timeout(5000) })).json()) as {
      num_routes: number
    }
  ).num_routes
}

/** Size of the JetStream meta group as this host's nats-server sees it (/jsz). */
export async function metaSize(h: ConductorHost): Promise<number | undefined> {
  const port = await h.host.forward(8222)
  const jsz = await (await fetch(`http://127.0.0.1:${port}/jsz`, { signal: AbortSignal.timeout(5000) })).json()
  return (jsz as { meta_cluster?: { cluster_size?: number } }).meta_cluster?.cluster_size
}

/** The fleet daemon's status file (what `peer ls` reads): last heartbeat seen of each peer. */
export function fleetStatus(h: ConductorHost): DaemonStatus | undefined {
  try {
    return JSON.parse(readFileSync(path.join(h.root, 'run/conductor/fleet-status.json'), 'utf8'))
  } catch {
    return undefined
  }
}

export interface JoinTiming {
  /** The peer id that joined. */
  id: string
  /** How long `peer add` took. */
  cmdMs: number
  /** From `peer add`'s return until every member's peers policy trusts every member. */
  trustMs: number
  /** From `peer add`'s return until every member's nats-server routes to every other. */
  routesMs: number
}

/**
 * HOSTS[1..] join HOSTS[0] one at a time, the seed's direction: the newcomer makes an invite,
 * the first host adds it with `peer add NEWCOMER SECRET --ca-file ITS_CA`. Each join waits for
 * every member's policy and a full mesh of routes. For tests and benches that need a cluster
 * as a starting point (config sync, scheduling).
 */
export async function joinCluster(hosts: ConductorHost[], timeoutMs = 120_000): Promise<JoinTiming[]> {
  const [first] = hosts
  const out: JoinTiming[] = []
  for (let i = 1; i < hosts.length; i++) {
    const joiner = hosts[i]!
    const members = hosts.slice(0, i + 1)
    const want = members
      .map(h => h.id)
      .sort()
      .join()
    const inv = await joiner.cnd('peer', 'invite', '--json')
    if (inv.code !== 0) throw new Error(`peer invite on ${joiner.id}: ${inv.stderr}`)
    const secret = (JSON.parse(inv.stdout) as { secret: string }).secret
    const start = Date.now()
    // The secret through stdin (`-`), as an operator keeps it out of the process list and the shell history.
    const add = await first!.host.exec(
      process.execPath,
      [binPath, 'peer', 'add', joiner.host.ip, '-', '--ca-file', joiner.caddy.caFile, '--no-wait'],
      { input: `${secret}\n`, timeoutMs: 60_000 }
    )
    if (add.code !== 0) throw new Error(`peer add ${joiner.id} on ${first!.id}: ${add.stderr}`)
    const added = Date.now()
    let trustMs = -1
    await waitFor(
      `every member trusts ${want}`,
      () => {
        if (trustMs < 0 && members.every(h => policyPeers(h).join() === want)) trustMs = Date.now() - added
        return trustMs >= 0
      },
      timeoutMs,
      20
    )
    await waitFor(
      `full mesh of routes among ${want}`,
      async () => (await Promise.all(members.map(routesOf))).every(r => r === members.length - 1),
      timeoutMs,
      50
    )
    out.push({ id: joiner.id, cmdMs: added - start, trustMs, routesMs: Date.now() - added })
  }
  return out
}
