import { loadAllServices, type Roots, type ServiceEntry } from '../conductor/index.js'

// What the gateway serves from: services (and, with the policies work, policies), loaded
// together and swapped as one object on SIGHUP, so a request never sees half of a reload.

export interface GatewayState {
  services: ServiceEntry[]
  loadedAt: Date
}

export async function loadGatewayState (roots: Pick<Roots, 'services' | 'policies'>): Promise<GatewayState> {
  return { services: await loadAllServices(roots.services), loadedAt: new Date() }
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
