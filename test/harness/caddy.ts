import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { rootCertificates } from 'node:tls'
import path from 'node:path'
import { freePort, waitFor } from './ports.js'
import { killOnDeath } from './reaper.js'
import { tempDir } from './tmp.js'

// Starts a real Caddy (`caddy run`) on free loopback ports, with its admin API on its own
// loopback port, and stops it in the test's teardown. No mocked Caddy anywhere.

export interface CaddyHandle {
  /** http://127.0.0.1:PORT of the admin API */
  adminUrl: string
  adminPort: number
  /** A loopback HTTP port with an empty server "conductor" (routes @id "conductor-routes") ready for routes. */
  httpPort: number
  dir: string
  process: ChildProcess
  /** Log lines Caddy printed (stderr), for debugging failed tests. */
  log: () => string
  stop: () => Promise<void>
}

export interface CaddyOptions {
  /** Extra apps.http.servers entries, or a full config to merge. */
  config?: (ports: { adminPort: number; httpPort: number }) => object
  /** Reuse these ports (e.g. a "restarted" Caddy on the same admin endpoint); default: free ones. */
  adminPort?: number
  httpPort?: number
}

export async function startCaddy(
  t: { teardown: (fn: () => Promise<void> | void) => void },
  opts: CaddyOptions = {}
): Promise<CaddyHandle> {
  const dir = tempDir(t, 'conductor-caddy-')
  const adminPort = opts.adminPort ?? (await freePort())
  const httpPort = opts.httpPort ?? (await freePort())
  const config = opts.config?.({ adminPort, httpPort }) ?? {
    admin: { listen: `127.0.0.1:${adminPort}` },
    logging: { logs: { default: { level: 'WARN' } } },
    storage: { module: 'file_system', root: path.join(dir, 'data') },
    apps: {
      http: {
        servers: {
          conductor: {
            listen: [`127.0.0.1:${httpPort}`],
            automatic_https: { disable: true },
            routes: [],
            '@id': 'conductor-server'
          }
        }
      }
    }
  }
  const file = path.join(dir, 'caddy.json')
  writeFileSync(file, JSON.stringify(config))
  let log = ''
  const proc = spawn('caddy', ['run', '--config', file], {
    env: {
      ...process.env,
      HOME: dir,
      XDG_DATA_HOME: path.join(dir, 'data'),
      XDG_CONFIG_HOME: path.join(dir, 'config')
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  proc.stdout?.on('data', (d: Buffer) => {
    log += d.toString()
  })
  proc.stderr?.on('data', (d: Buffer) => {
    log += d.toString()
  })
  // Killed by the reaper if this process ends without its teardown (tap's timeout, SIGTERM).
  const reaped = killOnDeath(proc.pid)
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    reaped()
  }
  t.teardown(stop)
  const adminUrl = `http://127.0.0.1:${adminPort}`
  await waitFor(
    `caddy admin API on ${adminUrl} (log: ${log})`,
    async () => (await fetch(`${adminUrl}/config/`)).ok,
    15_000
  )
  return { adminUrl, adminPort, httpPort, dir, process: proc, log: () => log, stop }
}

export interface TlsCaddy {
  caddy: CaddyHandle
  /** https://127.0.0.1:PORT */
  base: string
  /** Caddy's local CA (`tls internal`), for --ca-file. */
  caFile: string
  /** System CAs plus Caddy's local one, for node:https / ws clients. */
  ca: string[]
}

/**
 * Caddy serving HTTPS on a loopback port with `tls internal` (its own local CA, nothing
 * installed into the system trust store) and an empty server "@id": "conductor-server".
 */
export async function startTlsCaddy(t: { teardown: (fn: () => Promise<void> | void) => void }): Promise<TlsCaddy> {
  const storage = tempDir(t, 'cnd-caddy-tls-')
  const caddy = await startCaddy(t, {
    config: ({ adminPort, httpPort }) => ({
      admin: { listen: `127.0.0.1:${adminPort}` },
      logging: { logs: { default: { level: 'WARN' } } },
      storage: { module: 'file_system', root: storage },
      apps: {
        http: {
          servers: {
            conductor: {
              listen: [`127.0.0.1:${httpPort}`],
              routes: [],
              '@id': 'conductor-server',
              tls_connection_policies: [{}],
              automatic_https: { disable_redirects: true }
            }
          }
        },
        tls: {
          certificates: { automate: ['127.0.0.1'] },
          automation: { policies: [{ subjects: ['127.0.0.1'], issuers: [{ module: 'internal' }] }] }
        },
        pki: { certificate_authorities: { local: { install_trust: false } } }
      }
    })
  })
  const caFile = path.join(storage, 'pki/authorities/local/root.crt')
  await waitFor('Caddy local CA', () => existsSync(caFile), 15_000)
  const ca = [...rootCertificates, readFileSync(caFile, 'utf8')]
  const base = `https://127.0.0.1:${caddy.httpPort}`
  // The certificate is issued asynchronously: wait until a TLS handshake with it succeeds.
  await waitFor(
    'Caddy serving TLS with its local CA',
    async () =>
      await new Promise<boolean>(resolve => {
        const req = httpsRequest(`${base}/`, { ca, agent: false }, res => {
          res.resume()
          resolve(true)
        })
        req.on('error', () => resolve(false))
        req.end()
      }),
    15_000
  )
  return { caddy, base, caFile, ca }
}

/**
 * POSTs JSON to Caddy's admin API on a fresh connection: Caddy closes kept-alive admin
 * connections when it reloads its config, and fetch would reuse such a socket ("other side closed").
 */
export async function postCaddyConfig(url: string, body: unknown): Promise<void> {
  const payload = JSON.stringify(body)
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
      },
      res => {
        let text = ''
        res.on('data', (d: Buffer) => {
          text += d.toString()
        })
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`POST ${url}: ${res.statusCode} ${text}`))
        )
      }
    )
    req.on('error', reject)
    req.end(payload)
  })
}
