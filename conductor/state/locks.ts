import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { isProcessAlive } from '../../cgi/index.js'
import { ConductorError } from '../../errors/index.js'
import { acquirePidLock, type PidLock } from './pid-lock.js'

// Serialises deploys of one service (issue 8), with a pid lock file (pid-lock.ts): a lock
// whose owner is dead (kill -9, reboot) is taken over.

export { readLock, type LockInfo } from './pid-lock.js'

export class DeployLocked extends ConductorError {
  override readonly code = 'CND_DEPLOY_LOCKED'
}

export type DeployLock = PidLock

export function acquireDeployLock(
  locksDir: string,
  service: string,
  command: string,
  isAlive: (pid: number) => boolean = isProcessAlive
): DeployLock {
  mkdirSync(locksDir, { recursive: true })
  const file = path.join(locksDir, `deploy-${service}.lock`)
  return acquirePidLock(
    file,
    command,
    holder =>
      holder === undefined
        ? new DeployLocked(`could not take the deploy lock of "${service}"`, file)
        : new DeployLocked(
            `another deploy of "${service}" is running (pid ${holder.pid}, ${holder.command}, ` +
              `since ${holder.since}); wait for it or stop it`,
            file
          ),
    isAlive
  )
}
