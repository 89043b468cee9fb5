import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
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
 * `refuse(holder)` returns; `refuse(undefined)` when it kept changing hands for three attempts, or
 * its taker has not written it yet.
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
    // Unreadable and fresh: its taker created it and has not written its pid yet (open and write
    // are two steps). Taking it over then would give the lock to two processes at once.
    if (holder === undefined && isFresh(file)) throw refuse(undefined)
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

/** An unreadable lock file younger than this is being written; older, its writer died before writing. */
const UNWRITTEN_LOCK_GRACE_MS = 5000

function isFresh(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < UNWRITTEN_LOCK_GRACE_MS
  } catch {
    return false
  }
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
