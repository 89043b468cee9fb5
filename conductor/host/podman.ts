import { DeploymentFailed } from '../../errors/index.js'
import { runTool } from '../process/index.js'

// The only code that runs podman directly (units run `podman kube play` themselves). Podman
// reads CONTAINERS_CONF from the environment: test machines need one (ENVIRONMENT.md), and
// Conductor never rewrites the host's containers.conf.

export interface PodmanDriver {
  /** IP of the pod's infra container on its network, or '' when the pod has none. */
  podIp: (pod: string) => Promise<string>
  /**
   * Pods (with `label`, `KEY=VALUE`, only those carrying it: Podman then reads no other pod);
   * undefined when podman cannot be asked.
   */
  pods: (label?: string) => Promise<PodInfo[] | undefined>
  /** Removes a pod and its containers at once; a pod already gone is no error. */
  removePod: (name: string) => Promise<void>
  /** Container logs of a pod (all containers, with their names). */
  logs: (pod: string, tail: number | undefined) => Promise<string>
}

export interface PodInfo {
  name: string
  /** Running, Exited, Degraded... */
  status: string
  labels: Record<string, string>
}

interface Ran {
  ok: boolean
  stdout: string
  stderr: string
  exitCode: number | null
  failure?: string | undefined
}

export function podmanDriver(env: NodeJS.ProcessEnv, bin = 'podman'): PodmanDriver {
  const run = async (args: string[]): Promise<Ran> => {
    const r = await runTool(bin, args, env, 60_000)
    return { ok: r.exitCode === 0, stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, failure: r.failure }
  }
  return {
    podIp: async pod => {
      const infra = await run(['pod', 'inspect', '--format', '{{.InfraContainerID}}', pod])
      if (!infra.ok || infra.stdout.trim() === '') return ''
      const ip = await run([
        'inspect',
        '--format',
        '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}{{.NetworkSettings.IPAddress}}',
        infra.stdout.trim()
      ])
      return ip.ok
        ? (ip.stdout
            .trim()
            .split(/\s+/)
            .find(s => s !== '') ?? '')
        : ''
    },
    pods: async label => {
      const filter = label === undefined ? [] : ['--filter', `label=${label}`]
      const r = await run(['pod', 'ps', ...filter, '--format', 'json'])
      if (!r.ok) return undefined
      try {
        type Row = { Name: string; Status: string; Labels?: Record<string, string> | null }
        const rows = JSON.parse(r.stdout === '' ? '[]' : r.stdout) as Row[]
        return rows.map(p => ({ name: p.Name, status: p.Status, labels: p.Labels ?? {} }))
      } catch {
        return undefined
      }
    },
    removePod: async name => {
      const r = await run(['pod', 'rm', '-f', '-t', '0', name])
      // Gone already (its unit's ExecStopPost, or a deploy, removed it in between): converged.
      if (!r.ok && !/no pod with name or ID|no such pod/i.test(r.stderr)) {
        const why = r.stderr.trim() || r.failure || `exit ${String(r.exitCode)}`
        throw new DeploymentFailed(`podman pod rm ${name} failed: ${why}`)
      }
    },
    logs: async (pod, tail) => {
      const r = await run(['pod', 'logs', ...(tail !== undefined ? ['--tail', String(tail)] : []), pod])
      return r.ok ? r.stdout + (r.stderr === '' ? '' : '\n' + r.stderr) : `(no logs: ${r.stderr.trim()})`
    }
  }
}
