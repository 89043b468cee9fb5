import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parseSnippets, type Snippet } from '../../caddy/index.js'
import { isBuiltinPeersTemplate } from '../host/index.js'
import {
  DEFAULT_GATEWAY_LISTEN,
  describeFunction,
  functionId,
  PEERS_SERVICE,
  type HostConfig,
  type Service,
  type Variables
} from '../model/index.js'
import { functionCaddySnippets } from './function-routes.js'

// The built-in peers service (host/builtin-service.ts) has nine functions, and its proxy
// template only runs `conductor function caddy-config` for each: nine Node processes at every
// render (a first reload, each `caddy sync`, so each Caddy start), 0.25 s each on a quiet
// machine and 1–2 s under load, for routes Conductor can compute itself. While the template is
// the one `system install` wrote, its output is computed here, the same way that command
// computes it; an edited template, or a function the command would not find, is run as it is.

/**
 * The snippets the built-in peers template would print for VARS (one function's route, or none
 * in the service's own context), or undefined when the template must run. HOST: host.json as
 * loaded (where the gateway's function listener is, as `function caddy-config` reads it).
 */
export async function builtinPeersSnippets(
  service: Service,
  vars: Variables,
  host: Pick<HostConfig, 'functions_listen' | 'gateway_listen'>
): Promise<Snippet[] | undefined> {
  if (service.name !== PEERS_SERVICE || service.proxy_config_template === undefined) return undefined
  const file = path.resolve(service.dir, service.proxy_config_template)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  if (!isBuiltinPeersTemplate(text)) return undefined
  const id = vars.CONDUCTOR_FUNCTION_ID
  if (id === undefined || id === '') return []
  const fn = service.disable ? undefined : service.functions.find(f => functionId(service.name, f.name) === id)
  if (fn === undefined) return undefined
  const gateway = host.functions_listen ?? host.gateway_listen ?? DEFAULT_GATEWAY_LISTEN
  // Through the template's own parser: what a template's output must pass, this passes too.
  return await parseSnippets(JSON.stringify(functionCaddySnippets(describeFunction(service, fn), gateway)), file)
}
