import { loadAllServices, type Roots, type ServiceEntry } from '../conductor/index.js'
import { loadPolicySet, PolicyInvalid, type CompileOptions, type PolicySet } from '../policies/index.js'

// What the gateway serves from: services and policies, loaded together and swapped as one
// object on SIGHUP, so a request never sees half of a reload.

export interface GatewayState {
  services: ServiceEntry[]
  policies: PolicySet
  loadedAt: Date
}

export interface LoadStateOptions {
  /** Reload: any broken policy fails the whole load (the old state stays). First start: serve the valid ones. */
  strict?: boolean
  policy?: CompileOptions
}

export async function loadGatewayState (roots: Pick<Roots, 'services' | 'policies'>, opts: LoadStateOptions = {}): Promise<GatewayState> {
  const policies = loadPolicySet(roots.policies, opts.policy)
  if (opts.strict === true && policies.problems.length > 0) throw PolicyInvalid.fromProblems([...policies.problems])
  return { services: await loadAllServices(roots.services), policies, loadedAt: new Date() }
}

export class StateHolder {
  constructor (public current: GatewayState, private readonly load: () => Promise<GatewayState>) {}

  /** Loads a new state; on failure the old one stays in force and the error is returned. */
  async reload (): Promise<{ ok: true, state: GatewayState } | { ok: false, error: unknown }> {
    try {
      const next = await this.load()
      this.current = next
      return { ok: true, state: next }
    } catch (error) {
      return { ok: false, error }
    }
  }
}
