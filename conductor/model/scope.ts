import os from 'node:os'
import path from 'node:path'
import { UsageError } from '../../errors/index.js'
import { SCOPES, type HostConfig, type Scope } from './host.js'
import type { Roots } from './roots.js'

// The two systemd scopes share all code but the unit directory and the `--user` flag
// (ENVIRONMENT.md): system for servers, user for rootless hosts and the end-to-end tests.
//
// Where units go:
// - system: ROOT/etc/systemd/system. With --root the files land under the prefix (so tests and
//   `--dry-run` reviews never touch the real /etc), but systemctl still talks to the real
//   system manager: use --root with --scope system only for offline checks.
// - user: $XDG_CONFIG_HOME/systemd/user (default ~/.config/systemd/user), never prefixed by
//   --root: that is where the user manager looks, whatever Conductor's own root is.

export interface ScopeInfo {
  scope: Scope
  unitsDir: string
  /** Arguments put before every systemctl verb. */
  systemctlArgs: string[]
  /** Where systemd looks for a packaged caddy.service (besides unitsDir). */
  vendorUnitDirs: string[]
}

export function resolveScope(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  host: HostConfig,
  roots: Roots
): ScopeInfo {
  const chosen = flag ?? env.CONDUCTOR_SCOPE ?? host.scope ?? 'system'
  if (!(SCOPES as readonly string[]).includes(chosen)) {
    const from =
      flag !== undefined ? '--scope' : env.CONDUCTOR_SCOPE !== undefined ? 'CONDUCTOR_SCOPE' : 'host.json scope'
    throw new UsageError(`${from} "${chosen}": expected "system" or "user"`)
  }
  if (chosen === 'user') {
    const configHome = env.XDG_CONFIG_HOME ?? path.join(env.HOME ?? os.homedir(), '.config')
    return {
      scope: 'user',
      unitsDir: path.join(configHome, 'systemd/user'),
      systemctlArgs: ['--user'],
      vendorUnitDirs: ['/etc/systemd/user', '/usr/lib/systemd/user', '/lib/systemd/user']
    }
  }
  return {
    scope: 'system',
    unitsDir: path.join(roots.root, 'etc/systemd/system'),
    systemctlArgs: [],
    vendorUnitDirs: ['/usr/lib/systemd/system', '/lib/systemd/system'].map(d => path.join(roots.root, d))
  }
}
