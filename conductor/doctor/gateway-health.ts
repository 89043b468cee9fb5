import { request } from 'node:http'

// The running gateway's /healthz, read by `conductor doctor` and `conductor policy ls` to say
// which policies it serves from a last good version (a file broken after it loaded).

export interface StalePolicyInfo {
  name: string
  file: string
  since: string
}
export interface GatewayHealth {
  services: number
  policies: number
  loaded_at: string
  stale_policies: StalePolicyInfo[]
}

/** GET /healthz on HOST:PORT or unix:/path; undefined when nothing (or no gateway) answers in time. */
export async function gatewayHealth(listen: string, timeoutMs = 1000): Promise<GatewayHealth | undefined> {
  const colon = listen.lastIndexOf(':')
  const target = listen.startsWith('unix:')
    ? { socketPath: listen.slice('unix:'.length) }
    : { host: listen.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(listen.slice(colon + 1)) }
  return await new Promise(resolve => {
    const req = request({ ...target, path: '/healthz', method: 'GET', timeout: timeoutMs }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        if (body.length < 1024 * 1024) body += d
      })
      res.on('end', () => {
        try {
          const h = JSON.parse(body) as Partial<GatewayHealth>
          const ok = res.statusCode === 200 && typeof h.policies === 'number'
          resolve(ok ? ({ stale_policies: [], ...h } as GatewayHealth) : undefined)
        } catch {
          resolve(undefined)
        }
      })
      // A response cut short (timeout, reset) ends here; after 'end' this is a no-op.
      res.on('close', () => resolve(undefined))
      res.on('error', () => resolve(undefined))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
    req.end()
  })
}
