import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { freePort, waitFor } from './ports.js'
import { tempDir } from './tmp.js'

// Three clustered nats-servers on loopback (JetStream, R3 buckets), no namespaces: for unit tests
// of what must hold on a cluster, not only on one server (nats-server 2.9's clustered streams
// accept two racing per-key compare-and-sets now and then; fleet/cas.ts).

type Test = Parameters<typeof tempDir>[0]

/** One nats-server with JetStream on a free loopback port, killed at teardown; resolves once it accepts. */
export async function natsLoopbackServer(t: Test): Promise<number> {
  const port = await freePort()
  const proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', tempDir(t)], {
    stdio: 'ignore'
  })
  t.teardown(() => {
    proc.kill('SIGKILL')
  })
  await waitFor(
    'nats-server',
    async () =>
      await new Promise<boolean>(resolve => {
        const s = net
          .connect(port, '127.0.0.1', () => {
            s.destroy()
            resolve(true)
          })
          .on('error', () => resolve(false))
      }),
    10_000,
    50
  )
  return port
}

export async function natsLoopbackCluster(t: Test): Promise<number[]> {
  const ports = await Promise.all(Array.from({ length: 6 }, async () => await freePort()))
  const clients = ports.slice(0, 3)
  const routes = ports.slice(3)
  for (let i = 0; i < 3; i++) {
    const dir = tempDir(t)
    const conf = path.join(dir, 'nats.conf')
    writeFileSync(
      conf,
      `server_name: s${i}\nlisten: "127.0.0.1:${clients[i]}"\njetstream { store_dir: "${dir}/js" }\n` +
        `cluster { name: c, listen: "127.0.0.1:${routes[i]}", ` +
        `routes: [${routes.map(p => `"nats-route://127.0.0.1:${p}"`).join(', ')}] }\n`
    )
    const proc = spawn('nats-server', ['-c', conf], { stdio: 'ignore' })
    t.teardown(() => {
      proc.kill('SIGKILL')
    })
  }
  return clients
}

/** A client of PORT once JetStream answers there (a meta leader exists), closed at teardown. */
export async function connectWhenReady(t: Test, port: number): Promise<NatsConnection> {
  let nc: NatsConnection | undefined
  await waitFor(
    `JetStream on 127.0.0.1:${port}`,
    async () => {
      try {
        nc ??= await connect({ servers: `127.0.0.1:${port}`, timeout: 2000 })
        const { jetstreamManager } = await import('@nats-io/jetstream')
        await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo()
        return true
      } catch {
        return false
      }
    },
    30_000,
    200
  )
  t.teardown(async () => {
    await nc!.close()
  })
  return nc!
}
