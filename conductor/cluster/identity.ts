import { X509Certificate, createPublicKey, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import os from 'node:os'
import { PeerIdentityMissing, UsageError } from '../../errors/index.js'
import type { HostConfig, Roots } from '../model/index.js'
import { PEER_ID_PATTERN } from '../model/index.js'
import { runTool } from '../process/index.js'
import { generateKeyPair } from '../run/index.js'
import {
  DEFAULT_CLIENT_PORT,
  DEFAULT_CLUSTER_LISTEN,
  DEFAULT_MONITOR_PORT,
  DEFAULT_PEER_AUTHORIZATIONS,
  PEER_KEY_NAME,
  PEERS_POLICY
} from './defaults.js'
import { clusterPaths, type ClusterPaths } from './paths.js'
import { hostPort, type PeerRecord } from './records.js'
import { readState, withClusterLock, writeAtomicPrivate, writeState, type ClusterState } from './state.js'

// This host as a peer (issue 17 item 1): its id (host.json hostname, else the FQDN), the name
// others reach it by, its key pair (the `conductor key` code and files) and the self-signed
// certificate of that key that its NATS routes present. Created by `system install` if absent.

export interface HostCluster {
  id: string
  /** host.json cluster.hostname, else the id. */
  hostname: string
  /** HOST:PORT the NATS cluster listener binds. */
  listen: string
  /** HOSTNAME:PORT other servers dial. */
  route: string
  clientPort: number
  monitorPort: number
}

/** The peer id and addresses from host.json (and the machine's FQDN when host.json names none). */
export async function hostCluster(host: HostConfig, env: NodeJS.ProcessEnv = process.env): Promise<HostCluster> {
  const id = host.hostname ?? (await fqdn(env))
  if (!PEER_ID_PATTERN.test(id)) {
    throw new UsageError(
      `peer id "${id}" (host.json "hostname", else the machine's FQDN) is not a plain host name: ` +
        'set "hostname" in host.json (letters, digits and _ . -)'
    )
  }
  const hostname = host.cluster?.hostname ?? id
  const listen = host.cluster?.listen ?? DEFAULT_CLUSTER_LISTEN
  const port = listen.slice(listen.lastIndexOf(':') + 1)
  return {
    id,
    hostname,
    listen,
    route: hostPort(hostname, port),
    clientPort: host.cluster?.client_port ?? DEFAULT_CLIENT_PORT,
    monitorPort: host.cluster?.monitor_port ?? DEFAULT_MONITOR_PORT
  }
}

async function fqdn(env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runTool('hostname', ['--fqdn'], env, 5000)
  const name = r.exitCode === 0 ? r.stdout.trim() : ''
  return name !== '' && name !== 'localhost' ? name : os.hostname()
}

export interface Identity extends HostCluster {
  paths: ClusterPaths
  publicKey: string
  routeCert: string
}

/** This host's identity, or PeerIdentityMissing (with the fix) when `system install` has not made it. */
export async function readIdentity(roots: Roots, host: HostConfig, env?: NodeJS.ProcessEnv): Promise<Identity> {
  const p = clusterPaths(roots)
  const hc = await hostCluster(host, env)
  for (const f of [p.privateKey, p.publicKey, p.routeCert, p.state]) {
    if (!existsSync(f))
      throw new PeerIdentityMissing(`no peer identity: run conductor system install (it creates it)`, f)
  }
  return { ...hc, paths: p, publicKey: readFileSync(p.publicKey, 'utf8'), routeCert: readFileSync(p.routeCert, 'utf8') }
}

/** This host's own member record (what it writes into the bucket, and hands over when it joins). */
export function selfRecord(id: Identity): PeerRecord {
  return {
    id: id.id,
    hostname: id.hostname,
    route: id.route,
    public_key: id.publicKey.trim() + '\n',
    route_cert: id.routeCert,
    authorizations: { ...DEFAULT_PEER_AUTHORIZATIONS },
    policy: PEERS_POLICY
  }
}

export interface EnsureResult {
  identity: Identity
  created: string[]
}

/**
 * Creates what is missing of the identity: the key pair, the route certificate (again when the
 * hostname or the key changed), the cluster state (a new cluster name and local NATS passwords).
 * Idempotent: a second run creates nothing.
 */
export async function ensureIdentity(
  roots: Roots,
  host: HostConfig,
  env: NodeJS.ProcessEnv = process.env
): Promise<EnsureResult> {
  const p = clusterPaths(roots)
  const hc = await hostCluster(host, env)
  const created: string[] = []
  mkdirSync(p.dir, { recursive: true, mode: 0o700 })
  await withClusterLock(p, 'conductor system install', async () => {
    if (!existsSync(p.privateKey)) {
      await generateKeyPair(p.keysDir, PEER_KEY_NAME, 'ES256')
      created.push(p.privateKey, p.publicKey)
    }
    const publicKey = readFileSync(p.publicKey, 'utf8')
    if (!routeCertFits(p.routeCert, publicKey, hc)) {
      writeAtomicPrivate(p.routeCert, await makeRouteCert(p.privateKey, hc, env))
      created.push(p.routeCert)
    }
    if (!existsSync(p.state)) {
      writeState(p, newState())
      created.push(p.state)
    } else {
      readState(p)
    }
  })
  return { identity: await readIdentity(roots, host, env), created }
}

export function newState(): ClusterState {
  const secret = (): string => randomBytes(24).toString('base64url')
  const name = `conductor-${randomBytes(6).toString('hex')}`
  return {
    version: 1,
    cluster_name: name,
    clustered: false,
    seeds: [],
    members: [],
    local_peers: [],
    invites: [],
    nats_auth: { user: 'conductor', password: secret(), system_user: 'system', system_password: secret() },
    // The config `system install` writes first is a standalone one: what the server starts with.
    applied: { clustered: false, cluster_name: name }
  }
}

/** The certificate exists, is for this key, and names this host's id and hostname. */
function routeCertFits(file: string, publicKey: string, hc: HostCluster): boolean {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(readFileSync(file))
  } catch {
    return false
  }
  const san = isIP(hc.hostname) !== 0 ? `IP Address:${hc.hostname}` : `DNS:${hc.hostname}`
  return (
    cert.publicKey.equals(createPublicKey(publicKey)) &&
    (cert.subjectAltName ?? '').split(', ').includes(san) &&
    cert.subject === `CN=${hc.id}`
  )
}

