// Public surface of conductor/proxy/.
export { commandCaddySnippets } from './command-routes.js'
export { type CaddyDriver, caddyDriver } from './driver.js'
export { caddyClient, resolveCaddyAdmin } from './endpoint.js'
export { functionCaddySnippets } from './function-routes.js'
export { type SnippetOwnerContext, deregisterServiceSnippets, listSnippetRecords, readSnippetRecord, registerServiceSnippets, removeSnippetRecord, renderProxySnippets } from './snippets.js'
export { desiredSnippetSources, listProtectedRoutes, removeProtectedRoute, saveProtectedRoute, snippetStatus, syncSnippets } from './sync.js'
