// Public surface of gateway/. Light on purpose: the CLI imports it for constants and for the
// `conductor gateway` command, and Fastify with its plugins (~150 ms) loads only when a gateway
// is built or served (the two functions below import app.ts and serve.ts on first call).
import type * as App from './app.js'
import type * as Serve from './serve.js'
export type { Gateway, GatewayOptions, PressureOptions } from './app.js'
export type { ServeOptions } from './serve.js'
export type { GatewayMetrics } from './metrics.js'
export type { Authorizer, AuthorizeInput } from './authorize.js'
export type { GatewayState } from './state.js'
export type { ListenAddress } from './listen.js'
export type { FunctionsPluginOptions, FunctionsRegistry } from './functions.js'
export type { CommandsPluginOptions } from './commands.js'
export {
  DEFAULT_LISTEN,
  DEFAULT_METRICS_LISTEN,
  CLOSE_GRACE_MS,
  DEFAULT_MAX_EVENT_LOOP_DELAY_MS,
  DEFAULT_MAX_EVENT_LOOP_UTILIZATION,
  DEFAULT_PRESSURE_SAMPLE_MS,
  RETRY_AFTER_SEC
} from './defaults.js'
export { GatewayError, ListenFailed, ListenNotAllowed } from './errors.js'
export { parseListen, parseServeAddresses, isLoopback } from './listen.js'

/** The gateway app, built and ready, not listening (tests, benches; serveGateway for a process). */
export async function buildGateway(opts: App.GatewayOptions): Promise<App.Gateway> {
  return await (await import('./app.js')).buildGateway(opts)
}

/** `conductor gateway`: the gateway as a long-running process (listeners, SIGHUP, graceful stop). */
export async function serveGateway(opts: Serve.ServeOptions): Promise<void> {
  await (await import('./serve.js')).serveGateway(opts)
}
