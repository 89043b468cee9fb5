import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { resolveRoots } from '../../conductor/index.js'
import { buildGateway, type Gateway } from '../../gateway/index.js'

/**
 * The real gateway, in this process, on a free loopback port, for the root ROOT: no load
 * shedding, CGI without the fork server, its JSON log lines kept in `log` (the audit and
 * "no secret in the log" checks read them). Closed at the end of the test.
 */
export async function startLoggedGateway (t: Test, root: string): Promise<{ gw: Gateway, gwPort: number, log: string[] }> {
  const log: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { log.push(String(chunk)); cb() } })
  const gw = await buildGateway({ roots: resolveRoots({ root }), pressure: { maxEventLoopDelayMs: 0 }, cgiSpawner: false, logger: { level: 'info', stream } })
  t.teardown(async () => { await gw.app.close() })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  return { gw, gwPort: (gw.app.server.address() as { port: number }).port, log }
}
