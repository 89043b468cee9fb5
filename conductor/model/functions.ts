import { defaults as cgiDefaults } from '../../cgi/index.js'
import type { Service, ServiceFunction, ServiceEntry } from './service.js'
import { functionId } from './names.js'

// Functions as the gateway, `conductor function ls` and `conductor function caddy-config` see
// them: id, route, mode, policy, limits with every default filled (from cgi/defaults.ts, so
// the CLI prints what the gateway does).

/** Prefix under which every function is reachable (on any host unless it declares a route). */
export const FUNCTIONS_PREFIX = '/.conductor/functions'

export interface FunctionInfo {
  id: string
  service: string
  name: string
  format: 'cgi' | 'http-stdio'
  mode: 'single' | 'multi' | 'parallel'
  /** Policy name, or undefined: the function is public. */
  policy: string | undefined
  isPublic: boolean
  authorization: string
  route: { host: string[] | undefined; path: string }
  /** Segments removed from the public path to form PATH_INFO. */
  pathInfoStrip: number
  minWarm: number
  maxWorkers: number
  maxQueue: number
  maxRequests: number
  idleTimeoutSec: number
  timeoutSec: number
  maxBodyBytes: number
  fn: ServiceFunction
}

export function describeFunction(service: Service, fn: ServiceFunction): FunctionInfo {
  const id = functionId(service.name, fn.name)
  const hasRoute = fn.route !== undefined
  const path = fn.route?.path ?? (hasRoute ? '/*' : `${FUNCTIONS_PREFIX}/${id}/*`)
  return {
    id,
    service: service.name,
    name: fn.name,
    format: fn.format,
    mode: fn.mode ?? 'single',
    policy: fn.policy,
    isPublic: fn.policy === undefined,
    authorization: fn.authorization ?? `function:${id}`,
    route: { host: fn.route?.host, path },
    pathInfoStrip: fn.path_info_strip ?? literalSegments(path),
    minWarm: fn.min_warm ?? 0,
    maxWorkers: fn.max_workers ?? cgiDefaults.DEFAULT_MAX_WORKERS,
    maxQueue: fn.max_queue ?? cgiDefaults.DEFAULT_MAX_QUEUE,
    maxRequests: fn.max_requests ?? cgiDefaults.DEFAULT_MAX_REQUESTS,
    idleTimeoutSec: fn.idle_timeout_sec ?? cgiDefaults.DEFAULT_IDLE_TIMEOUT_SEC,
    timeoutSec: fn.timeout_sec ?? cgiDefaults.DEFAULT_TIMEOUT_SEC,
    maxBodyBytes: fn.max_body_bytes ?? cgiDefaults.DEFAULT_MAX_BODY_BYTES,
    fn
  }
}

/** Every function of every valid (and enabled) service, sorted by id. */
export function listFunctions(entries: ServiceEntry[]): Array<{ service: Service; info: FunctionInfo }> {
  return entries
    .flatMap(e =>
      e.service === undefined || e.service.disable
        ? []
        : e.service.functions.map(fn => ({ service: e.service!, info: describeFunction(e.service!, fn) }))
    )
    .sort((a, b) => a.info.id.localeCompare(b.info.id))
}

/** "/api/v1/*" -> 2: the segments of a path pattern before its first wildcard. */
export function literalSegments(pattern: string): number {
  const star = pattern.indexOf('*')
  const literal = star === -1 ? pattern : pattern.slice(0, star)
  return literal
    .split('/')
    .slice(1, literal.endsWith('/') || star !== -1 ? -1 : undefined)
    .filter(s => s !== '').length
}
