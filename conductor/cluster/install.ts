import type { HostConfig, Roots } from '../model/index.js'
import { readOr } from '../state/index.js'
import { convergeNatsFiles } from './converge.js'
import { ensureIdentity } from './identity.js'
import { readState, withClusterLock } from './state.js'

// `conductor system install`'s part of the cluster: the peer identity when absent, and the NATS
// server's config (a lone host's: standalone JetStream) when there is none yet, so that
// conductor-nats.service can start before the fleet daemon ever ran.

export async function installCluster(roots: Roots, host: HostConfig, env: NodeJS.ProcessEnv): Promise<string[]> {
  const { identity, created } = await ensureIdentity(roots, host, env)
  await withClusterLock(identity.paths, 'conductor system install', () => {
    // Rewrites only what differs (a new route certificate, a changed port); never restarts anything.
    const before = readOr(identity.paths.natsConfig)
    convergeNatsFiles(identity, readState(identity.paths))
    if (readOr(identity.paths.natsConfig) !== before) created.push(identity.paths.natsConfig)
  })
  return created
}
