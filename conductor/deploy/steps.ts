import { ConductorError } from '../../errors/index.js'

// Zero-downtime deploy of one service (issue 8), as a sequence over injected drivers so the
// ordering — the part where requests get dropped when it is wrong — is tested on its own:
//   1. start the new deployment beside the old one (its own ports)
//   2. wait until it is ready (readiness probe); if it never is: stop it, keep the old one
//   3. switch routes: the new deployment's Caddy snippets in, the old one's out, in one Caddy
//      config change (every change reloads Caddy's servers: see caddy/swap.ts)
//   4. drain: wait until Caddy reports no request in flight to the old upstreams
//   5. stop the old deployment: its stop is queued in systemd and the command does not wait
//      for it (the drivers' `retire`), unless post-stop hooks must run after it
// The lock (deploy-lock.ts) around it is taken by the caller.

export class DeployFailed extends ConductorError {
  override readonly code = 'CND_DEPLOY_FAILED'
}

export interface DeploymentRef {
  id: string
  /** Upstream addresses ("127.0.0.1:PORT") its snippets route to, for draining. */
  upstreams: string[]
}

export interface DeployDrivers {
  /** Creates and starts a new deployment of the part (replica index `replica`) with the config overrides. */
  start: (replica: number) => Promise<DeploymentRef>
  /** Waits for readiness; resolves false (with the last probe output) when it never comes. */
  waitReady: (d: DeploymentRef) => Promise<{ ready: boolean; detail: string }>
  /**
   * New routes in, old routes out, as one Caddy config change. `fresh` is the first new
   * deployment, `replicas` every new one (fresh first; just fresh for a part without replicas).
   */
  switchRoutes: (fresh: DeploymentRef, old: DeploymentRef[], replicas: DeploymentRef[]) => Promise<void>
  /** Removes a deployment's routes (clean-up after a failed switch). */
  deregister: (d: DeploymentRef) => Promise<void>
  /** Requests in flight per upstream address, from Caddy's GET /reverse_proxy/upstreams. */
  inFlight: (upstreams: string[]) => Promise<number>
  /** Stops and removes a deployment, waiting for the stop (a new one that failed). */
  stop: (d: DeploymentRef) => Promise<void>
  /** Stops and removes a drained old deployment; says whether the stop was waited for or queued. */
  retire: (d: DeploymentRef) => Promise<string>
  sleep: (ms: number) => Promise<void>
  now: () => number
}

export interface DeployOptions {
  /** New deployments to start (the part's `replicas`, default 1); every old one is replaced. */
  replicas?: number
  drainTimeoutMs: number
  drainPollMs: number
  onStep?: (step: DeployStep) => void
  /** Awaited before each step starts (fault tests pause here to kill the deploy). */
  beforeStep?: (name: string) => Promise<void>
}

/** Short names of the steps, for CONDUCTOR_DEPLOY_PAUSE_AT (commands/deploy.ts). */
export const DEPLOY_STEPS = {
  start: 'start new deployment',
  ready: 'wait for readiness',
  switch: 'switch routes',
  drain: 'drain old deployment',
  stop: 'stop old deployment'
} as const

export interface DeployStep {
  name: string
  ms: number
  detail?: string
}

export interface DeployOutcome {
  /** The first new deployment (the only one without replicas). */
  deployed: DeploymentRef
  /** Every new deployment, `deployed` first. */
  replicas: DeploymentRef[]
  stopped: DeploymentRef[]
  drained: boolean
  steps: DeployStep[]
}

export async function runDeploy(
  old: DeploymentRef[],
  drivers: DeployDrivers,
  opts: DeployOptions
): Promise<DeployOutcome> {
  const steps: DeployStep[] = []
  const step = async <T>(name: string, fn: () => Promise<T>, detail?: (r: T) => string | undefined): Promise<T> => {
    await opts.beforeStep?.(name)
    const t0 = drivers.now()
    const result = await fn()
    const s: DeployStep = { name, ms: drivers.now() - t0 }
    const d = detail?.(result)
    if (d !== undefined) s.detail = d
    steps.push(s)
    opts.onStep?.(s)
    return result
  }

  // Every new replica is started and ready before any route changes; then one switch, one
  // drain, and the old ones stop. A replica that fails stops every new one: the old ones, never
  // touched, keep serving (as many as before the deploy).
  const count = opts.replicas ?? 1
  const replicas: DeploymentRef[] = []
  const abandon = async (why: string): Promise<void> => {
    for (const d of replicas)
      await step(
        `stop new deployment (${why})`,
        async () => await drivers.stop(d),
        () => d.id
      )
  }
  for (let i = 0; i < count; i++) {
    try {
      replicas.push(
        await step(
          'start new deployment',
          async () => await drivers.start(i),
          d => d.id
        )
      )
    } catch (err) {
      await abandon('another replica did not start')
      throw err
    }
  }
  const fresh = replicas[0]!
  for (const d of replicas) {
    const readiness = await step(
      'wait for readiness',
      async () => await drivers.waitReady(d),
      r => (count === 1 ? r.detail : `${d.id}: ${r.detail}`)
    )
    if (!readiness.ready) {
      // The old deployment was never touched: only the new ones are removed.
      await abandon('never ready')
      const which = count === 1 ? `new deployment ${d.id}` : `new replica ${d.id} (${count} replicas started)`
      throw new DeployFailed(
        `${which} did not become ready; the previous deployment keeps serving. Last readiness check: ${readiness.detail}`
      )
    }
  }
  const ids = replicas.map(d => d.id).join(', ')
  try {
    await step(
      'switch routes',
      async () => await drivers.switchRoutes(fresh, old, replicas),
      () => (old.length === 0 ? ids : `${old.map(o => o.id).join(', ')} -> ${ids}`)
    )
  } catch (err) {
    // The switch is one config change: when it fails, Caddy still routes to the old deployment.
    for (const d of replicas) await drivers.deregister(d).catch(() => {})
    for (const d of replicas) await drivers.stop(d)
    throw new DeployFailed(
      `switching the routes to ${ids} failed; the previous deployment keeps serving: ${(err as Error).message}`,
      undefined,
      undefined,
      { cause: err }
    )
  }
  const upstreams = old.flatMap(o => o.upstreams).filter(u => !replicas.some(d => d.upstreams.includes(u)))
  const drained = await step(
    'drain old deployment',
    async () => await drain(upstreams, drivers, opts),
    ok => (ok ? 'no request in flight' : `drain timeout (${opts.drainTimeoutMs} ms) reached`)
  )
  for (const o of old)
    await step(
      'stop old deployment',
      async () => await drivers.retire(o),
      how => `${o.id}${how}`
    )
  return { deployed: fresh, replicas, stopped: old, drained, steps }
}

async function drain(upstreams: string[], drivers: DeployDrivers, opts: DeployOptions): Promise<boolean> {
  if (upstreams.length === 0) return true
  const deadline = drivers.now() + opts.drainTimeoutMs
  for (;;) {
    if ((await drivers.inFlight(upstreams)) === 0) return true
    if (drivers.now() >= deadline) return false
    await drivers.sleep(opts.drainPollMs)
  }
}

/** Every `dial` address in a Caddy snippet: the upstreams a deployment's routes send to. */
export function dialsOf(config: unknown): string[] {
  const out: string[] = []
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk)
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'dial' && typeof x === 'string') out.push(x)
        else walk(x)
      }
    }
  }
  walk(config)
  return out
}
