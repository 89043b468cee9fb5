import path from 'node:path'
import type { Roots } from '../model/index.js'
import { PEER_KEY_NAME } from './defaults.js'

// Where the cluster keeps its files, all derived from the roots (README "Cluster: peers").

export interface ClusterPaths {
  /** ROOT/var/lib/conductor/cluster (0700): state, route certificate, the peers' certificates */
  dir: string
  /** cluster.json (0600): cluster name, members seen, invites, local NATS passwords */
  state: string
  /** ROOT/run/conductor/cluster.lock: one writer of the state and of the peers policy at a time */
  lock: string
  keysDir: string
  privateKey: string
  publicKey: string
  /** This host's route certificate (self-signed, for its peer key) */
  routeCert: string
  /** Every member's route certificate: the CA file of the NATS routes */
  routeCa: string
  /** ROOT/etc/conductor/nats.conf (0600: it holds the local client passwords) */
  natsConfig: string
  /** ROOT/var/lib/conductor/nats: the JetStream store */
  natsStore: string
  natsPid: string
  /** ROOT/run/conductor/fleet-status.json: what the fleet daemon saw last (written every second) */
  status: string
}

export function clusterPaths(roots: Roots): ClusterPaths {
  const dir = path.join(roots.lib, 'cluster')
  const keysDir = path.join(roots.lib, 'keys')
  return {
    dir,
    state: path.join(dir, 'cluster.json'),
    lock: path.join(roots.run, 'cluster.lock'),
    keysDir,
    privateKey: path.join(keysDir, `${PEER_KEY_NAME}.key`),
    publicKey: path.join(keysDir, `${PEER_KEY_NAME}.pub`),
    routeCert: path.join(dir, 'route.crt'),
    routeCa: path.join(dir, 'route-peers.pem'),
    natsConfig: path.join(roots.etc, 'nats.conf'),
    natsStore: path.join(roots.lib, 'nats'),
    natsPid: path.join(roots.run, 'nats.pid'),
    status: path.join(roots.run, 'fleet-status.json')
  }
}

export const policyFile = (roots: Roots, name: string): string => path.join(roots.policies, `${name}.json`)
