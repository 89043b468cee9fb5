import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { chunksHolding, chunksOfSource, recordLoadsPreload } from '../../harness/bundle.js'
import { binPath } from '../../harness/cli.js'
import { freePort, waitFor } from '../../harness/ports.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// The served gateway's start (gateway/serve.ts): services and policies read through the
// validation cache (systemd's CacheDirectory= in production), the listen before Fastify, and
// held requests answered once Fastify is attached.

const TOKEN = 'serve-test-token-0123456789'

t.test(
  'a restarted gateway loads zod for no file it validated before; requests held while it starts are answered',
  async t => {
    if (!existsSync(binPath)) {
      t.skip('dist/ not built (npm run build)', () => {})
      return
    }
    const root = tempDir(t)
    writeTree(root, {
      'etc/conductor/policies/p.json': { match: [{ meta: { 'peer-id': 'x' }, bearer: [{ token: TOKEN }] }] },
      'etc/conductor/services/svc/conductor-service.json': { app_name: 'svc', config: { TAG: 'v1' } }
    })
    const cache = path.join(root, 'cache')
    const start = async (run: string): Promise<{ loaded: () => string[]; stop: () => Promise<number | null> }> => {
      const port = await freePort()
      const loaded = path.join(root, `loaded-${run}.txt`)
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        CACHE_DIRECTORY: cache,
        LOADED: loaded,
        // Writes every chunk the process loads, in order, to $LOADED.
        NODE_OPTIONS: `--require ${recordLoadsPreload(root)}`
      }
      delete env.CONDUCTOR_CACHE_DIR
      const proc = spawn(
        process.execPath,
        [
          binPath,
          '--root',
          root,
          'gateway',
          '--listen',
          `127.0.0.1:${port}`,
          '--metrics-listen',
          'none',
          '--log-level',
          'warn'
        ],
        { env, stdio: ['ignore', 'ignore', 'inherit'] }
      )
      t.teardown(() => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
      })
      const base = `http://127.0.0.1:${port}`
      await waitFor('gateway /healthz', async () => (await fetch(`${base}/healthz`)).ok, 30_000)
      // Sent together at once: /auth has its answer now, the other waits for Fastify if it is not there yet.
      const [auth, other] = await Promise.all([
        fetch(`${base}/auth?policy=p`, { headers: { authorization: `Bearer ${TOKEN}` } }),
        fetch(`${base}/nothing-here`)
      ])
      t.equal(auth.status, 200, `${run}: /auth allowed`)
      t.equal(auth.headers.get('x-conductor-peer-id'), 'x')
      t.equal(other.status, 404, `${run}: a request only Fastify answers is answered`)
      t.same(
        await other.json(),
        { error: 'CND_NOT_FOUND', message: 'no route GET /nothing-here' },
        'by Fastify, in the one error body'
      )
      return {
        loaded: () =>
          readFileSync(loaded, 'utf8')
            .split('\n')
            .filter(l => l !== ''),
        stop: async () => {
          const exited = new Promise<number | null>(resolve => proc.once('exit', code => resolve(code)))
          proc.kill('SIGTERM')
          return await exited
        }
      }
    }
    // What ships is a bundle (scripts/bundle.mjs): modules are chunks of dist/conductor/, named by
    // what they hold. Chunks loaded before the listen: the one holding app.ts (Fastify and the
    // routes) is imported after it.
    const appChunks = new Set(await chunksOfSource('gateway/app.ts'))
    const zodChunks = new Set(await chunksHolding('zod'))
    const fastifyChunks = new Set([...(await chunksHolding('fastify')), ...(await chunksHolding('prom-client'))])
    const schemaChunks = new Set([
      ...(await chunksOfSource('policies/schema.ts')),
      ...(await chunksOfSource('conductor/model/schemas.ts'))
    ])
    const base = (m: string): string => path.basename(m)
    const beforeListen = (mods: string[]): string[] =>
      mods.slice(
        0,
        mods.findIndex(m => appChunks.has(base(m)))
      )

    const first = await start('first')
    t.equal(await first.stop(), 0, 'stopped cleanly')
    const cold = beforeListen(first.loaded())
    t.ok(
      appChunks.size > 0 && first.loaded().some(m => appChunks.has(base(m))) && cold.length > 0,
      "app.ts's chunk loads, after the listen"
    )
    t.ok(
      cold.some(m => zodChunks.has(base(m))),
      'the first start validated the files (zod)'
    )
    t.notOk(
      cold.some(m => fastifyChunks.has(base(m))),
      'no Fastify or prom-client before the listen'
    )
    t.ok(existsSync(path.join(cache, 'validated-services.json')), 'in the directory systemd gives')

    const second = await start('second')
    t.equal(await second.stop(), 0)
    const warm = beforeListen(second.loaded())
    t.notOk(
      warm.some(m => zodChunks.has(base(m))),
      'the restart loads no zod before it listens'
    )
    t.notOk(
      warm.some(m => schemaChunks.has(base(m))),
      'nor the schemas'
    )
  }
)
