import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { isProcessAlive } from '../../cgi/index.js'

// A lock file created exclusively and holding its owner's pid. A lock whose owner is dead
// (kill -9, reboot) is taken over, so a crashed holder never blocks the next one forever.
// Used by deploys (deploy-lock.ts) and by fleet version installs (fleet/version-store.ts).

export interface LockInfo {
  pid: number
  since: string
  command: string
}

export interface PidLock {
  file: string
  release: () => void
}

/**
 * Takes the lock at `file` (its directory must exist). When a live process holds it, throws what
 * `refuse(holder)` returns; `refuse(undefined)` when it kept changing hands for three attempts.
 */
export function acquirePidLock(
  file: string,
  command: string,
  refuse: (holder?: LockInfo) => Error,
  isAlive: (pid: number) => boolean = isProcessAlive
): PidLock {
  const info: LockInfo = { pid: process.pid, since: new Date().toISOString(), command }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(info), { flag: 'wx' })
      return { file, release: () => releaseIfOwned(file) }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const holder = readLock(file)
    if (holder !== undefined && isAlive(holder.pid)) throw refuse(holder)
    // Stale: move it aside atomically so that two takers cannot both remove a fresh lock.
    try {
      renameSync(file, `${file}.stale.${process.pid}`)
    } catch {
      continue
    }
    rmSync(`${file}.stale.${process.pid}`, { force: true })
  }
  throw refuse(undefined)
}

export function readLock(file: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockInfo
  } catch {
    return undefined
  }
}

function releaseIfOwned(file: string): void {
  if (readLock(file)?.pid === process.pid) rmSync(file, { force: true })
}
