// What this folder's index.ts offers that loads a heavy module only when called: an index.ts only
// re-exports (scripts/bundle-barrels.mjs and test/unit/architecture.test.ts), so these live here.
// Fastify with its plugins (~150 ms) loads only when a gateway is built or served.
import type * as App from './app.js'
import type * as Serve from './serve.js'
/** The gateway app, built and ready, not listening (tests, benches; serveGateway for a process). */
export async function buildGateway(opts: App.GatewayOptions): Promise<App.Gateway> {
  return await (await import('./app.js')).buildGateway(opts)
}

/** `conductor gateway`: the gateway as a long-running process (listeners, SIGHUP, graceful stop). */
export async function serveGateway(opts: Serve.ServeOptions): Promise<void> {
  await (await import('./serve.js')).serveGateway(opts)
}
