import path from 'node:path'

// Every host path derives from one root (kamal-proxy config.go), so tests and rootless
// operators run everything under a temporary prefix without touching /etc.

export interface Roots {
  /** Prefix of every host path; '/' on a server. */
  root: string
  /** /etc/conductor */
  etc: string
  /** /etc/conductor/services: one directory per service */
  services: string
  /** /etc/conductor/policies: one JSON file per policy */
  policies: string
  /** /etc/conductor/host.json */
  hostFile: string
  /** /run/conductor: runtime state (lost at reboot) */
  run: string
  /** /var/lib/conductor: deployments, keys */
  lib: string
  /** /var/lib/conductor/deployments */
  deployments: string
}

export interface RootOverrides {
  root?: string | undefined
  servicesDir?: string | undefined
  policiesDir?: string | undefined
}

export function resolveRoots(overrides: RootOverrides = {}, env: NodeJS.ProcessEnv = process.env): Roots {
  const root = path.resolve(overrides.root ?? env.CONDUCTOR_ROOT ?? '/')
  const etc = path.join(root, 'etc/conductor')
  const lib = path.join(root, 'var/lib/conductor')
  return {
    root,
    etc,
    services: path.resolve(overrides.servicesDir ?? env.CONDUCTOR_SERVICES_DIR ?? path.join(etc, 'services')),
    policies: path.resolve(overrides.policiesDir ?? env.CONDUCTOR_POLICIES_DIR ?? path.join(etc, 'policies')),
    hostFile: path.join(etc, 'host.json'),
    run: path.join(root, 'run/conductor'),
    lib,
    deployments: path.join(lib, 'deployments')
  }
}
