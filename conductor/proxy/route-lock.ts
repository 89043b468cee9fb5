import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { CaddyConflict } from '../../caddy/index.js'
import type { Roots } from '../model/index.js'
import { acquirePidLock, type PidLock } from '../state/index.js'

// Registrations of a service's deployments one at a time (replicas.ts). A replica's route in
// Caddy is computed from its siblings' records: two replicas registering (or leaving) at once —
// a reload starting or removing several, the config units of two replicas started by systemd
// at boot — would each compute the route without the other and the last write would win. So
// the read of the records, the Caddy change and the record writes happen under a lock file per
// service (pid inside, a dead holder's lock taken over), waited for, in this process too.

const WAIT_MS = 60_000
const POLL_MS = 20

export async function withRouteLock<T>(roots: Pick<Roots, 'run'>, service: string, fn: () => Promise<T>): Promise<T> {
  const dir = path.join(roots.run, 'locks')
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `routes-${service}.lock`)
  const deadline = performance.now() + WAIT_MS
  for (;;) {
    let lock: PidLock | undefined
    let holder = 'changing hands'
    try {
      lock = acquirePidLock(file, `routes of ${service}`, h => new Busy(h === undefined ? holder : `pid ${h.pid}`))
    } catch (err) {
      if (!(err instanceof Busy)) throw err
      holder = err.message
    }
    if (lock !== undefined) {
      try {
        return await fn()
      } finally {
        lock.release()
      }
    }
    if (performance.now() > deadline)
      throw new CaddyConflict(
        `the routes of service "${service}" stayed locked for ${WAIT_MS / 1000} s (${holder}); ` +
          'another conductor process is registering them: retry when it is done',
        file
      )
    await new Promise(resolve => setTimeout(resolve, POLL_MS))
  }
}

/** The lock is held by a live process (or kept changing hands): wait. */
class Busy extends Error {}
