import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { isProcessAlive } from './bounded-process.js'
import { ConductorError } from './errors.js'

// Serialises deploys of one service (issue 8). The lock is a file created exclusively and
// holding the owner's pid; a lock whose owner is dead (kill -9, reboot) is taken over, so a
// crashed deploy never blocks the next one forever.

export class DeployLocked extends ConductorError {
  override readonly code = 'CND_DEPLOY_LOCKED'
  override readonly exitCode = 6
}

export interface LockInfo { pid: number, since: string, command: string }

export interface DeployLock { file: string, release: () => void }

export function acquireDeployLock (locksDir: string, service: string, command: string, isAlive: (pid: number) => boolean = isProcessAlive): DeployLock {
  mkdirSync(locksDir, { recursive: true })
  const file = path.join(locksDir, `deploy-${service}.lock`)
  const info: LockInfo = { pid: process.pid, since: new Date().toISOString(), command }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(info), { flag: 'wx' })
      return { file, release: () => releaseIfOwned(file) }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = readLock(file)
    if (holder !== undefined && isAlive(holder.pid)) {
      throw new DeployLocked(`another deploy of "${service}" is running (pid ${holder.pid}, ${holder.command}, since ${holder.since}); wait for it or stop it`, file)
    }
    // Stale: move it aside atomically so that two takers cannot both remove a fresh lock.
    try { renameSync(file, `${file}.stale.${process.pid}`) } catch { continue }
    rmSync(`${file}.stale.${process.pid}`, { force: true })
  }
  throw new DeployLocked(`could not take the deploy lock of "${service}"`, file)
}

export function readLock (file: string): LockInfo | undefined {
  try { return JSON.parse(readFileSync(file, 'utf8')) as LockInfo } catch { return undefined }
}

function releaseIfOwned (file: string): void {
  if (readLock(file)?.pid === process.pid) rmSync(file, { force: true })
}
