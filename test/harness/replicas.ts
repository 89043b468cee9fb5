import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { CaddyHandle } from './caddy.js'
import { cli, repoRoot } from './cli.js'
import type { DeployHostOptions } from './deploy-host.js'
import { type LoadResult, loadThroughCaddy } from './load.js'

export type { LoadResult } from './load.js'

// What the replica e2e tests look at (test/e2e/conductor/deploy/replicas*.test.ts): the running
// deployments, the one route their proxy template shares (@id SVC-route), who answers through
// it, and a load of requests through Caddy that records every failure.

export interface ReplicaRow {
  id: string
  replica: number | null
  desired: string
  unit_state: string | null
}

/**
 * The deploy host of the replica tests: SVC with 2 replicas of version 1 behind the shared route
 * (test/fixtures/deploy/proxy-shared.template), readiness GET / every 100 ms, drain up to 10 s.
 */
export function replicaHostOptions(svc: string, rootPrefix: string, readinessTimeoutSec: number): DeployHostOptions {
  return {
    svc,
    rootPrefix,
    version: '1',
    readiness: { http_path: '/', interval_ms: 100, timeout_sec: readinessTimeoutSec },
    drainTimeoutSec: 10,
    replicas: 2,
    proxyTemplate: path.join(repoRoot, 'test/fixtures/deploy/proxy-shared.template')
  }
}

export function replicaProbe(o: { caddy: CaddyHandle; root: string; env: Record<string, string>; svc: string }) {
  const { caddy, root, env, svc } = o
  const serviceFile = path.join(root, `etc/conductor/services/${svc}/conductor-service.json`)
  const setReplicas = (n: number): void => {
    const file = JSON.parse(readFileSync(serviceFile, 'utf8')) as { pods: Array<{ replicas?: number }> }
    file.pods[0]!.replicas = n
    writeFileSync(serviceFile, JSON.stringify(file, null, 2))
  }
  const url = `http://127.0.0.1:${caddy.httpPort}/`
  const running = async (): Promise<ReplicaRow[]> =>
    (JSON.parse((await cli(['deployment', 'ls', '--json'], env)).stdout) as ReplicaRow[]).filter(
      r => r.desired === 'running'
    )
  // Caddy restarts its admin listener after each config change: a GET right then may be cut.
  const admin = async (p: string): Promise<{ status: number; body: unknown }> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(`${caddy.adminUrl}${p}`)
        return { status: res.status, body: res.status === 200 ? await res.json() : await res.text() }
      } catch (err) {
        if (attempt >= 5) throw err
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }
  }
  const routeDials = async (): Promise<string[]> => {
    const res = await admin(`/id/${svc}-route`)
    if (res.status !== 200) return [`(${res.status})`]
    const route = res.body as { handle: Array<{ upstreams: Array<{ dial: string }> }> }
    return route.handle[0]!.upstreams.map(u => u.dial)
  }
  // The service's routes: `system install` also writes the built-in peer functions, routed too.
  const routeCount = async (): Promise<number> =>
    ((await admin('/id/conductor-server/routes')).body as Array<{ '@id'?: string }>).filter(
      r => !r['@id']?.startsWith('conductor-function-conductor-peers-')
    ).length
  const dialsOf = (rows: ReplicaRow[]): string[] => {
    const ports = rows.map(r => {
      const state = JSON.parse(
        readFileSync(path.join(root, 'var/lib/conductor/deployments', r.id, 'state.json'), 'utf8')
      ) as { ports: { http: number } }
      return `127.0.0.1:${state.ports.http}`
    })
    return ports
  }
  // Who answers: GET /who names the pod (the deployment id). Random load balancing: 60 tries,
  // each on a fresh connection: Caddy closes idle kept-alive ones when its config changes (a
  // conductor-caddy-sync run in the background), and a reused one would then be cut.
  const answering = async (): Promise<string[]> => {
    const seen = new Set<string>()
    const who = async (): Promise<string> =>
      (await (await fetch(`${url}who`, { headers: { connection: 'close' } })).text()).trim()
    for (let i = 0; i < 60; i++) seen.add(await who())
    return [...seen].sort()
  }
  // Load through Caddy: 3 loops, every failure kept (load.ts).
  const load = (): { stop: () => Promise<LoadResult> } => loadThroughCaddy(url, 3)

  return { setReplicas, running, routeDials, routeCount, dialsOf, answering, load, url }
}
