import { deploymentDir, type DeploymentState } from '../state/index.js'
import { deploymentVars, type SystemCtx } from '../reconcile/index.js'
import type { Pod, Service } from '../model/index.js'
import { READINESS_DEFAULTS, waitReady, type ReadinessCheck } from './readiness.js'

// A deployment's readiness check, from its pod part: `readiness` (http or exec), else the
// first declared port accepting connections, else none (ready once the unit is active). Used
// by deploys, and by the deployment config unit before it registers routes on its own.

export function readinessCheck(
  sctx: SystemCtx,
  svc: Service,
  pod: Pod,
  rec: DeploymentState
): ReadinessCheck | undefined {
  const r = pod.readiness
  if (r !== undefined && 'exec' in r) {
    const cwd = deploymentDir(sctx.roots.deployments, rec.id)
    return { kind: 'exec', argv: r.exec, cwd, env: deploymentVars(sctx, svc, rec) }
  }
  const portName = r?.port ?? pod.ports?.[0]
  const port = portName === undefined ? undefined : rec.ports[portName]
  if (port === undefined) return undefined
  if (r !== undefined) return { kind: 'http', url: `http://127.0.0.1:${port}${r.http_path}` }
  return { kind: 'tcp', host: '127.0.0.1', port }
}

/** Waits until the deployment is ready by its part's check and timing; `detail` says how it went. */
export async function waitDeploymentReady(
  sctx: SystemCtx,
  svc: Service,
  pod: Pod,
  rec: DeploymentState
): Promise<{ ready: boolean; detail: string }> {
  const check = readinessCheck(sctx, svc, pod, rec)
  if (check === undefined) {
    return { ready: true, detail: 'no port and no readiness check: ready once the unit is active' }
  }
  const r = pod.readiness
  const result = await waitReady(check, {
    intervalMs: r?.interval_ms ?? READINESS_DEFAULTS.intervalMs,
    timeoutMs: (r?.timeout_sec ?? READINESS_DEFAULTS.timeoutMs / 1000) * 1000,
    successes: r?.successes ?? READINESS_DEFAULTS.successes
  })
  const probes = `${result.probes} probe${result.probes === 1 ? '' : 's'}`
  const detail = `${result.last?.detail ?? 'no probe'} (${probes}, ${Math.round(result.elapsedMs)} ms)`
  return { ready: result.ready, detail }
}
