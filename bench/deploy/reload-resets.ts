import http from 'node:http'
import { readFileSync } from 'node:fs'
import { startCaddy } from '../../test/harness/caddy.js'

// Experiment behind the issue 8 note "about 1 in 1000 requests got a connection reset while
// conductor deploy swapped routes": a real Caddy serving a static route, LOOPS concurrent
// request loops through it (a fresh TCP connection per request, or keep-alive with
// KEEPALIVE=1), while the admin API changes the config CHANGES times (each change is one
// PATCH of a route's body: one whole-config reload in Caddy 2.6). Prints what the clients saw.
//
//   node --import tsx bench/deploy/reload-resets.ts               # host network namespace
//   unshare -n sh -c 'ip link set lo up; sysctl -qw net.ipv4.tcp_migrate_req=1;
//     node --import tsx bench/deploy/reload-resets.ts'             # with accept-queue migration
//
// CHANGES=0 is the control (same load, no config change).

const changes = Number(process.env.CHANGES ?? 200)
const loops = Number(process.env.LOOPS ?? 8)
const keepAlive = process.env.KEEPALIVE === '1'
const gapMs = Number(process.env.GAP_MS ?? 20)
const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}

async function main(): Promise<void> {
  const caddy = await startCaddy(t)
  const route = (text: string): object => ({
    '@id': 'r',
    handle: [{ handler: 'static_response', status_code: 200, body: text }]
  })
  await admin(caddy.adminUrl, 'POST', '/id/conductor-server/routes', route('v0'))
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: loops }) : false
  let stop = false
  const seen = { ok: 0, errors: new Map<string, number>(), non200: 0 }
  const one = async (): Promise<void> =>
    await new Promise(resolve => {
      const req = http.get({ host: '127.0.0.1', port: caddy.httpPort, path: '/', agent }, res => {
        res.resume()
        res.on('end', () => {
          if (res.statusCode === 200) seen.ok++
          else seen.non200++
          resolve()
        })
        res.on('error', err => {
          count(err)
          resolve()
        })
      })
      req.on('error', err => {
        count(err)
        resolve()
      })
    })
  const count = (err: NodeJS.ErrnoException): void => {
    const k = err.code ?? err.message
    seen.errors.set(k, (seen.errors.get(k) ?? 0) + 1)
  }
  const loop = async (): Promise<void> => {
    while (!stop) await one()
  }
  const running = Array.from({ length: loops }, loop)
  const started = performance.now()
  await new Promise(resolve => setTimeout(resolve, 500))
  for (let i = 1; i <= changes; i++) {
    await admin(caddy.adminUrl, 'PATCH', '/id/r', route(`v${i}`))
    await new Promise(resolve => setTimeout(resolve, gapMs))
  }
  if (changes === 0) await new Promise(resolve => setTimeout(resolve, 10_000))
  await new Promise(resolve => setTimeout(resolve, 300))
  stop = true
  await Promise.all(running)
  const secs = (performance.now() - started) / 1000
  const errors = [...seen.errors].map(([k, n]) => `${k}: ${n}`).join(', ') || 'none'
  const migrate = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim()
  console.log(
    `changes=${changes} loops=${loops} ${keepAlive ? 'keep-alive' : 'fresh connection per request'} tcp_migrate_req=${migrate}: ${seen.ok} ok, ${seen.non200} non-200, errors ${errors} in ${secs.toFixed(1)} s`
  )
}

async function admin(base: string, method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
}

main()
  .catch(err => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) {
      try {
        await fn()
      } catch {
        /* best effort */
      }
    }
  })
