import { readFileSync, renameSync, writeFileSync } from 'node:fs'

// Files written whole or not at all: a crash mid-write leaves the old content (or none), never
// half of the new one, because readers only ever see a completed rename(2).

export function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

export function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, content)
  renameSync(tmp, file)
}