/**
 * A self-signed certificate of the peer key, for HOSTNAME (its SAN: the route URL's host is
 * verified against it). Trust comes from pinning the key (NATS pinned_certs), not from a CA,
 * so it never needs renewing: valid 100 years. Made with the openssl command (Node cannot
 * create certificates).
 */
async function makeRouteCert(keyFile: string, hc: HostCluster, env: NodeJS.ProcessEnv): Promise<string> {
  const san = isIP(hc.hostname) !== 0 ? `IP:${hc.hostname}` : `DNS:${hc.hostname}`
  const r = await runTool(
    'openssl',
    [
      'req',
      '-x509',
      '-new',
      '-key',
      keyFile,
      '-subj',
      `/CN=${hc.id}`,
      '-days',
      '36500',
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,digitalSignature,keyCertSign',
      '-addext',
      'extendedKeyUsage=serverAuth,clientAuth'
    ],
    env,
    30_000
  )
  if (r.exitCode !== 0 || !r.stdout.includes('BEGIN CERTIFICATE')) {
    throw new PeerIdentityMissing(
      `cannot make the route certificate with openssl (apt-get install openssl): ` +
        `${(r.stderr || r.failure || '').trim().split('\n').pop() ?? ''}`,
      keyFile
    )
  }
  return r.stdout.trim() + '\n'
}
