// Public surface of gateway/.
export { buildGateway, createMetricsServer, type Gateway, type GatewayOptions } from './app.js'
export { createMetrics, type GatewayMetrics } from './metrics.js'
export { parseListen, isLoopback, type ListenAddress } from './listen.js'
export { DEFAULT_LISTEN, CLOSE_GRACE_MS } from './defaults.js'
export { GatewayError, ListenNotAllowed } from './errors.js'
