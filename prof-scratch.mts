import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { startCaddy } from './test/harness/caddy.js'
import { forwardAuthRoute, postCaddyConfig } from './test/harness/forward-auth-route.js'
import { makeKey, signToken } from './test/harness/jwt.js'
import { freePort, waitFor } from './test/harness/ports.js'
const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => { teardowns.push(fn) } }
const root = '/tmp/prof-root'
mkdirSync(path.join(root, 'etc/conductor/policies'), { recursive: true })
mkdirSync('/tmp/prof', { recursive: true })
const es = makeKey('ES256')
writeFileSync(path.join(root, 'etc/conductor/policies/bench.json'), JSON.stringify({ match: [{ any: [{ meta: { 'peer-id': 'b' }, default_authorizations: { read: true }, bearer: [{ token: 'bench-static-token-0123456789abcdef' }, { public_key: es.pem }] }] }] }))
const tok = process.argv[2] === 'jwt' ? await signToken(es, { exp: Math.floor(Date.now() / 1000) + 3600 }) : 'bench-static-token-0123456789abcdef'
const port = await freePort()
const gw = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/prof', '--import', 'tsx', 'conductor/bin.ts', 'gateway', '--root', root, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'], { stdio: 'inherit' })
await waitFor('gw', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 60000)
const caddy = await startCaddy(t)
await postCaddyConfig(`${caddy.adminUrl}/config/apps/http/servers/conductor/routes`, { ...forwardAuthRoute({ id: 'c', gateway: `127.0.0.1:${port}`, policy: 'bench', upstream: { body: 'ok' } }) })
await new Promise<void>(resolve => { const w = spawn('wrk', ['-t2', '-c32', '-d10s', '-H', `Authorization: Bearer ${tok}`, `http://127.0.0.1:${caddy.httpPort}/c`], { stdio: 'inherit' }); w.on('exit', () => resolve()) })
const exited = new Promise(r => gw.once('exit', r)); gw.kill('SIGTERM'); await exited
for (const fn of teardowns.reverse()) await fn()
