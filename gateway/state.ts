import { formatLocation, formatProblem } from '../errors/index.js'
import { loadAllServices, type Roots, type ServiceEntry, type ValidationCache } from '../conductor/model/index.js'
import { loadPolicySet, type CompileOptions, type PolicySet } from '../policies/index.js'

// What the gateway serves from: services and policies, loaded together and swapped as one
// object on SIGHUP, so a request never sees half of a reload.

export interface GatewayState {
  services: ServiceEntry[]
  policies: PolicySet
  loadedAt: Date
}

export interface LoadStateOptions {
  policy?: CompileOptions | undefined
  /**
   * The state in force (SIGHUP reload): a policy file broken since keeps the version it had,
   * and the rest reloads. Without it (first start) a broken policy is left out.
   */
  previous?: GatewayState | undefined
  /** Contents validated before (the CLI's cache): zod loads only for new service or policy files. */
  cache?: ValidationCache | undefined
}

export async function loadGatewayState(
  roots: Pick<Roots, 'services' | 'policies'>,
  opts: LoadStateOptions = {}
): Promise<GatewayState> {
  const policies = await loadPolicySet(roots.policies, opts.policy, opts.previous?.policies, opts.cache)
  return { services: await loadAllServices(roots.services, opts.cache), policies, loadedAt: new Date() }
}

/** The body of GET /healthz: what `conductor doctor` and `policy ls` read (stale_policies: served from a last good version). */
export function healthBody(s: GatewayState): {
  ok: true
  services: number
  policies: number
  loaded_at: string
  stale_policies: Array<{ name: string; file: string; since: string }>
} {
  return {
    ok: true,
    services: s.services.length,
    policies: s.policies.size,
    loaded_at: s.loadedAt.toISOString(),
    stale_policies: s.policies.stale.map(p => ({ name: p.name, file: p.file, since: p.since.toISOString() }))
  }
}

export class StateHolder {
  constructor(
    public current: GatewayState,
    private readonly load: (current: GatewayState) => Promise<GatewayState>
  ) {}

  /** Loads a new state; on failure the old one stays in force and the error is returned. */
  async reload(): Promise<{ ok: true; state: GatewayState } | { ok: false; error: unknown }> {
    try {
      const next = await this.load(this.current)
      this.current = next
      return { ok: true, state: next }
    } catch (error) {
      return { ok: false, error }
    }
  }
}

interface PolicyLog {
  error: (fields: object, msg: string) => void
  warn: (fields: object, msg: string) => void
}

/**
 * Logs what an operator must fix in the policies just loaded: files left out, files served
 * from their last good version, plaintext tokens others can read. Every line names the file.
 */
export function logPolicyProblems(log: PolicyLog, set: PolicySet): void {
  const stale = new Map(set.stale.map(s => [s.file, s]))
  for (const p of set.problems) {
    const where = formatLocation(p.file, p.jsonPath)
    const kept = p.file === undefined ? undefined : stale.get(p.file)
    if (kept !== undefined) {
      const since = kept.since.toISOString()
      log.error(
        { policy: kept.name, file: p.file, path: p.jsonPath, since },
        `policy "${kept.name}" kept at its last good version (loaded ${since}) until its file is fixed: ` +
          `${where}${p.message}`
      )
    } else {
      log.error({ file: p.file, path: p.jsonPath }, `policy left out: ${where}${p.message}`)
    }
  }
  for (const w of set.warnings) {
    log.warn({ file: w.file, path: w.jsonPath }, `policy warning: ${formatProblem(w)}`)
  }
}
