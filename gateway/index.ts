// Public surface of gateway/. Light on purpose: the CLI imports it for constants and for the
// `conductor gateway` command, and Fastify with its plugins (~150 ms) loads only when a gateway
// is built or served (lazy.ts: the two functions import app.ts and serve.ts on first call).
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
export { buildGateway, serveGateway } from './lazy.js'
