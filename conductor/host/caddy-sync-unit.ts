import { CADDY_UNIT } from '../model/index.js'

// Caddy forgets routes added through its admin API when it restarts without --resume (issue 8
// item 2). This unit, started with caddy.service (WantedBy) and restarted with it (PartOf +
// RemainAfterExit, so it stays "active" and the restart propagates), runs `conductor caddy
// sync` to register everything again. The systemd code installs it with the other units.

export const CADDY_SYNC_UNIT = 'conductor-caddy-sync.service'

export interface CaddySyncUnitOptions {
  /** Absolute path of the conductor executable, or the command line that runs it (node + bin.js). */
  conductor: string | string[]
  /** Environment= lines (CONDUCTOR_ROOT, CONTAINERS_CONF...), as the other units get. */
  environment?: Record<string, string> | undefined
  /** --root, when Conductor runs under a prefix (user scope, tests). */
  root?: string | undefined
  /** Seconds `caddy sync` waits for the admin API to answer. */
  waitSec?: number | undefined
}

export function caddySyncUnitFile(opts: CaddySyncUnitOptions): string {
  const args = [
    ...(Array.isArray(opts.conductor) ? opts.conductor : [opts.conductor]),
    ...(opts.root !== undefined && opts.root !== '/' ? ['--root', opts.root] : []),
    'caddy',
    'sync',
    '--wait',
    String(opts.waitSec ?? 30)
  ]
  return [
    '[Unit]',
    "Description=Conductor: register services' Caddy routes again after Caddy (re)starts",
    `After=${CADDY_UNIT}`,
    `PartOf=${CADDY_UNIT}`,
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    ...Object.entries(opts.environment ?? {}).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`),
    `ExecStart=${args.map(systemdQuote).join(' ')}`,
    '',
    '[Install]',
    `WantedBy=${CADDY_UNIT}`,
    ''
  ].join('\n')
}

function systemdQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

/** Drop-in that makes caddy.service pull the sync unit in (works for a vendor caddy.service too). */
export const CADDY_SYNC_DROPIN = `${CADDY_UNIT}.d/50-conductor-caddy-sync.conf`
export function caddySyncDropIn(): string {
  return `[Unit]\nWants=${CADDY_SYNC_UNIT}\n`
}
