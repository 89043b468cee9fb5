import { X509Certificate, createHash, createPublicKey } from 'node:crypto'
import { PeerInputInvalid } from '../../errors/index.js'
import { PEER_ID_PATTERN } from '../model/index.js'
import { PEERS_POLICY } from './defaults.js'

// A peer as the cluster knows it: the value of its key in the conductor-peers bucket, the
// wire format of add-peer, and what each host renders into its policy (policy.ts) and its
// NATS routes (nats-config.ts). Records come from other hosts: every one is checked here
// before use, whatever its source.

export interface PeerRecord {
  id: string
  /** Name the others reach it by: https://HOSTNAME, and the host of its route. */
  hostname: string
  /** HOST:PORT of its NATS cluster listener; absent: no NATS route (a key only, e.g. a CI). */
  route?: string | undefined
  /** PEM SPKI: verifies its JWTs, and its route certificate is for this key. */
  public_key?: string | undefined
  /** PEM of its self-signed route certificate (for public_key); pinned by every member. */
  route_cert?: string | undefined
  /** SHA-256 (hex) of static bearer tokens it may use instead of a JWT (seed: "bearer token"). */
  token_sha256?: string[] | undefined
  /** The seed's authorizations (peer-list-read, peer-list-write, service-write) and any others. */
  authorizations: Record<string, boolean>
  /** Policy file the entry goes into (seed input "policy name"; default peers). */
  policy: string
  added_by?: string | undefined
  added_at?: string | undefined
}

export interface InviteRecord {
  id: string
  /** PEM SPKI of the invite key (Ed25519); the secret never leaves the command that printed it. */
  public_key: string
  created_at: string
  expires_at: string
  /** Set once, atomically, by the add-peer that consumed it. */
  used_at?: string | undefined
  used_by?: string | undefined
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^[0-9A-Fa-f:.]+$/
const ROUTE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/
const AUTHZ = /^[A-Za-z0-9_.:-]+$/
const POLICY = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/
const MAX_PEM = 8192

export const isPeerId = (s: unknown): s is string => typeof s === 'string' && s.length <= 253 && PEER_ID_PATTERN.test(s)
export const isHostname = (s: unknown): s is string => typeof s === 'string' && s.length <= 253 && HOSTNAME.test(s)

/**
 * Checks a record from the wire or the bucket; `where` prefixes the JSON paths of the message
 * (`/peer`, `conductor-peers/a`). Throws PeerInputInvalid naming the field and the rule.
 */
export function checkRecord(raw: unknown, where = ''): PeerRecord {
  const bad = (p: string, why: string): never => {
    throw new PeerInputInvalid(`${where}/${p}: ${why}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad('', 'expected an object')
  const r = raw as Record<string, unknown>
  const known = new Set([
    'id',
    'hostname',
    'route',
    'public_key',
    'route_cert',
    'token_sha256',
    'authorizations',
    'policy',
    'added_by',
    'added_at'
  ])
  for (const k of Object.keys(r)) if (!known.has(k)) bad(k, 'unknown field')
  if (!isPeerId(r.id)) bad('id', 'expected a peer id (a hostname: letters, digits and _ . -)')
  if (!isHostname(r.hostname)) bad('hostname', 'expected a host name or IP address (no scheme, no port)')
  if (r.route !== undefined && (typeof r.route !== 'string' || !ROUTE.test(r.route))) bad('route', 'expected HOST:PORT')
  const str = (k: string): string | undefined => {
    const v = r[k]
    if (v === undefined) return undefined
    if (typeof v !== 'string' || v.length > MAX_PEM) return bad(k, 'expected a PEM text of at most 8 KiB')
    return v
  }
  const publicKey = str('public_key')
  const routeCert = str('route_cert')
  if (publicKey !== undefined) {
    try {
      const key = createPublicKey(publicKey)
      if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'ed25519')
        bad('public_key', 'expected an EC P-256 or Ed25519 public key')
    } catch {
      bad('public_key', 'not a PEM public key ("-----BEGIN PUBLIC KEY-----")')
    }
  }
  if (routeCert !== undefined) {
    if (publicKey === undefined) bad('route_cert', 'needs public_key (the certificate must be for that key)')
    let cert: X509Certificate | undefined
    try {
      cert = new X509Certificate(routeCert)
    } catch {
      bad('route_cert', 'not a PEM certificate')
    }
    if (!cert!.publicKey.equals(createPublicKey(publicKey!))) bad('route_cert', 'is not a certificate for public_key')
    if (r.route === undefined) bad('route', 'missing: a route certificate comes with the route it is for')
  }
  const tokens = r.token_sha256 as string[] | undefined
  if (
    tokens !== undefined &&
    (!Array.isArray(tokens) || tokens.some(t => typeof t !== 'string' || !/^[0-9a-f]{64}$/.test(t)))
  ) {
    bad('token_sha256', 'expected a list of SHA-256 digests (64 lowercase hex characters)')
  }
  if (publicKey === undefined && (tokens === undefined || tokens.length === 0)) {
    bad('public_key', 'missing: a peer needs a public key or a token digest to authenticate with')
  }
  const authz = r.authorizations
  if (
    typeof authz !== 'object' ||
    authz === null ||
    Array.isArray(authz) ||
    Object.entries(authz).some(([k, v]) => !AUTHZ.test(k) || typeof v !== 'boolean')
  ) {
    bad('authorizations', 'expected an object of booleans whose names use letters, digits and _ . : -')
  }
  const policy = r.policy ?? PEERS_POLICY
  if (typeof policy !== 'string' || !POLICY.test(policy))
    bad('policy', 'expected a policy name (letters, digits, _ . -)')
  for (const k of ['added_by', 'added_at'] as const)
    if (r[k] !== undefined && typeof r[k] !== 'string') bad(k, 'expected a string')
  return {
    id: r.id as string,
    hostname: r.hostname as string,
    route: r.route as string | undefined,
    public_key: publicKey,
    route_cert: routeCert,
    token_sha256: tokens,
    authorizations: { ...(authz as Record<string, boolean>) },
    policy: policy as string,
    added_by: r.added_by as string | undefined,
    added_at: r.added_at as string | undefined
  }
}

/** SHA-256 (hex) of a public key's DER SubjectPublicKeyInfo: what NATS `pinned_certs` lists. */
export function spkiPin(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(der).digest('hex')
}

/** Two records say the same thing (ignoring who added them and when). */
export function sameRecord(a: PeerRecord, b: PeerRecord): boolean {
  const strip = ({ added_at: _a, added_by: _b, ...rest }: PeerRecord): string => JSON.stringify(sortKeys(rest))
  return strip(a) === strip(b)
}

/** Same peer key (or both keyless with the same token digests): the record is the same peer's. */
export function sameCredentials(a: PeerRecord, b: PeerRecord): boolean {
  if (a.public_key !== undefined || b.public_key !== undefined) {
    if (a.public_key === undefined || b.public_key === undefined) return false
    return spkiPin(a.public_key) === spkiPin(b.public_key)
  }
  return JSON.stringify([...(a.token_sha256 ?? [])].sort()) === JSON.stringify([...(b.token_sha256 ?? [])].sort())
}

function sortKeys(o: object): object {
  return Object.fromEntries(
    Object.entries(o)
      .filter(([, v]) => v !== undefined)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
  )
}

/** "host:port", with brackets around an IPv6 literal. */
export function hostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
