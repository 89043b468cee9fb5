// Public surface of gateway/.
export { buildGateway, type Gateway, type GatewayOptions } from './app.js'
export { parseListen, isLoopback, type ListenAddress } from './listen.js'
export { DEFAULT_LISTEN, CLOSE_GRACE_MS } from './defaults.js'
export { GatewayError, ListenNotAllowed } from './errors.js'
export { functionsPlugin, type Authorizer, type AuthRequest, type AuthResult, type FunctionsPluginOptions, type FunctionsRegistry } from './functions.js'
export { listenFunctions } from './functions-listener.js'
