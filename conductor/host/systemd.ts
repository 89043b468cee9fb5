import { statSync } from 'node:fs'
import { SystemdFailed } from '../../errors/index.js'
import { listUnitsOverBus, privateSocket } from './systemd-bus.js'

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
  /**
   * Queues a stop job and returns at once (`systemctl stop --no-block`): systemd carries it out
   * and a failure leaves the unit "failed" (seen by `deployment ls` and the next reload).
   */
  stopNoBlock: (units: string[]) => Promise<void>
  /**
   * Whether systemd would run UNIT with DROPIN without a daemon-reload: true when the unit, loaded
   * now from disk if it was not loaded, lists DROPIN among its drop-ins and needs no reload. A
   * unit never loaded before is read from disk on first use (systemd rebuilds its path cache
   * when a unit directory changed), so a new deployment's drop-in needs no daemon-reload, which
   * re-reads every unit and reruns the generators (1–5 s on a loaded machine).
   */
  seesDropIn: (unit: string, dropIn: string) => Promise<boolean>
  /** Forgets a failed unit's failure (`systemctl reset-failed`), once it has been reported. */
  resetFailed: (units: string[]) => Promise<void>
  /** Sends the unit its ExecReload (the gateway re-reads services on SIGHUP). */
  reload: (unit: string) => Promise<void>
  /** Loaded units matching the glob patterns, active or not. */
  list: (patterns: string[]) => Promise<UnitState[]>
  /** `systemctl status` text, for error messages. */
  status: (unit: string) => Promise<string>
}

// systemctl runs through process/tool.ts, imported on the first call: a listing answered over the
// manager's socket (systemd-bus.ts) then loads no child_process (`service ls`, a no-op reload).
const runTool = async (...args: Parameters<typeof import('../process/index.js').runTool>) =>
  await (await import('../process/index.js')).runTool(...args)

/** Exists while systemd runs as PID 1 (sd_booted(3)). */
export const BOOTED_MARKER = '/run/systemd/system'

function booted(marker: string): boolean {
  try {
    return statSync(marker).isDirectory()
  } catch {
    return false
  }
}

/** `bootedMarker`: for tests, the directory whose absence means systemd is not PID 1. */
export function systemdDriver(
  scopeArgs: string[],
  env: NodeJS.ProcessEnv,
  bootedMarker = BOOTED_MARKER
): SystemdDriver {
  const run = async (args: string[], timeoutMs = 120_000): Promise<string> => {
    const r = await runTool('systemctl', [...scopeArgs, ...args], env, timeoutMs)
    if (r.exitCode !== 0) {
      const detail = (r.stderr || r.stdout || r.failure || '').trim()
      throw new SystemdFailed(
        `systemctl ${[...scopeArgs, ...args].join(' ')} failed (status ${String(r.exitCode)}): ${detail}`
      )
    }
    return r.stdout
  }
  return {
    daemonReload: async () => {
      await run(['daemon-reload'])
    },
    start: async units => {
      if (units.length > 0) await run(['start', ...units])
    },
    stop: async units => {
      if (units.length > 0) await run(['stop', ...units])
    },
    stopNoBlock: async units => {
      if (units.length > 0) await run(['stop', '--no-block', ...units])
    },
    seesDropIn: async (unit, dropIn) => {
      const out = await run(['show', '--property=DropInPaths,NeedDaemonReload', unit], 30_000)
      const props = new Map(out.split('\n').map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
      return props.get('NeedDaemonReload') === 'no' && (props.get('DropInPaths') ?? '').split(' ').includes(dropIn)
    },
    reload: async unit => {
      await run(['reload', unit])
    },
    resetFailed: async units => {
      if (units.length > 0) await run(['reset-failed', ...units])
    },
    list: async patterns => {
      // The check systemctl makes first (sd_booted): without it, systemctl says only that it cannot
      // operate, after a fork and its own start.
      if (scopeArgs.length === 0 && !booted(bootedMarker))
        throw new SystemdFailed(
          `this machine was not booted with systemd (no ${bootedMarker}): there is no system manager to ask; ` +
            'on such a host use --scope user with a systemd user manager'
        )
      // Over the manager's private socket when there is one (no systemctl process), else, and
      // on any failure there, systemctl: its error says why systemd cannot be asked.
      const socket = privateSocket(scopeArgs, env)
      if (socket !== undefined) {
        try {
          return await listUnitsOverBus(socket, patterns)
        } catch {
          /* systemctl below */
        }
      }
      const out = await run(['list-units', '--all', '--no-pager', '--output=json', ...patterns])
      const rows = JSON.parse(out === '' ? '[]' : out) as Array<{ unit: string; active: string; sub: string }>
      return rows.map(r => ({ unit: r.unit, active: r.active, sub: r.sub }))
    },
    status: async unit => {
      const r = await runTool('systemctl', [...scopeArgs, 'status', '--no-pager', '--lines=20', unit], env, 10_000)
      return `${r.stdout}${r.stderr}`.trim()
    }
  }
}
