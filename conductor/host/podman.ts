import { runTool } from '../process/index.js'

// The only code that runs podman directly (units run `podman kube play` themselves). Podman
// reads CONTAINERS_CONF from the environment: test machines need one (ENVIRONMENT.md), and
// Conductor never rewrites the host's containers.conf.

export interface PodmanDriver {
  /** IP of the pod's infra container on its network, or '' when the pod has none. */
  podIp: (pod: string) => Promise<string>
  /** Names of every pod, with its status (Running, Exited...). */
  pods: () => Promise<Array<{ name: string, status: string }>>
  /** Container logs of a pod (all containers, with their names). */
  logs: (pod: string, tail: number | undefined) => Promise<string>
}

export function podmanDriver (env: NodeJS.ProcessEnv, bin = 'podman'): PodmanDriver {
  const run = async (args: string[]): Promise<{ ok: boolean, stdout: string, stderr: string }> => {
    const r = await runTool(bin, args, env, 60_000)
    return { ok: r.exitCode === 0, stdout: r.stdout, stderr: r.stderr }
  }
  return {
    podIp: async pod => {
      const infra = await run(['pod', 'inspect', '--format', '{{.InfraContainerID}}', pod])
      if (!infra.ok || infra.stdout.trim() === '') return ''
      const ip = await run(['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}{{.NetworkSettings.IPAddress}}', infra.stdout.trim()])
      return ip.ok ? (ip.stdout.trim().split(/\s+/).find(s => s !== '') ?? '') : ''
    },
    pods: async () => {
      const r = await run(['pod', 'ps', '--format', 'json'])
      if (!r.ok) return []
      const rows = JSON.parse(r.stdout === '' ? '[]' : r.stdout) as Array<{ Name: string, Status: string }>
      return rows.map(p => ({ name: p.Name, status: p.Status }))
    },
    logs: async (pod, tail) => {
      const r = await run(['pod', 'logs', ...(tail !== undefined ? ['--tail', String(tail)] : []), pod])
      return r.ok ? r.stdout + (r.stderr === '' ? '' : '\n' + r.stderr) : `(no logs: ${r.stderr.trim()})`
    }
  }
}

