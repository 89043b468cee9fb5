import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { ConductorError, NatsUnavailable } from '../../errors/index.js'
import { HEARTBEAT_BUCKET, MAX_REPLICAS, PEERS_BUCKET } from './defaults.js'
import type { NatsAuth } from './state.js'

// Conductor's clients of the local NATS server: loopback, the password of cluster.json, no
// cluster updates followed (no_advertise anyway: the other servers' client ports are their own
// loopbacks). The NATS packages load only here, only for commands that talk to NATS.

export interface LocalNats {
  clientPort: number
  auth: NatsAuth
}

/**
 * The NATS packages are CommonJS: in the esbuild bundle a dynamic import() of one has only
 * `default` (its module.exports); Node (and tsx) add named exports too. module.exports has them all.
 */
export async function natsPackage<T>(load: Promise<T>): Promise<T> {
  const m = await load
  return (m as { default?: T }).default ?? m
}

/** Connects to the local NATS server; NatsUnavailable (with the fix) when it does not answer. */
export async function connectLocal(
  n: LocalNats,
  o: { system?: boolean; name?: string; reconnect?: boolean; timeoutMs?: number } = {}
): Promise<NatsConnection> {
  const { connect } = await natsPackage(import('@nats-io/transport-node'))
  try {
    return await connect({
      servers: `127.0.0.1:${n.clientPort}`,
      user: o.system === true ? n.auth.system_user : n.auth.user,
      pass: o.system === true ? n.auth.system_password : n.auth.password,
      name: o.name ?? 'conductor',
      ignoreClusterUpdates: true,
      timeout: o.timeoutMs ?? 3000,
      reconnect: o.reconnect ?? false,
      maxReconnectAttempts: o.reconnect === true ? -1 : 0,
      reconnectTimeWait: 250
    })
  } catch (err) {
    throw natsDown(n.clientPort, err)
  }
}

export function natsDown(port: number, err: unknown): NatsUnavailable {
  const why = (err as { code?: string }).code ?? (err as Error).message
  return new NatsUnavailable(
    `the local NATS server (127.0.0.1:${port}) does not answer (${why}): membership cannot be read ` +
      'or changed now; fix: systemctl [--user] start conductor-nats.service (conductor doctor checks it); the gateway keeps ' +
      'serving with the peers it knows',
    undefined,
    undefined,
    { cause: err }
  )
}

/**
 * A JetStream request of a fleet command that failed for a reason other than a refusal (no
 * stream leader for a few seconds after a host was lost or joined, a request timed out): said
 * plainly, with what to do, never as an internal error. Conductor's own errors pass through.
 */
export function jetStreamBusy(what: string, err: unknown): ConductorError {
  if (err instanceof ConductorError) return err
  return new NatsUnavailable(
    `${what} do not answer now (${(err as Error).message}): the cluster may be electing a new leader after a ` +
      'host was lost or joined; try again in a few seconds (conductor doctor checks NATS)',
    undefined,
    undefined,
    { cause: err }
  )
}

export interface Buckets {
  peers: KV
  heartbeats: KV
}

/** Replicas a bucket should have with N route-able members. */
export const desiredReplicas = (members: number): number => Math.max(1, Math.min(MAX_REPLICAS, members))

/** Opens the cluster's buckets, creating them when absent (creation races between hosts are fine). */
export async function openBuckets(nc: NatsConnection, members: number): Promise<Buckets> {
  const { Kvm } = await natsPackage(import('@nats-io/kv'))
  const kvm = new Kvm(nc)
  const open = async (name: string, history: number): Promise<KV> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await kvm.create(name, { replicas: desiredReplicas(members), history })
      } catch (err) {
        // Another host created it meanwhile with other replicas: open what exists.
        if (attempt < 2 && /already in use/i.test((err as Error).message)) continue
        if (/already in use/i.test((err as Error).message)) return await kvm.open(name)
        throw err
      }
    }
  }
  return { peers: await open(PEERS_BUCKET, 5), heartbeats: await open(HEARTBEAT_BUCKET, 1) }
}

/** JetStream answers (a meta leader exists): what a write to the member list needs. */
export async function jetStreamReady(nc: NatsConnection, timeoutMs = 3000): Promise<void> {
  const { jetstreamManager } = await natsPackage(import('@nats-io/jetstream'))
  await (await jetstreamManager(nc, { timeout: timeoutMs })).getAccountInfo()
}

/**
 * Scales every Conductor bucket to REPLICAS (up when members join, down after one left and was
 * removed from the meta group). Returns the buckets changed; a scale the cluster cannot do yet
 * (a new member not in the meta group) throws, and the daemon tries again later.
 */
export async function scaleBuckets(nc: NatsConnection, replicas: number, down = true): Promise<string[]> {
  const { jetstreamManager } = await natsPackage(import('@nats-io/jetstream'))
  const jsm = await jetstreamManager(nc, { timeout: 5000 })
  const changed: string[] = []
  // Every Conductor bucket: the member list and heartbeats, and those of service sync (issue 18:
  // an object store and KV buckets named conductor-*), whatever creates them.
  const streams = [`KV_${PEERS_BUCKET}`, `KV_${HEARTBEAT_BUCKET}`]
  for await (const name of jsm.streams.names()) {
    if (/^(KV|OBJ)_conductor-/.test(name) && !streams.includes(name)) streams.push(name)
  }
  for (const stream of streams) {
    const bucket = stream.replace(/^(KV|OBJ)_/, '')
    let info: Awaited<ReturnType<typeof jsm.streams.info>>
    try {
      info = await jsm.streams.info(stream)
    } catch {
      continue
    }
    if (info.config.num_replicas === replicas || (!down && info.config.num_replicas > replicas)) continue
    await jsm.streams.update(stream, { ...info.config, num_replicas: replicas })
    changed.push(`${bucket} R${info.config.num_replicas}->R${replicas}`)
  }
  return changed
}

/**
 * Removes a server from the JetStream meta group (system account). A server that left stays in
 * it as an offline peer, counting for quorum, until this is done (nats-server 2.9).
 */
export async function removeServer(sys: NatsConnection, serverName: string): Promise<{ ok: boolean; error?: string }> {
  try {
    const r = await sys.request('$JS.API.SERVER.REMOVE', JSON.stringify({ peer: serverName }), { timeout: 3000 })
    const body = JSON.parse(r.string()) as { success?: boolean; error?: { description?: string } }
    return body.success === true ? { ok: true } : { ok: false, error: body.error?.description ?? r.string() }
  } catch (err) {
    return { ok: false, error: (err as Error).message }
  }
}

/** Names of the servers in the JetStream meta group, as this server's meta leader view reports (undefined: unknown). */
export async function metaGroup(monitorPort: number): Promise<{ leader?: string; peers: string[] } | undefined> {
  if (monitorPort === 0) return undefined
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz`, { signal: AbortSignal.timeout(2000) })
    const z = (await res.json()) as { meta_cluster?: { leader?: string; replicas?: Array<{ name: string }> } }
    const m = z.meta_cluster
    if (m === undefined) return undefined
    return { leader: m.leader, peers: (m.replicas ?? []).map(r => r.name) }
  } catch {
    return undefined
  }
}
