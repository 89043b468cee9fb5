import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { writeAtomic } from './atomic.js'

// Recorded deployments: ROOT/var/lib/conductor/deployments/<ID>/ holds the rendered pod.yaml,
// config-map.yaml, kube.yaml (what the unit plays) and state.json below. state.json is written
// last when a deployment is created, so a directory without it is an interrupted creation that
// the next reload removes (kill -9 at any point converges).

export const STATE_FILE = 'state.json'

/** What state.json holds (version 1). */
export interface DeploymentState {
  version: 1
  id: string
  service: string
  part: string
  /** Hash of what the deployment was rendered from (config, templates): a change replaces it. */
  hash: string
  /** running: reload keeps it running; stopped: the operator stopped it (`deployment stop`). */
  desired: 'running' | 'stopped'
  /** The deployment's own config on top of the service's (display_deployment_config). */
  config: Record<string, string>
  /** Allocated loopback host ports by name. */
  ports: Record<string, number>
  pod_ip: string
  created_at: string
  /** Its pod carries Conductor's mark (host/pod-mark.ts); absent on deployments made before the mark. */
  marked?: boolean
  /** Which replica of its part it is (pods[].replicas): 1, 2...; absent for the first (0). */
  replica?: number
}

/** The replica index of a deployment: 0 for the first (and only, without `replicas`). */
export const replicaOf = (r: Pick<DeploymentState, 'replica'>): number => r.replica ?? 0

// state.json is Conductor's own record, never an operator's file: a record is whole or it is a
// stray (no message to give), so it is checked here by hand, without loading zod (~100 ms of a
// start) into every command that lists deployments (`service ls`, `reload`).
const STRING_FIELDS = ['id', 'service', 'part', 'hash', 'pod_ip', 'created_at'] as const
const FIELDS = new Set<string>(['version', 'desired', 'config', 'ports', 'marked', 'replica', ...STRING_FIELDS])

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)
const isRecordOf = (v: unknown, ok: (x: unknown) => boolean): v is Record<string, unknown> =>
  isPlainObject(v) && Object.values(v).every(ok)

/** Exactly the fields above, of their types (no other key): a state.json this version wrote. */
export function isDeploymentState(v: unknown): v is DeploymentState {
  if (!isPlainObject(v)) return false
  for (const k of Object.keys(v)) if (!FIELDS.has(k)) return false
  return (
    v.version === 1 &&
    STRING_FIELDS.every(k => typeof v[k] === 'string') &&
    (v.desired === 'running' || v.desired === 'stopped') &&
    isRecordOf(v.config, x => typeof x === 'string') &&
    isRecordOf(v.ports, x => Number.isSafeInteger(x)) &&
    (v.marked === undefined || typeof v.marked === 'boolean') &&
    (v.replica === undefined || (Number.isSafeInteger(v.replica) && (v.replica as number) > 0))
  )
}

export interface StoredDeployments {
  records: DeploymentState[]
  /** Directories without a readable state.json (interrupted creations, corrupt files). */
  strays: string[]
}

export function deploymentDir(deploymentsDir: string, id: string): string {
  return path.join(deploymentsDir, id)
}

export function readDeployments(deploymentsDir: string): StoredDeployments {
  let names: string[]
  try {
    names = readdirSync(deploymentsDir).sort()
  } catch {
    return { records: [], strays: [] }
  }
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

export function readDeployment(deploymentsDir: string, id: string): DeploymentState | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path.join(deploymentsDir, id, STATE_FILE), 'utf8'))
    return isDeploymentState(parsed) && parsed.id === id ? parsed : undefined
  } catch {
    return undefined
  }
}

export function writeDeployment(deploymentsDir: string, state: DeploymentState): void {
  const dir = deploymentDir(deploymentsDir, state.id)
  mkdirSync(dir, { recursive: true })
  writeAtomic(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n')
}

export function removeDeploymentDir(deploymentsDir: string, id: string): void {
  rmSync(deploymentDir(deploymentsDir, id), { recursive: true, force: true })
}
