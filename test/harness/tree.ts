import { createHash } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import path from 'node:path'

/**
 * A directory tree as sorted lines `PATH TYPE MODE CONTENT`: files by mode and SHA-256, symlinks
 * by target, directories by mode. Two trees are byte-identical (modes included) when their
 * snapshots are equal. A symlink given as `dir` is followed (SERVICES/NAME usually is one).
 */
export function snapshotTree(dir: string): string[] {
  const out: string[] = []
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const p = rel === '' ? name : `${rel}/${name}`
      const abs = path.join(dir, p)
      const st = lstatSync(abs)
      const mode = (st.mode & 0o7777).toString(8)
      if (st.isSymbolicLink()) out.push(`${p} symlink -> ${readlinkSync(abs)}`)
      else if (st.isDirectory()) {
        out.push(`${p}/ dir ${mode}`)
        walk(p)
      } else out.push(`${p} file ${mode} ${createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16)}`)
    }
  }
  walk('')
  return out
}
