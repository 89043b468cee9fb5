import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { loadAllServices, type Service, type ServiceEntry } from '../model/index.js'
import type { ValidationCache } from '../model/index.js'
import type { Desired, DesiredService } from './plan.js'

// Desired state from the service directories. The hash that decides "replace the deployments"
// covers the resolved config, the pod parts and the *contents* of the templates (pod, config
// map, proxy): an edited template replaces the deployments without running every template on
// every reload, which keeps a no-op reload of 100 services well under a second (bench/reload).
// Hooks and commands are not in it: changing them does not restart anything; nor are the parts'
// `replicas` (reload adds or removes replicas to match, keeping the others).

export interface DesiredWithServices {
  desired: Desired
  entries: ServiceEntry[]
  services: Map<string, Service>
}

/**
 * `elsewhere`: synced services placed on other hosts only (state/ placedElsewhere): they load,
 * and are treated as disabled here.
 */
export async function loadDesired(
  servicesDir: string,
  cache?: ValidationCache,
  elsewhere: ReadonlyMap<string, string[]> = new Map()
): Promise<DesiredWithServices> {
  const entries = await loadAllServices(servicesDir, cache)
  cache?.save()
  const services = new Map<string, Service>()
  const desired: Desired = { services: [], disabled: [], broken: [] }
  for (const e of entries) {
    if (e.service === undefined) {
      desired.broken.push(e.name)
      continue
    }
    services.set(e.name, e.service)
    if (e.service.disable || elsewhere.has(e.name)) {
      desired.disabled.push(e.name)
      continue
    }
    const d: DesiredService = { name: e.name, hash: serviceHash(e.service), parts: e.service.pods.map(p => p.name) }
    const counts = e.service.pods.filter(p => (p.replicas ?? 1) !== 1).map(p => [p.name, p.replicas!] as const)
    if (counts.length > 0) d.replicas = Object.fromEntries(counts)
    desired.services.push(d)
  }
  return { desired, entries, services }
}

export function serviceHash(svc: Service): string {
  const h = createHash('sha256')
  h.update(
    JSON.stringify({
      app: svc.app_name,
      instance: svc.instance_name,
      config: svc.config,
      // Not the replica counts: a changed count adds or removes replicas, it replaces none.
      pods: svc.pods.map(({ replicas: _count, ...pod }) => pod),
      proxy: svc.proxy_config_template
    })
  )
  const files = [...svc.pods.flatMap(p => [p.pod_template, p.config_map_template]), svc.proxy_config_template]
  for (const f of files) {
    if (f === undefined) continue
    h.update('\0' + f + '\0')
    try {
      h.update(readFileSync(f))
    } catch {
      h.update('(unreadable)')
    }
  }
  return h.digest('hex').slice(0, 16)
}
