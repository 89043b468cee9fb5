import { chmod, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { SERVICE_FILE_NAME } from '../model/index.js'
import { FleetArchiveInvalid, FleetArchiveTooLarge, FleetDigestMismatch, ServiceInvalid } from '../../errors/index.js'
import { resolveService } from '../model/index.js'
import { FILES_IN_FLIGHT, MAX_ARCHIVE_BYTES, MAX_ARCHIVE_ENTRIES } from './defaults.js'
import { sha256Hex, type ArchiveEntry, type ArchiveLimits } from './format.js'
import { checkServiceName } from './paths.js'
import { readArchive, type ArchiveFile } from './read.js'

// An archive from another host becomes a directory only after every check passed: size, digest,
// each entry (archive-read.ts), then the service itself with the loader of `service check`.
// Anything refused leaves nothing on disk.

export type UnpackStep = 'write' | 'validate'

export interface UnpackOptions extends ArchiveLimits {
  /** The service it is for (a plain name): names the errors and the loaded service. */
  name: string
  /** SHA-256 the archive was announced with, lowercase hex; checked before anything else is read. */
  expectedDigest: string
  /**
   * Where the temporary directory is made (default: the OS temp dir). Give versionsDir(SERVICES)
   * so that installing it is a rename, and a crash leaves nothing that recovery does not remove.
   */
  into?: string
  /** Called before each step (fault tests pause there to be killed). */
  onStep?: (step: UnpackStep) => void | Promise<void>
}

export interface UnpackedService {
  /** A fresh directory holding the service tree (mode 0755), named `.unpack-PID-XXXXXX`. */
  dir: string
  digest: string
  entries: ArchiveEntry[]
}

export async function unpackServiceArchive(archive: Buffer, options: UnpackOptions): Promise<UnpackedService> {
  const { name, expectedDigest, maxBytes = MAX_ARCHIVE_BYTES, maxEntries = MAX_ARCHIVE_ENTRIES } = options
  checkServiceName(name)
  if (!/^[0-9a-f]{64}$/.test(expectedDigest)) {
    throw new FleetDigestMismatch(`expected digest "${expectedDigest}" is not a SHA-256 in lowercase hex`, name)
  }
  const label = `${name} (archive ${expectedDigest.slice(0, 12)})`
  if (archive.length > maxBytes) {
    throw new FleetArchiveTooLarge(`${archive.length} bytes, over the ${maxBytes}-byte archive limit`, label)
  }
  const digest = sha256Hex(archive)
  if (digest !== expectedDigest) {
    const why = 'corrupted or altered in transit'
    throw new FleetDigestMismatch(`SHA-256 is ${digest}, not the expected ${expectedDigest}: ${why}`, label)
  }
  const files = readArchive(archive, maxBytes, maxEntries, label)
  const into = options.into ?? os.tmpdir()
  await mkdir(into, { recursive: true })
  const dir = await mkdtemp(path.join(into, `.unpack-${process.pid}-`))
  try {
    await chmod(dir, 0o755)
    await options.onStep?.('write')
    await writeTree(dir, files)
    await options.onStep?.('validate')
    await checkService(dir, name, label)
    return { dir, digest, entries: files.map(({ content: _content, ...entry }) => entry) }
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

// Directories first (every parent, listed or not), then files, then symlinks: the checks made
// sure no entry lies under a symlink, and with the symlinks made last nothing is written
// through one. Modes are set explicitly: the umask must not make hosts differ.
async function writeTree(dir: string, files: ArchiveFile[]): Promise<void> {
  const dirs = new Set<string>()
  for (const f of files) {
    const parts = f.path.split('/')
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'))
    if (f.type === 'directory') dirs.add(f.path)
  }
  // Sorted, a parent comes before its children (a prefix sorts first).
  for (const d of [...dirs].sort()) {
    await mkdir(path.join(dir, d))
    await chmod(path.join(dir, d), 0o755)
  }
  const plain = files.filter(f => f.type === 'file')
  for (let i = 0; i < plain.length; i += FILES_IN_FLIGHT) {
    await Promise.all(
      plain.slice(i, i + FILES_IN_FLIGHT).map(async f => {
        await writeFile(path.join(dir, f.path), f.content ?? Buffer.alloc(0), { flag: 'wx', mode: f.mode })
        await chmod(path.join(dir, f.path), f.mode)
      })
    )
  }
  for (const f of files.filter(f => f.type === 'symlink')) await symlink(f.target!, path.join(dir, f.path))
}

async function checkService(dir: string, name: string, label: string): Promise<void> {
  const file = path.join(dir, SERVICE_FILE_NAME)
  const isFile = await stat(file).then(
    s => s.isFile(),
    () => false
  )
  if (!isFile) throw new FleetArchiveInvalid(`no ${SERVICE_FILE_NAME} at its top: not a service directory`, label)
  try {
    await resolveService(name, file)
  } catch (err) {
    if (!(err instanceof ServiceInvalid)) throw err
    // The temporary path means nothing to whoever reads the error: show NAME/... instead (and
    // NAME/../x for a file beside it, e.g. an inherited base the archive does not hold).
    const shown = (s: string): string => s.replaceAll(dir, name).replaceAll(path.dirname(dir) + '/', `${name}/../`)
    const problems = err
      .allProblems()
      .map(p => ({ ...p, file: p.file !== undefined ? shown(p.file) : undefined, message: shown(p.message) }))
    throw Object.assign(ServiceInvalid.fromProblems(problems), { cause: err })
  }
}
