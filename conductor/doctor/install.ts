import path from 'node:path'
import type { Check, CheckResult } from './checks.js'
import { gatewayHealth } from './gateway-health.js'
import type { InstallPlan } from '../host/index.js'
import { readOr } from '../state/index.js'
import { formatProblem } from '../../errors/index.js'

// `conductor doctor`: are the units that `conductor system install` writes on disk, and are they
// the ones this version of Conductor would write now (same paths, same environment, same
// template)? The plan is the one `system install --dry-run` prints (install.ts planInstall), so
// the doctor and the installer cannot disagree on what "current" means.

export function unitsCheck(plan: InstallPlan, installCommand: string): Check {
  return async function units(): Promise<CheckResult> {
    const missing: string[] = []
    const stale: string[] = []
    for (const f of plan.files) {
      const onDisk = readOr(f.path)
      if (onDisk === undefined) missing.push(f.path)
      else if (onDisk !== f.content) stale.push(`${f.path} (${firstDifference(onDisk, f.content)})`)
    }
    if (missing.length === 0 && stale.length === 0)
      return { name: 'units', ok: true, detail: `${plan.files.length} file(s) installed and current` }
    return {
      name: 'units',
      ok: false,
      detail: [...missing.map(m => `not installed: ${m}`), ...stale.map(s => `out of date: ${s}`)].join('\n'),
      fix: `${installCommand} (writes only what differs; review first with --dry-run)`
    }
  }
}

/** "line 9: `ExecStart=...` on disk, `ExecStart=...` expected", for the operator to see why. */
export function firstDifference(onDisk: string, expected: string): string {
  const a = onDisk.split('\n')
  const b = expected.split('\n')
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i + 1}: ${show(a[i])} on disk, ${show(b[i])} expected`
  }
  return 'differs'
}

const show = (line: string | undefined): string =>
  line === undefined ? 'nothing' : `\`${line.length > 120 ? line.slice(0, 117) + '...' : line}\``

/**
 * Every policy file parses, validates and compiles (references, keys); no plaintext token is
 * readable by others; and the running gateway (when it answers on `gatewayListen`) serves no
 * policy from a last good version, i.e. what is on disk is what it enforces.
 */
export function policiesCheck(dir: string, gatewayListen?: string): Check {
  return async function policies(): Promise<CheckResult> {
    // policies/ (zod, jose) is loaded only when the check runs (CLI startup time).
    const { loadPolicySet } = await import('../../policies/index.js')
    const set = await loadPolicySet(dir)
    const health = gatewayListen === undefined ? undefined : await gatewayHealth(gatewayListen)
    const stale = (health?.stale_policies ?? []).filter(s => path.dirname(s.file) === path.resolve(dir))
    const lines = set.problems.map(formatProblem)
    for (const s of stale) {
      const serves = `the running gateway serves policy "${s.name}" from`
      lines.push(
        set.problems.some(p => p.file === s.file)
          ? `${serves} its last good version (loaded ${s.since}) until ${s.file} is fixed`
          : `${serves} an older version (loaded ${s.since}): ${s.file} is valid now but not reloaded`
      )
    }
    const fixes: string[] = []
    if (set.problems.length > 0) {
      fixes.push(
        'fix the files named above (conductor policy ls lists every problem), then reload the gateway ' +
          '(SIGHUP). Until then a running gateway keeps the last good version of each broken file, and a gateway ' +
          'that starts leaves it out (403)'
      )
    } else if (stale.length > 0) {
      fixes.push('reload the gateway: systemctl [--user] reload conductor-gateway.service (or kill -HUP its pid)')
    }
    for (const w of set.warnings) lines.push(formatProblem(w))
    if (set.warnings.length > 0) {
      fixes.push(
        'chmod 600 each file named (the gateway reads it as root, or as the user with --scope user), ' +
          'or replace "token" with "token_sha256"'
      )
    }
    if (lines.length === 0) {
      return { name: 'policies', ok: true, detail: `${set.size} polic${set.size === 1 ? 'y' : 'ies'} valid in ${dir}` }
    }
    return { name: 'policies', ok: false, detail: lines.join('\n'), fix: fixes.join('; ') }
  }
}
