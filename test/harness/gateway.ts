import { spawn, type ChildProcess } from 'node:child_process'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { resolveRoots } from '../../conductor/model/index.js'
import { buildGateway, type Gateway } from '../../gateway/index.js'
import { binPath } from './cli.js'
import { freePort, waitFor } from './ports.js'
import { killOnDeath } from './reaper.js'

export interface GatewayProcessOptions {
  /** Added to this process's environment (CONDUCTOR_ROOT...). */
  env?: NodeJS.ProcessEnv
  /** The loopback port to listen on; default a free one. */
  port?: number
  /** --metrics-listen; default none. */
  metricsListen?: string
  logLevel?: string
}

export interface GatewayProcess {
  proc: ChildProcess
  port: number
  output: () => string
}

/**
 * The compiled `conductor gateway` as its own process on loopback, without load shedding,
 * started whole (Fastify and its routes too) when this resolves. Killed at the end of the test if still running.
 * `output()` is what it printed (its JSON log lines), the last MiB of it.
 */
export async function startGatewayProcess(t: Test, o: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  const port = o.port ?? (await freePort())
  const args = [
    binPath,
    'gateway',
    '--listen',
    `127.0.0.1:${port}`,
    '--metrics-listen',
    o.metricsListen ?? 'none',
    '--max-event-loop-delay',
    '0',
    '--log-level',
    o.logLevel ?? 'error'
  ]
  const proc = spawn(process.execPath, args, { env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  // Always read: a full pipe would block the gateway's logging.
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-1024 * 1024)
  }
  proc.stdout.on('data', keep)
  proc.stderr.on('data', keep)
  const reaped = killOnDeath(proc.pid)
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    reaped()
  })
  await waitFor('gateway /healthz', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 15_000).catch(
    err => {
      // Why it did not answer: its exit, or what it printed.
      const state =
        proc.exitCode !== null || proc.signalCode !== null ? `exited ${proc.exitCode ?? proc.signalCode}` : 'running'
      throw new Error(
        `${(err as Error).message}; the gateway (pid ${proc.pid}) is ${state}; it printed: ${out.slice(-4000)}`
      )
    }
  )
  // /healthz and /auth are answered before the rest of the gateway has loaded (gateway/serve.ts);
  // a request only Fastify answers (a 404 here) comes back once all of it has.
  await fetch(`http://127.0.0.1:${port}/.conductor/started`)
  return { proc, port, output: () => out }
}

/**
 * The real gateway, in this process, on a free loopback port, for the root ROOT: no load
 * shedding, CGI without the fork server, its JSON log lines kept in `log` (the audit and
 * "no secret in the log" checks read them). Closed at the end of the test.
 */
export async function startLoggedGateway(
  t: Test,
  root: string
): Promise<{ gw: Gateway; gwPort: number; log: string[] }> {
  const log: string[] = []
  const stream = new Writable({
    write(chunk, _enc, cb) {
      log.push(String(chunk))
      cb()
    }
  })
  const gw = await buildGateway({
    roots: resolveRoots({ root }),
    pressure: { maxEventLoopDelayMs: 0 },
    cgiSpawner: false,
    logger: { level: 'info', stream }
  })
  t.teardown(async () => {
    await gw.app.close()
  })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  return { gw, gwPort: (gw.app.server.address() as { port: number }).port, log }
}
