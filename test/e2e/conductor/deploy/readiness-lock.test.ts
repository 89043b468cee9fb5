import t from 'tap'
import http from 'node:http'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { pauseBeforeProbe, waitReady } from '../../../../conductor/deploy/readiness.js'
import { acquireDeployLock, readLock } from '../../../../conductor/state/locks.js'
import { freePort, waitFor } from '../../../harness/ports.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

t.test('http readiness: waits for the endpoint to answer 2xx, with the last probe output', async t => {
  let readyAfter = 3
  const server = http.createServer((_req, res) => {
    if (--readyAfter > 0) {
      res.statusCode = 503
      res.end('warming up')
      return
    }
    res.end('up')
  })
  const port = await freePort()
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => {
    server.close()
  })
  const probes: string[] = []
  const r = await waitReady(
    { kind: 'http', url: `http://127.0.0.1:${port}/up` },
    { intervalMs: 20, timeoutMs: 5000, successes: 1, onProbe: p => probes.push(p.detail) }
  )
  t.equal(r.ready, true)
  t.equal(r.probes, 3)
  t.same(probes, [
    `GET http://127.0.0.1:${port}/up -> 503: warming up`,
    `GET http://127.0.0.1:${port}/up -> 503: warming up`,
    `GET http://127.0.0.1:${port}/up -> 200: up`
  ])
})

t.test(
  'readiness probes quickly at first: an application up 150 ms after its pod is seen before interval_ms',
  async t => {
    // The pauses until the first success: 20, 40, 80, 160 ms... capped at interval_ms; after a
    // success (successes > 1) every pause is interval_ms.
    t.same(
      [1, 2, 3, 4, 5, 6, 7].map(n => pauseBeforeProbe(1000, n, false)),
      [20, 40, 80, 160, 320, 640, 1000]
    )
    t.same(
      [1, 2, 3].map(n => pauseBeforeProbe(50, n, false)),
      [20, 40, 50]
    )
    t.equal(pauseBeforeProbe(1000, 1, true), 1000)
    const port = await freePort()
    const server = http.createServer((_req, res) => res.end('up'))
    t.teardown(() => {
      server.close()
    })
    const started = performance.now()
    setTimeout(() => server.listen(port, '127.0.0.1'), 150)
    const url = `http://127.0.0.1:${port}/up`
    const r = await waitReady({ kind: 'http', url }, { intervalMs: 2000, timeoutMs: 10_000, successes: 1 })
    const elapsed = performance.now() - started
    t.equal(r.ready, true)
    t.ok(r.probes >= 2, `probed ${r.probes} times before the interval of 2000 ms had passed once`)
    // A fixed 2000 ms interval answers after 2000 ms; the doubling pauses by ~300 ms (+ load).
    t.ok(elapsed < 1500, `ready seen after ${Math.round(elapsed)} ms`)
  }
)

t.test('readiness that never comes gives up in bounded time and reports the last probe', async t => {
  const port = await freePort() // nothing listens there
  const started = Date.now()
  const r = await waitReady(
    { kind: 'http', url: `http://127.0.0.1:${port}/up` },
    { intervalMs: 50, timeoutMs: 400, successes: 1 }
  )
  t.equal(r.ready, false)
  t.ok(Date.now() - started < 2000)
  t.match(r.last?.detail, /ECONNREFUSED/)
  const tcp = await waitReady(
    { kind: 'tcp', host: '127.0.0.1', port },
    { intervalMs: 50, timeoutMs: 200, successes: 1 }
  )
  t.equal(tcp.ready, false)
})

t.test('tcp and exec readiness; consecutive successes are required', async t => {
  const server = http.createServer((_req, res) => res.end())
  const port = await freePort()
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => {
    server.close()
  })
  t.equal(
    (await waitReady({ kind: 'tcp', host: '127.0.0.1', port }, { intervalMs: 10, timeoutMs: 2000, successes: 2 }))
      .probes,
    2
  )
  const dir = tempDir(t)
  writeTree(dir, {
    'ready.sh':
      '#!/bin/sh\nn=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count\n[ "$n" -ge 2 ] && echo ready && exit 0\necho "not yet ($n)" >&2; exit 1\n'
  })
  const r = await waitReady(
    { kind: 'exec', argv: [path.join(dir, 'ready.sh')], cwd: dir, env: { PATH: process.env.PATH! } },
    { intervalMs: 10, timeoutMs: 5000, successes: 1 }
  )
  t.equal(r.ready, true)
  t.equal(r.probes, 3)
  t.match(r.last?.detail, /-> exit 0: ready/)
})

t.test('deploy lock: a second caller gets a clear error; a lock left by a killed process is taken over', async t => {
  const dir = tempDir(t)
  const lock = acquireDeployLock(dir, 'shop', 'deploy shop')
  t.throws(() => acquireDeployLock(dir, 'shop', 'deploy shop --set V=2'), {
    code: 'CND_DEPLOY_LOCKED',
    message: new RegExp(`another deploy of "shop" is running \\(pid ${process.pid}`)
  })
  lock.release()
  t.notOk(existsSync(lock.file))

  // A real process takes the lock and is killed with SIGKILL: the lock file stays behind.
  const script = `import('${path.resolve('conductor/state/locks.ts').replace(/\\/g, '/')}').then(m => { m.acquireDeployLock(${JSON.stringify(dir)}, 'shop', 'deploy from child'); console.log('locked'); setInterval(() => {}, 1000) })`
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  await waitFor('the child to hold the lock', () => out.includes('locked'), 20_000)
  t.equal(readLock(path.join(dir, 'deploy-shop.lock'))?.pid, child.pid)
  t.throws(() => acquireDeployLock(dir, 'shop', 'deploy'), { code: 'CND_DEPLOY_LOCKED' }, 'held while the owner lives')
  child.kill('SIGKILL')
  await new Promise(resolve => child.once('exit', resolve))
  const taken = acquireDeployLock(dir, 'shop', 'deploy after crash')
  t.equal(readLock(taken.file)?.pid, process.pid, 'the stale lock was taken over')
  taken.release()
})
