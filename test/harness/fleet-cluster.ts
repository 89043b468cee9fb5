import { readFileSync } from 'node:fs'
import path from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { joinCluster, metaSize, startConductorHost, type ConductorHost } from './conductor-host.js'
import { startHosts } from './netns.js'
import { waitFor } from './ports.js'

// Three test hosts running Conductor (conductor-host.ts), joined into one cluster, each fleet
// daemon's service sync open on the cluster's buckets: the starting point of the fleet tests
// and benches that need a working fleet (the scheduler's e2e test, bench/scheduler).

type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

export interface FleetOfThree {
  hosts: ConductorHost[]
  /** A NATS client of this process on the first host's server (through its agent), closed at teardown. */
  nc: NatsConnection
}

export async function startFleetOfThree(
  t: Teardown,
  hostJson: (id: string) => Record<string, unknown> = () => ({})
): Promise<FleetOfThree> {
  const fleet = await startHosts(t, { count: 3 })
  const ids = ['a', 'b', 'c']
  const hosts = await Promise.all(
    fleet.hosts.map(async (h, i) => await startConductorHost(t, h, ids[i]!, { hostJson: hostJson(ids[i]!) }))
  )
  const [A, B, C] = hosts as [ConductorHost, ConductorHost, ConductorHost]
  // A peer add that could not reach the other Caddy in time (a loaded machine) changed nothing: again.
  for (let i = 0; ; i++) {
    try {
      await joinCluster([A, B])
      break
    } catch (err) {
      if (
        i >= 2 ||
        !/cannot reach|ETIMEDOUT|does not answer|CND_NATS_UNAVAILABLE|TimeoutError/.test((err as Error).message)
      )
        throw err
      await new Promise(resolve => setTimeout(resolve, 3000))
    }
  }
  await waitFor(
    'a JetStream meta group of a and b',
    async () => (await metaSize(A)) === 2 && (await metaSize(B)) === 2,
    120_000,
    500
  )
  // C invites, A adds it; a refusal while A's NATS server is still busy changes nothing: asked again.
  const inv = JSON.parse((await C.cnd('peer', 'invite', '--json')).stdout) as { secret: string }
  let add = await A.cnd('peer', 'add', C.host.ip, inv.secret, '--ca-file', C.caddy.caFile)
  for (
    let i = 0;
    i < 5 && add.code !== 0 && /CND_NATS_UNAVAILABLE|does not answer|cannot reach|TimeoutError/.test(add.stderr);
    i++
  ) {
    await new Promise(resolve => setTimeout(resolve, 3000))
    add = await A.cnd('peer', 'add', C.host.ip, inv.secret, '--ca-file', C.caddy.caFile)
  }
  if (add.code !== 0) throw new Error(`peer add c on a: ${add.stderr}`)
  await waitFor(
    'a JetStream meta group of three',
    async () => (await Promise.all(hosts.map(metaSize))).every(n => n === 3),
    120_000,
    500
  )
  await waitFor(
    'every host clustered, its sync task running',
    () => hosts.every(h => h.state().clustered && syncOpen(h)),
    120_000,
    200
  ).catch(err => {
    throw new Error(`${(err as Error).message}; ${hosts.map(h => h.logs()).join('\n')}`)
  })
  const auth = (
    JSON.parse(readFileSync(path.join(A.root, 'var/lib/conductor/cluster/cluster.json'), 'utf8')) as {
      nats_auth: { user: string; password: string }
    }
  ).nats_auth
  const nc = await connect({
    servers: `127.0.0.1:${await A.host.forward(4222)}`,
    user: auth.user,
    pass: auth.password,
    ignoreClusterUpdates: true,
    // The forwarded connection may drop on a loaded machine: reconnect rather than fail.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
    pingInterval: 30_000
  })
  t.teardown(async () => {
    await nc.close()
  })
  await fleetSettled(nc)
  return { hosts, nc }
}

/** Every bucket of the fleet: members, heartbeats, service sync (issue 18), the scheduler's (issue 19). */
const FLEET_STREAMS = [
  'KV_conductor-peers',
  'KV_conductor-heartbeats',
  'KV_conductor-service-versions',
  'OBJ_conductor-services',
  'KV_conductor-sync-status',
  'KV_conductor-locks',
  'KV_conductor-ledger',
  'KV_conductor-placements'
]

/**
 * Waits until every fleet bucket has 3 replicas, a leader and both other replicas current. A
 * join scales them R1 -> R3 (each daemon tries every 5 s); until the new replicas caught up, a
 * request to one of them may wait on a stream whose peers are changing (a fleet ls timed out for
 * 20 s, a push took 10 s). The tests' time bounds are for a cluster that has settled.
 */
export async function fleetSettled(nc: NatsConnection, timeoutMs = 90_000): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 })
  let last = ''
  await waitFor(
    "the fleet's streams at 3 replicas, every one current",
    async () => {
      for (const name of FLEET_STREAMS) {
        const i = await jsm.streams.info(name).catch((err: Error) => err)
        if (i instanceof Error) {
          last = `${name}: ${i.message}`
          return false
        }
        const replicas = i.cluster?.replicas ?? []
        last = `${name}: R${i.config.num_replicas}, leader ${i.cluster?.leader ?? 'none'}, ${JSON.stringify(replicas)}`
        if (i.config.num_replicas !== 3 || !i.cluster?.leader || replicas.length !== 2) return false
        if (!replicas.every(r => r.current && !r.offline)) return false
      }
      return true
    },
    timeoutMs,
    250
  ).catch(err => {
    throw new Error(`${(err as Error).message} (last seen: ${last})`)
  })
}

/** The host's sync task writes its status every second and has its buckets open. */
export function syncOpen(h: ConductorHost): boolean {
  try {
    const s = JSON.parse(readFileSync(path.join(h.root, 'run/conductor/fleet-sync.json'), 'utf8')) as {
      updated_at: number
      bucket_open: boolean
    }
    return Date.now() - s.updated_at < 3000 && s.bucket_open
  } catch {
    return false
  }
}
