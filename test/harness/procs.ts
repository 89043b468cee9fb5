import { readdirSync, readFileSync } from 'node:fs'

// /proc scans for the "no zombie, no orphan" checks: every function process carries
// CONDUCTOR_FUNCTION_ID in its environment, and so does everything it forks.

/** Pids of live (non-zombie) processes whose environment holds NAME=VALUE. */
export function processesWithEnv (name: string, value: string): number[] {
  const needle = `${name}=${value}\0`
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (procState(Number(entry)) === 'Z') continue
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle)) out.push(Number(entry))
    } catch { /* gone meanwhile, or not ours to read */ }
  }
  return out
}

/** Zombie children of a process. */
export function zombieChildren (ppid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (fields[0] === 'Z' && Number(fields[1]) === ppid) out.push(Number(entry))
    } catch { /* gone */ }
  }
  return out
}

export function isAlive (pid: number): boolean {
  try { return procState(pid) !== 'Z' } catch { return false }
}

function procState (pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!
}
