import { Parser, type ReadEntry } from 'tar'
import { FleetArchiveInvalid, FleetArchiveTooLarge } from '../../errors/index.js'
import { MAX_ARCHIVE_PATH_BYTES } from './defaults.js'
import { normalMode, type ArchiveEntry } from './format.js'
import { pathProblem, symlinkProblem } from './paths.js'

// Reading an archive that came from elsewhere. node-tar parses the blocks (PAX and GNU long
// names included); every entry is then checked here, before anything touches the disk, because
// node-tar's extractor silently strips or skips what we must refuse (`..`, absolute paths,
// links leaving the tree, devices). Refusals name the entry and the rule.

export interface ArchiveFile extends ArchiveEntry {
  /** Bytes of a file (a hard link gets its target's). */
  content?: Buffer
}

interface Parsed {
  path: string
  type: string
  mode: number
  size: number
  linkpath?: string | undefined
  content?: Buffer
}

const ACCEPTED = new Map<string, Checked['kind']>([
  ['File', 'file'],
  ['Directory', 'directory'],
  ['SymbolicLink', 'symlink'],
  ['Link', 'hardlink']
])

/** Parses and checks the whole archive; `label` names it in errors (e.g. `web (archive 0123456789ab)`). */
export function readArchive(archive: Buffer, maxBytes: number, maxEntries: number, label: string): ArchiveFile[] {
  // node-tar would transparently decompress gzip or zstd (a bomb); we write uncompressed ustar only.
  if (archive.length < 1024 || archive.length % 512 !== 0 || archive.toString('latin1', 257, 262) !== 'ustar') {
    refuse(label, 'not an uncompressed ustar archive (a service archive starts with a ustar header)')
  }
  const parsed = parse(archive, maxEntries, label)
  return checkEntries(parsed, maxBytes, label)
}

function parse(archive: Buffer, maxEntries: number, label: string): Parsed[] {
  const parsed: Parsed[] = []
  let refusal: Error | undefined
  let ended = false
  const stop = (message: string, Type = FleetArchiveInvalid): void => {
    refusal ??= new Type(message, label)
  }
  // Long names come in PAX records (path + linkpath up to 4096 bytes each): bigger is not ours.
  const parser = new Parser({ strict: true, maxMetaEntrySize: 4 * MAX_ARCHIVE_PATH_BYTES })
  parser.on('entry', (entry: ReadEntry) => {
    if (parsed.length >= maxEntries) stop(`more than ${maxEntries} entries (the archive limit)`, FleetArchiveTooLarge)
    const { path, type, mode = 0, size, linkpath } = entry
    const item: Parsed = { path, type, mode, size, linkpath }
    if (refusal === undefined) parsed.push(item)
    const chunks: Buffer[] = []
    entry.on('end', () => {
      item.content = Buffer.concat(chunks)
    })
    // Consumed whatever happens: a paused entry would stall the parser.
    entry.on('data', (chunk: Buffer) => {
      if (refusal === undefined) chunks.push(chunk)
    })
  })
  parser.on('ignoredEntry', (entry: ReadEntry) => stop(`entry "${entry.path}": unsupported entry type ${entry.type}`))
  parser.on('error', (err: Error) => stop(`not a valid tar archive: ${err.message}`))
  parser.on('end', () => {
    ended = true
  })
  parser.end(archive)
  if (refusal !== undefined) throw refusal
  if (!ended) throw new FleetArchiveInvalid('truncated tar archive', label)
  return parsed
}

function checkEntries(parsed: Parsed[], maxBytes: number, label: string): ArchiveFile[] {
  const byPath = new Map<string, Checked>()
  for (const [index, e] of parsed.entries()) {
    const kind = ACCEPTED.get(e.type)
    if (kind === undefined) {
      const why = /Device|FIFO/.test(e.type) ? 'device files and FIFOs are never unpacked' : 'unsupported entry type'
      refuse(label, `entry "${e.path}": ${e.type}: ${why}`)
    }
    // node-tar reports directories with their trailing slash.
    const p = kind === 'directory' ? e.path.replace(/\/$/, '') : e.path
    const problem = pathProblem(p)
    if (problem !== undefined) refuse(label, `entry "${e.path}": ${problem}`)
    const seen = byPath.get(p)
    if (seen !== undefined) refuse(label, `entry "${p}" appears twice (entries ${seen.index + 1} and ${index + 1})`)
    byPath.set(p, { ...e, path: p, kind, index })
  }
  const links = new Map([...byPath.values()].filter(e => e.kind === 'symlink').map(e => [e.path, e.linkpath ?? '']))
  const files: ArchiveFile[] = []
  let total = 0
  for (const e of byPath.values()) {
    checkParents(byPath, e.path, label)
    const file = toFile(e, byPath, links, label)
    total += file.size
    if (total > maxBytes) {
      throw new FleetArchiveTooLarge(`unpacks to more than ${maxBytes} bytes (the limit; a tar bomb?)`, label)
    }
    files.push(file)
  }
  return files
}

interface Checked extends Parsed {
  kind: 'file' | 'directory' | 'symlink' | 'hardlink'
  index: number
}

// An entry under a symlink would be written through it, one under a file cannot be written.
function checkParents(byPath: Map<string, Checked>, entryPath: string, label: string): void {
  const parts = entryPath.split('/')
  for (let i = 1; i < parts.length; i++) {
    const parent = byPath.get(parts.slice(0, i).join('/'))
    if (parent !== undefined && parent.kind !== 'directory') {
      refuse(label, `entry "${entryPath}" is inside "${parent.path}", which is a ${parent.kind}, not a directory`)
    }
  }
}

function toFile(e: Checked, byPath: Map<string, Checked>, links: Map<string, string>, label: string): ArchiveFile {
  const target = e.linkpath ?? ''
  if (e.kind === 'symlink') {
    const problem = symlinkProblem(links, e.path, target)
    if (problem !== undefined) refuse(label, `symlink "${e.path}" -> "${target}": ${problem}`)
    return { path: e.path, type: 'symlink', mode: normalMode('symlink', e.mode), size: 0, target }
  }
  if (e.kind === 'hardlink') {
    const problem = pathProblem(target)
    if (problem !== undefined) {
      refuse(label, `hard link "${e.path}" -> "${target}": points outside the service directory (${problem})`)
    }
    const to = byPath.get(target)
    if (to?.kind !== 'file' || to.index > e.index) {
      refuse(label, `hard link "${e.path}" -> "${target}": no regular file of that path before it in the archive`)
    }
    // Unpacked as a copy, as the packer stores hard links: each one counts in full against the limit.
    return { path: e.path, type: 'file', mode: normalMode('file', to.mode), size: to.size, content: to.content }
  }
  if (e.kind === 'directory') return { path: e.path, type: 'directory', mode: normalMode('directory', e.mode), size: 0 }
  return { path: e.path, type: 'file', mode: normalMode('file', e.mode), size: e.size, content: e.content }
}

function refuse(label: string, message: string): never {
  throw new FleetArchiveInvalid(message, label)
}
