// Public surface of caddy/: the admin API client, proxy snippets and route builders.
export {
  CaddyClient,
  adminPath,
  headId,
  redact,
  type CaddyClientOptions,
  type CaddyResponse,
  type Upstream as UpstreamCount
} from './client.js'
export {
  isSnippetList,
  snippetAtId,
  parseSnippets,
  validateSnippets,
  sameJson,
  registerSnippet,
  registerSnippets,
  deregisterSnippet,
  deregisterSnippets,
  snippetState,
  type Snippet,
  type RegisterResult,
  type DeregisterResult,
  type SnippetState
} from './snippets.js'
export { swapSnippets, planSwap, type SwapOutcome, type SwapPlan } from './swap.js'
export { snippetStateIn } from './config-path.js'
export {
  protectedRoute,
  publicRoute,
  STRIPPED_HEADERS,
  authHandler,
  upstreamHandler,
  isDial,
  type ProtectedRouteOptions,
  type PublicRouteOptions,
  type Upstream,
  type CaddyRoute,
  type Json
} from './routes.js'
export {
  CaddyError,
  CaddyUnreachable,
  CaddyHttpError,
  CaddyNotFound,
  CaddyConflict,
  SnippetInvalid,
  RouteInvalid
} from './errors.js'
export {
  DEFAULT_ADMIN_URL,
  CONDUCTOR_SERVER_ID,
  DEFAULT_ROUTES_TARGET,
  DEFAULT_GATEWAY_DIAL,
  IDENTITY_HEADERS,
  AUTH_PATH
} from './defaults.js'
export { loadSnippetSchemas } from './lazy.js'
