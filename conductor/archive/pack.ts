import { lstat, readdir, readFile, readlink, realpath } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import path from 'node:path'
import { ConductorError, FleetArchiveTooLarge, FleetPackRefused } from '../../errors/index.js'
import { FILES_IN_FLIGHT, MAX_ARCHIVE_BYTES, MAX_ARCHIVE_ENTRIES } from './defaults.js'
import { ARCHIVE_END, encodeEntry, normalMode, sha256Hex, type ArchiveEntry, type ArchiveLimits } from './format.js'
import { pathProblem, symlinkProblem } from './paths.js'

// A service directory as a deterministic tar (issue 18): the same content gives the same bytes
// on any machine, whatever the mtimes, owners, umask or directory listing order.

export interface PackedService {
  archive: Buffer
  /** SHA-256 of `archive`, lowercase hex. */
  digest: string
  /** What is in it, in archive order. */
  entries: ArchiveEntry[]
}

/**
 * Packs `dir` (a symlink to a directory is followed: SERVICES/NAME usually is one). Entries in
 * byte order of their names, depth first (a directory right before its content). Hard links are
 * stored as regular files; symlinks only when they resolve inside `dir`; device files, FIFOs and
 * sockets are refused, naming the file.
 */
export async function packServiceDir(dir: string, limits: ArchiveLimits = {}): Promise<PackedService> {
  const { maxBytes = MAX_ARCHIVE_BYTES, maxEntries = MAX_ARCHIVE_ENTRIES } = limits
  let root: string
  try {
    root = await realpath(dir)
    if (!(await lstat(root)).isDirectory()) throw new FleetPackRefused('not a directory', dir)
  } catch (err) {
    if (err instanceof FleetPackRefused) throw err
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new FleetPackRefused(`cannot read (${code})`, dir, undefined, { cause: err })
  }
  try {
    const entries: ArchiveEntry[] = []
    await walk(root, '', entries, maxEntries, dir)
    checkSymlinks(entries, dir)
    const archive = await encodeTree(root, entries, maxBytes, dir)
    return { archive, digest: sha256Hex(archive), entries }
  } catch (err) {
    if (err instanceof ConductorError) throw err
    // A file or directory we may not read, or one removed while we walk.
    const { code, path: where } = err as NodeJS.ErrnoException
    throw new FleetPackRefused(`cannot read (${code ?? String(err)})`, where ?? dir, undefined, { cause: err })
  }
}

async function encodeTree(root: string, entries: ArchiveEntry[], maxBytes: number, shownRoot: string): Promise<Buffer> {
  const blocks: Buffer[] = []
  let size = ARCHIVE_END.length
  for (let i = 0; i < entries.length; i += FILES_IN_FLIGHT) {
    const batch = entries.slice(i, i + FILES_IN_FLIGHT)
    const contents = await Promise.all(
      batch.map(async e => (e.type === 'file' ? await readFile(path.join(root, e.path)) : undefined))
    )
    for (const [j, entry] of batch.entries()) {
      // The size is what was read, not what lstat said: a file may change while we pack.
      entry.size = contents[j]?.length ?? 0
      for (const block of encodeEntry(entry, contents[j])) {
        size += block.length
        blocks.push(block)
      }
    }
    if (size > maxBytes) {
      const fix = 'move large data out of the service directory'
      throw new FleetArchiveTooLarge(`packs to more than ${maxBytes} bytes (the archive limit); ${fix}`, shownRoot)
    }
  }
  blocks.push(ARCHIVE_END)
  return Buffer.concat(blocks, size)
}

async function walk(
  root: string,
  rel: string,
  out: ArchiveEntry[],
  maxEntries: number,
  shownRoot: string
): Promise<void> {
  const names = (await readdir(path.join(root, rel), { encoding: 'buffer' })).sort(Buffer.compare)
  for (const raw of names) {
    const name = raw.toString('utf8')
    const entryPath = rel === '' ? name : `${rel}/${name}`
    const shown = path.join(shownRoot, entryPath)
    // readdir would hand back a lossy string that lstat then cannot find.
    if (!Buffer.from(name).equals(raw)) throw new FleetPackRefused('file name is not valid UTF-8; rename it', shown)
    const problem = pathProblem(entryPath)
    if (problem !== undefined) throw new FleetPackRefused(`${problem}; rename it`, shown)
    if (out.length >= maxEntries) {
      const what = `more than ${maxEntries} files, directories and symlinks (the archive limit)`
      throw new FleetArchiveTooLarge(what, shownRoot)
    }
    const stat = await lstat(path.join(root, entryPath))
    if (stat.isDirectory()) {
      out.push({ path: entryPath, type: 'directory', mode: normalMode('directory', stat.mode), size: 0 })
      await walk(root, entryPath, out, maxEntries, shownRoot)
    } else if (stat.isFile()) {
      out.push({ path: entryPath, type: 'file', mode: normalMode('file', stat.mode), size: stat.size })
    } else if (stat.isSymbolicLink()) {
      const target = await readlink(path.join(root, entryPath))
      out.push({ path: entryPath, type: 'symlink', mode: normalMode('symlink', stat.mode), size: 0, target })
    } else {
      const rule = 'a service directory holds only files, directories and symlinks'
      throw new FleetPackRefused(`${kindOf(stat)}: ${rule}; remove it or move it out`, shown)
    }
  }
}

function checkSymlinks(entries: ArchiveEntry[], shownRoot: string): void {
  const links = new Map(entries.filter(e => e.type === 'symlink').map(e => [e.path, e.target!]))
  for (const [linkPath, target] of links) {
    const problem = symlinkProblem(links, linkPath, target)
    if (problem !== undefined) {
      const rule = 'only relative symlinks that stay inside the service directory are packed'
      throw new FleetPackRefused(
        `symlink to "${target}": ${problem}; ${rule} (copy the file in instead)`,
        path.join(shownRoot, linkPath)
      )
    }
  }
}

function kindOf(stat: Stats): string {
  if (stat.isFIFO()) return 'a FIFO'
  if (stat.isSocket()) return 'a socket'
  if (stat.isCharacterDevice()) return 'a character device'
  if (stat.isBlockDevice()) return 'a block device'
  return 'an unsupported file type'
}
