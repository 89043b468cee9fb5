import path from 'node:path'
import { ConductorError, FleetBodyInvalid, FleetServiceUnknown, FleetWriteDenied } from '../../errors/index.js'
import { checkServiceName, serviceVersions } from '../archive/index.js'
import { sha256 } from './hash.js'
import type { ClusterCtx } from '../cluster/index.js'
import { updatePlacement } from '../state/index.js'
import { SERVICE_WRITE } from './defaults.js'
import { checkAndPush, withStore } from './ops.js'

// The seed's service functions (issue 18 item 3), run by the gateway as CGI behind the peers
// policy with authorization service-write (`conductor _ builtin NAME`, declared by the built-in
// service conductor-peers): write-service stores a service archive in the fleet's bucket
// (every host's sync daemon follows), enable/disable say whether an uploaded service may run on
// this host, start/stop run or stop it here. The gateway already refused a caller without
// service-write; it is checked again here, as the peer functions do.

export type ServiceBuiltinName = 'write-service' | 'enable' | 'disable' | 'start' | 'stop'
export const SERVICE_BUILTINS: readonly ServiceBuiltinName[] = ['write-service', 'enable', 'disable', 'start', 'stop']

export interface ServiceBuiltinRequest {
  method: string
  query: URLSearchParams
  body: Buffer
  env: NodeJS.ProcessEnv
}

export interface ServiceBuiltinDeps {
  cc: ClusterCtx
  servicesDir: string
  libDir: string
  /** Reconciles these services only; false when something failed. */
  reconcile: (names: string[]) => Promise<boolean>
  /** Stops a service here (its deployments and unit), as `conductor service stop`. */
  stop: (name: string) => Promise<boolean>
}

export async function runServiceBuiltin(
  d: ServiceBuiltinDeps,
  name: ServiceBuiltinName,
  req: ServiceBuiltinRequest
): Promise<{ status: number; body: unknown }> {
  try {
    const auths = new Set((req.env.HTTP_X_CONDUCTOR_AUTHORIZATIONS ?? '').split(',').filter(a => a !== ''))
    const caller = req.env.HTTP_X_CONDUCTOR_PEER_ID ?? req.env.REMOTE_USER ?? 'unknown'
    if (!auths.has(SERVICE_WRITE)) throw new FleetWriteDenied(`${caller} lacks ${SERVICE_WRITE}: it cannot ${name}`)
    if (req.method !== 'POST') throw new FleetBodyInvalid(`${name} takes a POST`)
    const service = req.query.get('service') ?? ''
    if (service === '') throw new FleetBodyInvalid(`${name}: the query parameter "service" is missing (?service=NAME)`)
    checkServiceName(service)
    if (name === 'write-service') return { status: 200, body: await writeService(d, service, caller, req) }
    const installed = await serviceVersions(d.servicesDir, service)
    if (!installed.managed) {
      throw new FleetServiceUnknown(
        `no uploaded service "${service}" on this host (write-service uploads one)`,
        path.join(d.servicesDir, service)
      )
    }
    if (name === 'enable' || name === 'disable') {
      await updatePlacement(d.libDir, d.cc.identity.id, `conductor _ builtin ${name}`, p => {
        p.overrides = { ...p.overrides, [service]: name === 'enable' ? 'enabled' : 'disabled' }
      })
      return {
        status: 200,
        body: { service, [name === 'enable' ? 'enabled' : 'disabled']: true, ok: await d.reconcile([service]) }
      }
    }
    const ok = name === 'start' ? await d.reconcile([service]) : await d.stop(service)
    return { status: ok ? 200 : 500, body: { service, [name === 'start' ? 'started' : 'stopped']: ok } }
  } catch (err) {
    if (err instanceof ConductorError)
      return { status: err.httpStatus, body: { error: err.code, message: err.message } }
    d.cc.log(`${name}: ${(err as Error).stack ?? String(err)}`)
    return { status: 500, body: { error: 'CND_INTERNAL', message: 'internal error (see the gateway log)' } }
  }
}

/**
 * The seed's inputs: the service name, its archive (the body: a tar as `fleet push` makes, or
 * any tar of a service directory: every host checks it), a version (default: the archive's
 * SHA-256); `digest`, when given, must be the body's SHA-256. The same version again does
 * nothing. gossip=false is refused: a version stored for this host only would be replaced by
 * the fleet's at its next push, silently.
 */
async function writeService(
  d: ServiceBuiltinDeps,
  service: string,
  caller: string,
  req: ServiceBuiltinRequest
): Promise<unknown> {
  if (req.query.get('gossip') === 'false') {
    throw new FleetBodyInvalid('gossip=false is not supported: a service written here is written to every host')
  }
  if (req.body.length === 0) throw new FleetBodyInvalid('write-service: the body (the service archive, a tar) is empty')
  const digest = req.query.get('digest') ?? sha256(req.body)
  const version = req.query.get('version') ?? undefined
  const r = await withStore(
    d.cc,
    async s => await checkAndPush(s, { service, archive: req.body, digest, version, writer: caller })
  )
  return { service, version: r.record.version, digest: r.record.digest, changed: r.changed, revision: r.revision }
}
