import type { Check, CheckResult } from './doctor.js'
import { readOr, type InstallPlan } from './install.js'

// `conductor doctor`: are the units that `conductor system install` writes on disk, and are they
// the ones this version of Conductor would write now (same paths, same environment, same
// template)? The plan is the one `system install --dry-run` prints (install.ts planInstall), so
// the doctor and the installer cannot disagree on what "current" means.

export function unitsCheck (plan: InstallPlan, installCommand: string): Check {
  return async function units (): Promise<CheckResult> {
    const missing: string[] = []
    const stale: string[] = []
    for (const f of plan.files) {
      const onDisk = readOr(f.path)
      if (onDisk === undefined) missing.push(f.path)
      else if (onDisk !== f.content) stale.push(`${f.path} (${firstDifference(onDisk, f.content)})`)
    }
    if (missing.length === 0 && stale.length === 0) return { name: 'units', ok: true, detail: `${plan.files.length} file(s) installed and current` }
    return {
      name: 'units',
      ok: false,
      detail: [...missing.map(m => `not installed: ${m}`), ...stale.map(s => `out of date: ${s}`)].join('\n'),
      fix: `${installCommand} (writes only what differs; review first with --dry-run)`
    }
  }
}

/** "line 9: `ExecStart=...` on disk, `ExecStart=...` expected", for the operator to see why. */
export function firstDifference (onDisk: string, expected: string): string {
  const a = onDisk.split('\n')
  const b = expected.split('\n')
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `line ${i + 1}: ${show(a[i])} on disk, ${show(b[i])} expected`
  }
  return 'differs'
}

const show = (line: string | undefined): string => line === undefined ? 'nothing' : `\`${line.length > 120 ? line.slice(0, 117) + '...' : line}\``

/** Every policy file parses, validates and compiles (references, keys). */
export function policiesCheck (dir: string): Check {
  return async function policies (): Promise<CheckResult> {
    // policies/ (zod, jose) is loaded only when the check runs (CLI startup time).
    const { loadPolicySet, formatLocation } = await import('../policies/index.js')
    const set = loadPolicySet(dir)
    if (set.problems.length === 0) return { name: 'policies', ok: true, detail: `${set.size} polic${set.size === 1 ? 'y' : 'ies'} valid in ${dir}` }
    return {
      name: 'policies',
      ok: false,
      detail: set.problems.map(p => `${formatLocation(p.file, p.jsonPath)}${p.message}`).join('\n'),
      fix: 'fix the files named above (conductor policy ls lists every problem). Until then a gateway that starts serves the valid policies only (403 for the broken one), and a running one refuses SIGHUP reloads, keeping its previous policies'
    }
  }
}
