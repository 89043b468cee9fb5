import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node'
import type { TestHost } from './netns.js'
import { waitFor } from './ports.js'

// nats-server per test host, inside the host's namespace (test/harness/netns.ts): client port on
// the namespace's own loopback (so 4222 on every host, no free-port hunt), cluster port on the
// host's 192.0.2.x address, JetStream on, routes to every other host with route credentials.
//
// natsTestConfig is a TEST FIXTURE, kept small on purpose: the product writes its own NATS config
// from the peer list (issue 17), and the fleet tests start THAT file with startNatsServer; this
// builder only serves the harness's own test and tests that need a cluster before `peer add`.
//
// The test process cannot reach a namespace's loopback, so its NATS clients go through the
// host's agent (host.forward): a loopback port of the root namespace relayed to 127.0.0.1:4222
// inside the host. Chosen over running a client per operation inside the namespace: the test keeps
// the real client's whole API in-process (watchers, KV, object store), one connection survives
// server restarts (the relay stays, the client reconnects), and no node process starts per call.
// Clients ignore cluster updates (`ignoreClusterUpdates`), and the fixture config sets
// `no_advertise`: the other servers' client URLs are 127.0.0.1:4222 inside THEIR namespaces,
// which from here would be this machine's loopback (possibly someone else's server).

type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

export const NATS_CLIENT_PORT = 4222
export const NATS_CLUSTER_PORT = 6222
export const NATS_MONITOR_PORT = 8222

export interface RouteAuth {
  user: string
  password: string
}

export interface NatsTestConfigOptions {
  host: TestHost
  /** Every host of the cluster (this one included, skipped in its routes). */
  hosts: TestHost[]
  auth: RouteAuth
  storeDir: string
  /** Default: the fleet's id (unique per run). */
  cluster?: string
}

/** A minimal clustered JetStream config for HOST (a fixture: see the top of this file). */
export function natsTestConfig(o: NatsTestConfigOptions): string {
  const q = (s: string): string => JSON.stringify(s)
  const routes = o.hosts
    .filter(h => h !== o.host)
    .map(h => q(`nats-route://${o.auth.user}:${o.auth.password}@${h.ip}:${NATS_CLUSTER_PORT}`))
  return [
    `server_name: ${q(o.host.name)}`,
    `listen: ${q(`127.0.0.1:${NATS_CLIENT_PORT}`)}`,
    `http: ${q(`127.0.0.1:${NATS_MONITOR_PORT}`)}`,
    `jetstream { store_dir: ${q(o.storeDir)}, max_memory_store: 64MB, max_file_store: 256MB }`,
    'cluster {',
    `  name: ${q(o.cluster ?? o.host.fleet)}`,
    `  listen: ${q(`${o.host.ip}:${NATS_CLUSTER_PORT}`)}`,
    '  no_advertise: true',
    `  authorization { user: ${q(o.auth.user)}, password: ${q(o.auth.password)} }`,
    `  routes: [${routes.join(', ')}]`,
    '}',
    ''
  ].join('\n')
}

export interface NatsServer {
  host: TestHost
  configFile: string
  clientPort: number
  /** Set when the config has a monitoring listener (the fixture's: 8222). */
  monitorPort?: number
  /** The current nats-server process (a new one after restart). */
  process: () => ChildProcess
  running: () => boolean
  log: () => string
  /** SIGTERM (a clean shutdown), SIGKILL after 5 s. */
  stop: () => Promise<void>
  /** SIGKILL: a crash. */
  kill: () => Promise<void>
  /** Starts it again with the same config and store (after stop or kill). */
  restart: () => Promise<void>
}

export interface StartNatsOptions {
  clientPort?: number
  monitorPort?: number
}

/** `nats-server -c CONFIG` inside HOST; resolves once its client port answers INFO. */
export async function startNatsServer(
  t: Teardown,
  host: TestHost,
  configFile: string,
  o: StartNatsOptions = {}
): Promise<NatsServer> {
  const clientPort = o.clientPort ?? NATS_CLIENT_PORT
  let proc: ChildProcess
  let log = ''
  const running = (): boolean => proc.exitCode === null && proc.signalCode === null
  const launch = async (): Promise<void> => {
    proc = host.spawn('nats-server', ['-c', configFile])
    proc.stdout?.on('data', (d: Buffer) => {
      log += d.toString()
    })
    proc.stderr?.on('data', (d: Buffer) => {
      log += d.toString()
    })
    const p = proc
    try {
      await waitFor(
        `nats-server on ${host.name}`,
        async () => {
          if (p.exitCode !== null) throw new Error(`exited ${p.exitCode}`)
          return (await host.probe('127.0.0.1', clientPort, 500)).data?.startsWith('INFO ') === true
        },
        15_000,
        50
      )
    } catch (err) {
      // nats-server writes route URLs with their password redacted.
      throw new Error(`${(err as Error).message}; log: ${log.slice(-2000)}`)
    }
  }
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (!running()) return
    const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
    proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  t.teardown(async () => await end('SIGTERM'))
  await launch()
  return {
    host,
    configFile,
    clientPort,
    monitorPort: o.monitorPort,
    process: () => proc,
    running,
    log: () => log,
    stop: async () => await end('SIGTERM'),
    kill: async () => await end('SIGKILL'),
    restart: async () => {
      await end('SIGTERM')
      await launch()
    }
  }
}

export interface NatsClusterOptions {
  cluster?: string
  auth?: RouteAuth
}

