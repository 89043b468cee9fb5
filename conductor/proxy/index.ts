// Public surface of conductor/proxy/.
export { commandCaddySnippets } from './command-routes.js'
export { type CaddyDriver, caddyDriver } from './driver.js'
export { caddyClient, resolveCaddyAdmin } from './endpoint.js'
export { functionCaddySnippets } from './function-routes.js'
export { listProtectedRoutes, removeProtectedRoute, saveProtectedRoute } from './protected.js'
export {
  type SnippetRecord,
  type SnippetRecordStore,
  readSnippetRecord,
  readSnippetRecords,
  recordsOver,
  removeSnippetRecord,
  sameRecord
} from './records.js'
export {
  type SnippetOwnerContext,
  deregisterServiceSnippets,
  registerOwner,
  registerServiceSnippets,
  renderProxySnippets,
  staleSnippets
} from './snippets.js'
export {
  type DesiredSnippets,
  type OwnerSnippets,
  type SnippetSource,
  ownerSnippets,
  snippetSources
} from './sources.js'
export { snippetStatus, syncSnippets } from './sync.js'
export { type GroupedRoutes, replicaGroup, routedSnippets, routesByGroup, sharedRoutes } from './replicas.js'
