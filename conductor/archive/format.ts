import { createHash } from 'node:crypto'
import { Header, Pax } from 'tar'
import { ARCHIVE_MTIME } from './defaults.js'

// The one tar dialect we write (README "Fleet: service archives"): POSIX ustar, a PAX `path`
// (and `linkpath`) record only when a name does not fit the ustar fields, no compression.
// Every field that is not content is fixed: mtime 0, uid/gid 0, no user or group names,
// normalised modes. node-tar encodes the header blocks; what goes in them is decided here.

export type ArchiveEntryType = 'file' | 'directory' | 'symlink'

export interface ArchiveEntry {
  /** Relative path, `/`-separated, without a trailing slash. */
  path: string
  type: ArchiveEntryType
  /** Files 0644 or 0755 (executable), directories 0755, symlinks 0777. */
  mode: number
  /** Bytes of a file; 0 for the others. */
  size: number
  /** Target of a symlink, as written in it. */
  target?: string
}

export interface ArchiveLimits {
  /** Largest archive and largest total of unpacked file bytes (default MAX_ARCHIVE_BYTES). */
  maxBytes?: number
  /** Most entries (default MAX_ARCHIVE_ENTRIES). */
  maxEntries?: number
}

const TAR_TYPE = { file: 'File', directory: 'Directory', symlink: 'SymbolicLink' } as const
const BLOCK = 512

/** The mode an entry is stored and unpacked with: only "executable or not" survives from the source. */
export function normalMode(type: ArchiveEntryType, sourceMode: number): number {
  if (type === 'symlink') return 0o777
  return type === 'directory' || (sourceMode & 0o111) !== 0 ? 0o755 : 0o644
}

/** The blocks of one entry: [PAX header,] header, content padded to 512 bytes. */
export function encodeEntry(entry: ArchiveEntry, content?: Buffer): Buffer[] {
  const name = entry.type === 'directory' ? `${entry.path}/` : entry.path
  const header = new Header({
    path: name,
    mode: entry.mode,
    uid: 0,
    gid: 0,
    size: entry.size,
    mtime: ARCHIVE_MTIME,
    type: TAR_TYPE[entry.type],
    linkpath: entry.target ?? '',
    uname: '',
    gname: '',
    devmaj: 0,
    devmin: 0
  })
  const block = Buffer.alloc(BLOCK)
  const needsPax = header.encode(block)
  const blocks: Buffer[] = needsPax ? [new Pax({ path: name, linkpath: entry.target }).encode(), block] : [block]
  if (content !== undefined && content.length > 0) blocks.push(content, Buffer.alloc(padding(content.length)))
  return blocks
}

/** Two zero blocks end a tar archive. */
export const ARCHIVE_END = Buffer.alloc(2 * BLOCK)

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}