/**
 * One nats-server per host with the fixture config (routes between all of them), started at
 * once; resolves when JetStream answers on every one of them (a meta leader is elected).
 */
export async function startNatsCluster(
  t: Teardown,
  hosts: TestHost[],
  o: NatsClusterOptions = {}
): Promise<NatsServer[]> {
  const auth = o.auth ?? { user: 'route', password: randomBytes(12).toString('hex') }
  const servers = await Promise.all(
    hosts.map(async host => {
      const dir = path.join(host.dir, 'nats')
      mkdirSync(dir, { recursive: true })
      const configFile = path.join(dir, 'nats.conf')
      const config = natsTestConfig({ host, hosts, auth, storeDir: path.join(dir, 'jetstream'), cluster: o.cluster })
      writeFileSync(configFile, config, { mode: 0o600 })
      return await startNatsServer(t, host, configFile, { monitorPort: NATS_MONITOR_PORT })
    })
  )
  await waitJetStreamReady(t, servers)
  return servers
}

/**
 * A NATS client in this process connected to SERVER (through its host's agent), closed at
 * teardown. It reconnects forever: a restarted server is found again on the same relay.
 */
export async function connectNats(
  t: Teardown,
  server: NatsServer,
  o: Partial<NodeConnectionOptions> = {}
): Promise<NatsConnection> {
  const port = await server.host.forward(server.clientPort)
  const nc = await connect({
    servers: `127.0.0.1:${port}`,
    name: `test->${server.host.name}`,
    ignoreClusterUpdates: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    timeout: 5000,
    ...o
  })
  t.teardown(async () => {
    if (!nc.isClosed()) await nc.close()
  })
  return nc
}

export interface MetaCluster {
  name?: string
  leader?: string
  cluster_size?: number
  peer?: string
}

/** The server's /jsz (monitoring port through the agent); its meta_cluster names the meta leader. */
export async function jsz(server: NatsServer, query = ''): Promise<{ meta_cluster?: MetaCluster }> {
  if (server.monitorPort === undefined) throw new Error(`nats-server on ${server.host.name} has no monitoring port`)
  const port = await server.host.forward(server.monitorPort)
  const res = await fetch(`http://127.0.0.1:${port}/jsz${query}`, { signal: AbortSignal.timeout(2000) })
  if (!res.ok) throw new Error(`/jsz on ${server.host.name}: HTTP ${res.status}`)
  return (await res.json()) as { meta_cluster?: MetaCluster }
}

/**
 * Waits until JetStream works on every server: each one's JetStream API answers (it does only
 * once a meta leader is elected), and, where monitoring is on, all name the same meta leader
 * with every server in the meta group. Resolves with that leader (undefined without monitoring).
 */
export async function waitJetStreamReady(
  t: Teardown,
  servers: NatsServer[],
  timeoutMs = 20_000
): Promise<string | undefined> {
  const conns = await Promise.all(servers.map(async s => await connectNats(t, s)))
  let leader: string | undefined
  await waitFor(
    'JetStream meta leader on every server',
    async () => {
      await Promise.all(conns.map(async nc => await (await jetstreamManager(nc, { timeout: 1000 })).getAccountInfo()))
      const monitored = servers.filter(s => s.monitorPort !== undefined)
      if (monitored.length === 0) return true
      const metas = await Promise.all(monitored.map(async s => (await jsz(s)).meta_cluster))
      leader = metas[0]?.leader
      const agreed = metas.every(m => m?.leader === leader && m?.cluster_size === servers.length)
      return leader !== undefined && leader !== '' && agreed
    },
    timeoutMs,
    100
  )
  await Promise.all(conns.map(async nc => await nc.close()))
  return leader
}

/** The server currently leading STREAM (its RAFT group), as the stream's info says. */
export async function streamLeader(nc: NatsConnection, stream: string): Promise<string | undefined> {
  // No account-info check first: that needs the meta leader, which may be the server just lost.
  return (await (await jetstreamManager(nc, { timeout: 2000, checkAPI: false })).streams.info(stream)).cluster?.leader
}

/**
 * Asks STREAM's leader to step down until one ACCEPTed leads it (nats-server 2.9's step-down
 * takes no preferred peer: the others elect one at once, at random). For tests that cut a host
 * off or kill one and must know its role: writes stall while a stream has no leader, and with a
 * lost leader the others wait an election timeout (4-9 s in nats-server 2.9) before electing one.
 */
export async function moveStreamLeader(
  nc: NatsConnection,
  stream: string,
  accept: (leader: string) => boolean,
  timeoutMs = 15_000
): Promise<string> {
  let leader: string | undefined
  await waitFor(
    `stream ${stream} led by an accepted server (now: ${String(leader)})`,
    async () => {
      leader = await streamLeader(nc, stream)
      if (leader === undefined) return false
      if (accept(leader)) return true
      await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 2000 }).catch(() => {})
      return false
    },
    timeoutMs,
    100
  )
  return leader!
}

/** The last sequence of STREAM in SERVER's own replica (its /jsz), whatever the leader has. */
export async function replicaLastSeq(server: NatsServer, stream: string): Promise<number | undefined> {
  type Details = { account_details?: Array<{ stream_detail?: Array<{ name: string; state?: { last_seq?: number } }> }> }
  const z = (await jsz(server, '?accounts=true&streams=true')) as Details
  for (const a of z.account_details ?? []) {
    const s = a.stream_detail?.find(d => d.name === stream)
    if (s !== undefined) return s.state?.last_seq
  }
  return undefined
}
