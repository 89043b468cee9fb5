import t from 'tap'
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { acquirePidLock } from '../../../../conductor/state/index.js'
import { tempDir } from '../../../harness/tmp.js'

// The pid lock (conductor/state/pid-lock.ts) behind the deploy, cluster and placement locks.

const refuse = (holder?: { pid: number }): Error => new Error(holder === undefined ? 'busy' : `held by ${holder.pid}`)
const DEAD = 2 ** 22 + 11

t.test('a live holder refuses; a dead one is taken over; release removes only its own', async t => {
  const file = path.join(tempDir(t), 'x.lock')
  const lock = acquirePidLock(file, 'first', refuse)
  t.equal(JSON.parse(readFileSync(file, 'utf8')).pid, process.pid)
  t.throws(() => acquirePidLock(file, 'second', refuse), { message: `held by ${process.pid}` })
  lock.release()
  t.notOk(existsSync(file))
  writeFileSync(file, JSON.stringify({ pid: DEAD, since: 'then', command: 'gone' }))
  const taken = acquirePidLock(file, 'third', refuse)
  t.equal(JSON.parse(readFileSync(file, 'utf8')).command, 'third', 'a dead holder: taken over')
  taken.release()
})

t.test('a lock file being written (created, no pid yet) is not taken over; an old unreadable one is', async t => {
  const file = path.join(tempDir(t), 'x.lock')
  // What another taker's exclusive create leaves before its write: an empty file.
  writeFileSync(file, '')
  t.throws(() => acquirePidLock(file, 'second', refuse), { message: 'busy' }, 'fresh and empty: held')
  t.equal(readFileSync(file, 'utf8'), '', 'left as it was for its taker')
  const old = (Date.now() - 60_000) / 1000
  utimesSync(file, old, old)
  const lock = acquirePidLock(file, 'third', refuse)
  t.equal(JSON.parse(readFileSync(file, 'utf8')).command, 'third', 'a minute old and empty: its taker died')
  lock.release()
})
