// The NATS server's config, rendered from the cluster state: pure text in the style of the
// unit files (host/unit-files.ts), tested as text and by starting nats-server with it.
//
// - The client listener is on loopback only and needs a password (cluster.json, 0600): any
//   local user could otherwise write the member list and make every host trust their key.
//   Accounts: CONDUCTOR (JetStream) for Conductor's clients, SYS (the system account) for
//   JetStream's server removal.
// - A lone host runs JetStream standalone, without a cluster block: nats-server 2.9 refuses
//   JetStream with a cluster block and no routes, and waits forever with a route to itself.
//   It gets the block when it first joins a cluster (a restart with its store reset: see
//   daemon.ts); after that, membership changes are rewrites of this file and a reload.
// - Routes are mutual TLS with every member's own key, pinned (pinned_certs: SHA-256 of the
//   SubjectPublicKeyInfo): there is no shared route password a removed peer could keep. A reload
//   without a removed member's pin closes its routes and refuses its new ones (verified on
//   nats-server 2.9.10). The CA file holds the members' self-signed certificates (Go verifies
//   the client certificate's chain before the pins).
// - no_advertise: the servers' client URLs (127.0.0.1 on each host) are never gossiped to clients.

export interface NatsConfigInput {
  serverName: string
  clientPort: number
  /** 0: no monitoring listener. */
  monitorPort: number
  pidFile: string
  storeDir: string
  auth: { user: string; password: string; system_user: string; system_password: string }
  cluster?:
    | {
        name: string
        /** HOST:PORT of the route listener. */
        listen: string
        /** HOST:PORT the others dial (sent to them; implicit routes use it too). */
        advertise: string
        certFile: string
        keyFile: string
        caFile: string
        /** SPKI pins of every member, this host included. */
        pins: string[]
        /** HOST:PORT of every other member. */
        routes: string[]
      }
    | undefined
}

export const NATS_CONFIG_HEADER =
  '# Written by conductor from the peer list (conductor/cluster/nats-config.ts); changes are overwritten.\n'

const q = (s: string): string => JSON.stringify(s)

export function renderNatsConfig(i: NatsConfigInput): string {
  const lines = [
    `server_name: ${q(i.serverName)}`,
    `listen: ${q(`127.0.0.1:${i.clientPort}`)}`,
    ...(i.monitorPort > 0 ? [`http: ${q(`127.0.0.1:${i.monitorPort}`)}`] : []),
    `pid_file: ${q(i.pidFile)}`,
    'accounts {',
    `  CONDUCTOR { jetstream: enabled, users: [ { user: ${q(i.auth.user)}, password: ${q(i.auth.password)} } ] }`,
    `  SYS { users: [ { user: ${q(i.auth.system_user)}, password: ${q(i.auth.system_password)} } ] }`,
    '}',
    'system_account: SYS',
    // Memory streams are not used; a small cap keeps JetStream from reserving most of the RAM.
    `jetstream { store_dir: ${q(i.storeDir)}, max_memory_store: 64MB }`
  ]
  const c = i.cluster
  if (c !== undefined) {
    lines.push(
      'cluster {',
      `  name: ${q(c.name)}`,
      `  listen: ${q(c.listen)}`,
      `  advertise: ${q(c.advertise)}`,
      '  no_advertise: true',
      '  tls {',
      `    cert_file: ${q(c.certFile)}`,
      `    key_file: ${q(c.keyFile)}`,
      `    ca_file: ${q(c.caFile)}`,
      '    verify: true',
      `    pinned_certs: [${[...new Set(c.pins)].sort().map(q).join(', ')}]`,
      '    timeout: 3',
      '  }',
      `  routes: [${[...new Set(c.routes)]
        .sort()
        .map(r => q(`nats-route://${r}`))
        .join(', ')}]`,
      '}'
    )
  }
  return NATS_CONFIG_HEADER + lines.join('\n') + '\n'
}

/** The routes' CA file: every member's self-signed route certificate, sorted (stable text). */
export function renderRouteCa(certs: string[]): string {
  return [...new Set(certs.map(c => c.trim() + '\n'))].sort().join('')
}
