import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { CaddyHandle } from './caddy.js'
import { cli } from './cli.js'

// What the replica e2e tests look at (test/e2e/conductor/deploy/replicas*.test.ts): the running
// deployments, the one route their proxy template shares (@id SVC-route), who answers through
// it, and a load of requests through Caddy that records every failure.

export interface ReplicaRow {
  id: string
  replica: number | null
  desired: string
  unit_state: string | null
}

export interface LoadResult {
  ok: number
  failed: string[]
  versions: string[]
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
  // Who answers: GET /who names the pod (the deployment id). Random load balancing: 60 tries.
  const answering = async (): Promise<string[]> => {
    const seen = new Set<string>()
    for (let i = 0; i < 60; i++) seen.add((await (await fetch(`${url}who`)).text()).trim())
    return [...seen].sort()
  }
  // Load through Caddy: fresh connection per request, nothing retried, every failure kept.
  const load = (): { stop: () => Promise<LoadResult> } => {
    let stopped = false
    const answers = { ok: 0, failed: [] as string[], versions: new Set<string>() }
    const loop = async (): Promise<void> => {
      while (!stopped) {
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(10_000), headers: { connection: 'close' } })
          const text = await res.text()
          if (res.status === 200) {
            answers.ok++
            answers.versions.add(text.trim())
          } else answers.failed.push(`${res.status} ${text.slice(0, 80)}`)
        } catch (err) {
          answers.failed.push(`${String(err)} ${String((err as Error).cause ?? '')}`)
        }
      }
    }
    const loops = [loop(), loop(), loop()]
    return {
      stop: async () => {
        stopped = true
        await Promise.all(loops)
        return { ok: answers.ok, failed: answers.failed, versions: [...answers.versions].sort() }
      }
    }
  }

  return { setReplicas, running, routeDials, routeCount, dialsOf, answering, load, url }
}
