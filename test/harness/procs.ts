import { readdirSync, readFileSync } from 'node:fs'

// /proc scans for the "no zombie, no orphan" checks: every function process carries
// CONDUCTOR_FUNCTION_ID in its environment, and so does everything it forks.

/** Pids of live (non-zombie) processes whose environment holds NAME=VALUE. */
export function processesWithEnv(name: string, value: string): number[] {
  const needle = `${name}=${value}\0`
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (procState(Number(entry)) === 'Z') continue
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle)) out.push(Number(entry))
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return out
}

/** Every process now: pid, state letter (Z = zombie), parent and process group, from /proc/PID/stat. */
function processTable(): Array<{ pid: number; state: string; ppid: number; pgid: number }> {
  const out: Array<{ pid: number; state: string; ppid: number; pgid: number }> = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      // After the command name in parentheses: state, ppid, pgrp.
      const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.push({ pid: Number(entry), state: state!, ppid: Number(ppid), pgid: Number(pgid) })
    } catch {
      /* gone */
    }
  }
  return out
}

/** Zombie children of a process. */
export function zombieChildren(ppid: number): number[] {
  return processTable()
    .filter(p => p.state === 'Z' && p.ppid === ppid)
    .map(p => p.pid)
}

/** Live (non-zombie) processes of a process group. */
export function groupMembers(pgid: number): number[] {
  return processTable()
    .filter(p => p.state !== 'Z' && p.pgid === pgid)
    .map(p => p.pid)
}

export function isAlive(pid: number): boolean {
  try {
    return procState(pid) !== 'Z'
  } catch {
    return false
  }
}

function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!
}
