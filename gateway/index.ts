// Public surface of gateway/.
export { buildGateway, createMetricsServer, type Gateway, type GatewayOptions, type PressureOptions } from './app.js'
export { createMetrics, type GatewayMetrics } from './metrics.js'
export { createAuthorizer, identityHeaders, type Authorizer, type AuthorizeInput } from './authorize.js'
export { loadGatewayState, StateHolder, type GatewayState } from './state.js'
export { parseListen, isLoopback, type ListenAddress } from './listen.js'
export { DEFAULT_LISTEN, CLOSE_GRACE_MS, DEFAULT_MAX_EVENT_LOOP_DELAY_MS, DEFAULT_MAX_EVENT_LOOP_UTILIZATION, DEFAULT_PRESSURE_SAMPLE_MS, RETRY_AFTER_SEC } from './defaults.js'
export { GatewayError, ListenNotAllowed } from './errors.js'
export type { Decision } from '../policies/index.js'
