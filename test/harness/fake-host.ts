import { SystemdFailed } from '../../errors/index.js'
import type { PodInfo, PodmanDriver, SystemdDriver } from '../../conductor/host/index.js'

// Drivers that stand in for systemd and Podman in the reconcile's unit tests (applyPlan with
// `systemContext(ctx, drivers)`): units are a map of states, every call is logged, and a test
// can make a call fail or never return (a process killed at that point). Files (deployment
// records, drop-ins, snippet records) are real, under the test's temporary root.

export interface FakeSystemd extends SystemdDriver {
  /** Unit name -> active | inactive | failed. */
  units: Map<string, string>
  /** `verb unit...` per call, in order. */
  calls: string[]
  /** Throw from this call instead (a unit that does not start, a manager that fails). */
  failOn?: ((verb: string, units: string[]) => boolean) | undefined
  /** Never return from this call (the process was killed while it ran). */
  hangOn?: ((verb: string, units: string[]) => boolean) | undefined
}

export function fakeSystemd(): FakeSystemd {
  const fake: FakeSystemd = {
    units: new Map(),
    calls: [],
    daemonReload: async () => {
      await call('daemon-reload', [])
    },
    start: async units => {
      await call('start', units)
      for (const u of units) fake.units.set(u, 'active')
    },
    stop: async units => {
      await call('stop', units)
      for (const u of units) fake.units.set(u, 'inactive')
    },
    stopNoBlock: async units => {
      await call('stop --no-block', units)
      for (const u of units) fake.units.set(u, 'inactive')
    },
    // The fake has no drop-in files to miss: a new unit is always seen.
    seesDropIn: async () => true,
    resetFailed: async units => {
      await call('reset-failed', units)
      for (const u of units) if (fake.units.get(u) === 'failed') fake.units.delete(u)
    },
    reload: async unit => {
      await call('reload', [unit])
    },
    list: async patterns => {
      await call('list', patterns)
      const globs = patterns.map(p => new RegExp(`^${p.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`))
      return [...fake.units]
        .filter(([u]) => globs.some(g => g.test(u)))
        .map(([unit, active]) => ({ unit, active, sub: active === 'active' ? 'running' : 'dead' }))
    },
    status: async unit => `${unit}: ${fake.units.get(unit) ?? 'not loaded'}`
  }
  const call = async (verb: string, units: string[]): Promise<void> => {
    fake.calls.push([verb, ...units].join(' '))
    if (fake.hangOn?.(verb, units) === true) await new Promise(() => {})
    if (fake.failOn?.(verb, units) === true) {
      for (const u of units) if (verb === 'start') fake.units.set(u, 'failed')
      throw new SystemdFailed(`systemctl ${verb} ${units.join(' ')} failed (status 1): fake failure`)
    }
  }
  return fake
}

/** `pods`: what `podman pod ps` answers (undefined: Podman cannot be asked, no rule on pods applies). */
export function fakePodman(pods?: () => PodInfo[]): PodmanDriver & { ips: Map<string, string>; removed: string[] } {
  const ips = new Map<string, string>()
  const removed: string[] = []
  return {
    ips,
    removed,
    podIp: async pod => {
      if (!ips.has(pod)) ips.set(pod, `10.88.0.${ips.size + 2}`)
      return ips.get(pod)!
    },
    pods: async label => {
      const [k, v] = label?.split('=', 2) ?? []
      return pods?.().filter(p => k === undefined || p.labels[k] === v)
    },
    removePod: async name => {
      removed.push(name)
    },
    logs: async () => ''
  }
}
