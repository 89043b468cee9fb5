import path from 'node:path'
import { PartNotFound, UsageError } from '../../errors/index.js'
import type { Pod, Service } from './service.js'

// Which file `conductor _ service|deployment template NAME KIND` runs: a named kind of the
// service, or any path to try a template out. A relative path is the service directory's, as
// every path of a service file is (`./proxy.sh` names the file next to conductor-service.json),
// wherever the operator stands.

export function findPod(service: Service, part: string | undefined): Pod {
  if (part === undefined) {
    if (service.pods.length === 1) return service.pods[0]!
    if (service.pods.length === 0)
      throw new PartNotFound(`service "${service.name}" declares no pods`, service.file, '/pods')
    throw new UsageError(
      `service "${service.name}" has ${service.pods.length} pod parts (${service.pods.map(p => (p.name === '' ? '""' : p.name)).join(', ')}); choose one with --part`
    )
  }
  const pod = service.pods.find(p => p.name === part)
  if (pod === undefined)
    throw new PartNotFound(
      `service "${service.name}" has no pod part "${part}" (parts: ${service.pods.map(p => (p.name === '' ? '""' : p.name)).join(', ') || 'none'})`,
      service.file,
      '/pods'
    )
  return pod
}

export function templateFile(service: Service, kind: string, pod: Pod | undefined): string {
  switch (kind) {
    case 'pod':
      if (pod === undefined) throw new UsageError('the pod template needs a pod part')
      return pod.pod_template
    case 'config-map':
      if (pod?.config_map_template === undefined)
        throw new PartNotFound(`pod part "${pod?.name ?? ''}" has no config_map_template`, service.file, '/pods')
      return pod.config_map_template
    case 'proxy':
      if (service.proxy_config_template === undefined)
        throw new PartNotFound(
          `service "${service.name}" has no proxy_config_template`,
          service.file,
          '/proxy_config_template'
        )
      return service.proxy_config_template
    default:
      return path.resolve(service.dir, kind)
  }
}
