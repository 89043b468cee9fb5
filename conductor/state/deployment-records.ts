import path from 'node:path'
import { readDeployments } from './deployments.js'
import type { Roots } from '../model/index.js'

// The recorded deployments as `conductor caddy status|sync` needs them (to re-register their
// snippets after a Caddy restart), read through deployment-store.ts: one format, one reader.
// Ports are turned into CONDUCTOR_PORT* by the caller (it knows the pod's port names).

export interface DeploymentRecord {
  id: string
  dir: string
  service: string
  part: string
  podIp?: string | undefined
  config: Record<string, string>
  ports: Record<string, number>
}

export function listDeploymentRecords (roots: Pick<Roots, 'deployments'>): { records: DeploymentRecord[], problems: Array<{ file: string, message: string }> } {
  const { records, strays } = readDeployments(roots.deployments)
  return {
    // A deployment the operator stopped must not have routes.
    records: records.filter(r => r.desired === 'running').map(r => ({
      id: r.id, dir: path.join(roots.deployments, r.id), service: r.service, part: r.part, podIp: r.pod_ip, config: r.config, ports: r.ports
    })),
    problems: strays.map(s => ({ file: path.join(roots.deployments, s, 'state.json'), message: 'no readable state.json (an interrupted creation: the next reload removes it)' }))
  }
}
