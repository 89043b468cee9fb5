import { SystemdFailed } from '../../errors/index.js'
import { runTool } from '../process/index.js'

// The only code that runs systemctl. One call per verb with many units, so a reconcile of
// 100 services costs a handful of processes, not hundreds (ENVIRONMENT.md: ~5 ms each).

export interface UnitState {
  unit: string
  /** active, inactive, failed, activating, deactivating... */
  active: string
  sub: string
}

export interface SystemdDriver {
  daemonReload: () => Promise<void>
  start: (units: string[]) => Promise<void>
  stop: (units: string[]) => Promise<void>
  /** Sends the unit its ExecReload (the gateway re-reads services on SIGHUP). */
  reload: (unit: string) => Promise<void>
  /** Loaded units matching the glob patterns, active or not. */
  list: (patterns: string[]) => Promise<UnitState[]>
  /** `systemctl status` text, for error messages. */
  status: (unit: string) => Promise<string>
}

export function systemdDriver (scopeArgs: string[], env: NodeJS.ProcessEnv): SystemdDriver {
  const run = async (args: string[], timeoutMs = 120_000): Promise<string> => {
    const r = await runTool('systemctl', [...scopeArgs, ...args], env, timeoutMs)
    if (r.exitCode !== 0) {
      const detail = (r.stderr || r.stdout || r.failure || '').trim()
      throw new SystemdFailed(`systemctl ${[...scopeArgs, ...args].join(' ')} failed (status ${String(r.exitCode)}): ${detail}`)
    }
    return r.stdout
  }
  return {
    daemonReload: async () => { await run(['daemon-reload']) },
    start: async units => { if (units.length > 0) await run(['start', ...units]) },
    stop: async units => { if (units.length > 0) await run(['stop', ...units]) },
    reload: async unit => { await run(['reload', unit]) },
    list: async patterns => {
      const out = await run(['list-units', '--all', '--no-pager', '--output=json', ...patterns])
      const rows = JSON.parse(out === '' ? '[]' : out) as Array<{ unit: string, active: string, sub: string }>
      return rows.map(r => ({ unit: r.unit, active: r.active, sub: r.sub }))
    },
    status: async unit => {
      const r = await runTool('systemctl', [...scopeArgs, 'status', '--no-pager', '--lines=20', unit], env, 10_000)
      return `${r.stdout}${r.stderr}`.trim()
    }
  }
}

