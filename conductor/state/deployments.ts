import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { writeAtomic } from './atomic.js'

// Recorded deployments: ROOT/var/lib/conductor/deployments/<ID>/ holds the rendered pod.yaml,
// config-map.yaml, kube.yaml (what the unit plays) and state.json below. state.json is written
// last when a deployment is created, so a directory without it is an interrupted creation that
// the next reload removes (kill -9 at any point converges).

export const STATE_FILE = 'state.json'

export const deploymentStateSchema = z.strictObject({
  version: z.literal(1),
  id: z.string(),
  service: z.string(),
  part: z.string(),
  /** Hash of what the deployment was rendered from (config, templates): a change replaces it. */
  hash: z.string(),
  /** running: reload keeps it running; stopped: the operator stopped it (`deployment stop`). */
  desired: z.enum(['running', 'stopped']),
  /** The deployment's own config on top of the service's (display_deployment_config). */
  config: z.record(z.string(), z.string()),
  /** Allocated loopback host ports by name. */
  ports: z.record(z.string(), z.number().int()),
  pod_ip: z.string(),
  created_at: z.string(),
  /** Its pod carries Conductor's mark (host/pod-mark.ts); absent on deployments made before the mark. */
  marked: z.boolean().optional()
})

export type DeploymentState = z.infer<typeof deploymentStateSchema>

export interface StoredDeployments {
  records: DeploymentState[]
  /** Directories without a readable state.json (interrupted creations, corrupt files). */
  strays: string[]
}

export function deploymentDir (deploymentsDir: string, id: string): string {
  return path.join(deploymentsDir, id)
}

export function readDeployments (deploymentsDir: string): StoredDeployments {
  let names: string[]
  try { names = readdirSync(deploymentsDir).sort() } catch { return { records: [], strays: [] } }
  const records: DeploymentState[] = []
  const strays: string[] = []
  for (const name of names) {
    if (name.startsWith('.')) continue
    const rec = readDeployment(deploymentsDir, name)
    if (rec === undefined) strays.push(name)
    else records.push(rec)
  }
  return { records, strays }
}

export function readDeployment (deploymentsDir: string, id: string): DeploymentState | undefined {
  try {
    const parsed = deploymentStateSchema.safeParse(JSON.parse(readFileSync(path.join(deploymentsDir, id, STATE_FILE), 'utf8')))
    return parsed.success && parsed.data.id === id ? parsed.data : undefined
  } catch { return undefined }
}

export function writeDeployment (deploymentsDir: string, state: DeploymentState): void {
  const dir = deploymentDir(deploymentsDir, state.id)
  mkdirSync(dir, { recursive: true })
  writeAtomic(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n')
}

export function removeDeploymentDir (deploymentsDir: string, id: string): void {
  rmSync(deploymentDir(deploymentsDir, id), { recursive: true, force: true })
}

export function deploymentExists (deploymentsDir: string, id: string): boolean {
  return existsSync(path.join(deploymentsDir, id, STATE_FILE))
}
