import {
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  lstatSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync
} from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { ConductorError } from '../../errors/index.js'

// Writing key files where nobody else can have a hand in them (issue 13 item 10). A private
// key written into an existing file keeps that file's owner: whoever created it first could
// read the key. So each file is created new (O_EXCL, never through a link) in the keys
// directory and renamed over the old name, and the directory must be one only we (or root)
// can change, else another user could swap or pre-create the names between our steps.

/** The keys directory is writable by group/others or owned by another user. */
export class KeyDirUnsafe extends ConductorError {
  override readonly code = 'CND_KEY_DIR_UNSAFE'
}
/** A symbolic link sits at a key file's path: conductor does not write through it. */
export class KeyPathSymlink extends ConductorError {
  override readonly code = 'CND_KEY_SYMLINK'
}

/**
 * Refuses a keys directory that another user could change: owned by someone else than us or
 * root (root can do anything anyway, as OpenSSH assumes for ~/.ssh), or writable by group or
 * others (sticky or not: they could still create a file under a name we are about to use).
 */
export function checkKeysDir(dir: string): void {
  const st = statSync(dir)
  const uid = process.getuid?.()
  if (uid === undefined) return // no uids on this platform
  if (st.uid !== uid && st.uid !== 0) {
    throw new KeyDirUnsafe(
      `the keys directory is owned by uid ${st.uid}, not by this user (uid ${uid}): ` +
        `another user could replace the keys; fix: chown ${uid} ${dir} && chmod 700 ${dir}, or choose another --dir`,
      dir
    )
  }
  if ((st.mode & 0o022) !== 0) {
    const who = (st.mode & 0o020) !== 0 ? 'its group' : 'others'
    throw new KeyDirUnsafe(
      `the keys directory is writable by ${who} (mode ${(st.mode & 0o777).toString(8)}): ` +
        `another user could replace the keys; fix: chmod 700 ${dir}`,
      dir
    )
  }
}

/** Refuses a symbolic link at `file` (dangling or not); a missing file is fine. */
export function refuseSymlink(file: string): void {
  let isLink = false
  try {
    isLink = lstatSync(file).isSymbolicLink()
  } catch {
    return
  }
  if (!isLink) return
  throw new KeyPathSymlink(
    'is a symbolic link; conductor does not write keys through links: ' +
      `remove it (rm ${file}) or give --dir the real directory`,
    file
  )
}

/** Whether anything (a file, a link, even a dangling one) has that name. */
export function pathTaken(file: string): boolean {
  try {
    lstatSync(file)
    return true
  } catch {
    return false
  }
}

/**
 * Writes each file as a new one: created under a temporary name beside it with O_EXCL and
 * O_NOFOLLOW (so never an existing file, never through a link), given its mode, synced, then
 * renamed into place, which replaces the old entry (file or link) without opening it. All
 * temporary files are written before the first rename, so a failure leaves the old pair.
 */
export function replaceFiles(files: Array<{ file: string; data: string; mode: number }>): void {
  const written: Array<{ tmp: string; file: string }> = []
  try {
    for (const f of files) {
      const tmp = path.join(path.dirname(f.file), `.${path.basename(f.file)}.${randomBytes(6).toString('hex')}.tmp`)
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, f.mode)
      written.push({ tmp, file: f.file })
      try {
        writeSync(fd, f.data)
        // The umask may have taken bits off; set exactly what the file should have.
        fchmodSync(fd, f.mode)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    }
    while (written.length > 0) {
      renameSync(written[0]!.tmp, written[0]!.file)
      written.shift()
    }
  } finally {
    for (const w of written) {
      try {
        unlinkSync(w.tmp)
      } catch {
        /* already gone */
      }
    }
  }
}
