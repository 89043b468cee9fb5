import { randomBytes } from 'node:crypto'
import { cp, lstat, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises'
import path from 'node:path'
import { isProcessAlive } from '../../cgi/index.js'
import { NAME_PATTERN } from '../model/index.js'
import { FleetInstallLocked, FleetNoPreviousVersion, FleetServiceNotManaged } from '../../errors/index.js'
import { acquirePidLock } from '../state/index.js'
import { VERSION_PATTERN, VERSIONS_DIR_NAME } from './defaults.js'
import { checkServiceName, checkVersion } from './paths.js'

// Installed versions of synced services (issue 18; README "Fleet: service archives"):
//
//   SERVICES/NAME -> .conductor-versions/NAME/VERSION     what the loader reads (a symlink)
//   SERVICES/.conductor-versions/NAME/VERSION/             one directory per kept version
//   SERVICES/.conductor-versions/NAME/.previous -> VERSION the one `rollback` switches to
//
// Every change that matters is one rename(2): a version directory appears whole (renamed from
// where it was unpacked) and disappears whole (renamed aside before removal); SERVICES/NAME is
// switched by renaming a new symlink over it. `.swap` records the version being replaced, so
// that recovery (run under the lock before every change) can finish a switch a crash
// interrupted: once NAME points elsewhere, `.swap` becomes `.previous`; until then it is dropped.

export type InstallStep = 'adopt' | 'adopt-link' | 'stage' | 'mark' | 'switch' | 'previous' | 'prune'

export interface InstallOptions {
  /**
   * SERVICES/NAME is a plain directory (an operator's own): move it into the versions as
   * `adopted-TIMESTAMP`, the previous version, instead of refusing (the default).
   */
  adopt?: boolean
  /** Called before each step (fault tests pause there to be killed). */
  onStep?: (step: InstallStep) => void | Promise<void>
}

export interface InstallResult {
  name: string
  version: string
  /** The version replaced, now the one `rollback` switches to. */
  previous: string | undefined
  /** False when NAME was already at this version (nothing done). */
  changed: boolean
  /** Version directories removed (more than the current and the previous). */
  pruned: string[]
  /** The name given to an adopted plain directory. */
  adopted?: string
}

export interface ServiceVersions {
  /** Installed by fleet sync (NAME is our symlink); false for a plain directory or nothing. */
  managed: boolean
  current: string | undefined
  previous: string | undefined
  /** Version directories on disk, sorted. */
  kept: string[]
}

/** SERVICES/.conductor-versions: unpack there (unpackServiceArchive `into`) to install by rename. */
export function versionsDir(servicesDir: string): string {
  return path.join(servicesDir, VERSIONS_DIR_NAME)
}

/**
 * Makes `unpackedDir` version `version` of NAME and switches NAME to it. The version replaced
 * becomes the previous one; older ones are removed. Same version as now: nothing changes
 * (`changed: false`). `unpackedDir` is consumed whatever happens: moved into place (copied when
 * on another file system), or removed.
 */
export async function installServiceVersion(
  servicesDir: string,
  name: string,
  unpackedDir: string,
  version: string,
  options: InstallOptions = {}
): Promise<InstallResult> {
  try {
    checkServiceName(name)
    checkVersion(version)
    await removeStaleUnpacks(versionsDir(servicesDir))
    return await install(servicesDir, name, unpackedDir, version, options)
  } finally {
    await rm(unpackedDir, { recursive: true, force: true })
  }
}

async function install(
  servicesDir: string,
  name: string,
  unpackedDir: string,
  version: string,
  options: InstallOptions
): Promise<InstallResult> {
  const step = options.onStep ?? (() => {})
  return await withStore(servicesDir, name, `install ${name} ${version}`, async s => {
    let current = await readCurrent(s)
    let adopted: string | undefined
    if (current.kind === 'directory' && options.adopt === true) {
      adopted = await adopt(s, step)
      current = { kind: 'version', version: adopted }
    }
    if (current.kind === 'directory' || current.kind === 'other') throw notManaged(s, current.kind)
    const from = current.kind === 'version' ? current.version : undefined
    if (from === version) {
      // Nothing to switch; pruning still runs, so that a re-run after a crash converges.
      const previous = await readPointer(s, '.previous')
      return { name, version, previous, changed: false, pruned: await prune(s, [version, previous]) }
    }
    await step('stage')
    await placeVersion(s, unpackedDir, version)
    await step('mark')
    if (from !== undefined) await symlink(from, path.join(s.dir, '.swap'))
    await step('switch')
    await switchLink(s, s.link, serviceTarget(s, version))
    await step('previous')
    if (from !== undefined) await rename(path.join(s.dir, '.swap'), path.join(s.dir, '.previous'))
    await step('prune')
    const pruned = await prune(s, [version, from ?? (await readPointer(s, '.previous'))])
    return { name, version, previous: from, changed: true, pruned, ...(adopted !== undefined ? { adopted } : {}) }
  })
}

/** Switches NAME back to its previous version; the one it leaves becomes the previous (a second rollback undoes it). */
export async function rollbackServiceVersion(
  servicesDir: string,
  name: string,
  options: Pick<InstallOptions, 'onStep'> = {}
): Promise<{ name: string; version: string; previous: string }> {
  checkServiceName(name)
  const step = options.onStep ?? (() => {})
  return await withStore(servicesDir, name, `rollback ${name}`, async s => {
    const current = await readCurrent(s)
    if (current.kind === 'absent') throw new FleetNoPreviousVersion(`no version of "${name}" is installed`, s.link)
    if (current.kind !== 'version') throw notManaged(s, current.kind)
    const previous = await readPointer(s, '.previous')
    if (previous === undefined || !(await exists(path.join(s.dir, previous)))) {
      const message = `"${name}" has no previous version to roll back to (current: ${current.version})`
      throw new FleetNoPreviousVersion(message, s.dir)
    }
    await symlink(current.version, path.join(s.dir, '.swap'))
    await step('switch')
    await switchLink(s, s.link, serviceTarget(s, previous))
    await step('previous')
    await rename(path.join(s.dir, '.swap'), path.join(s.dir, '.previous'))
    return { name, version: previous, previous: current.version }
  })
}

/** What is installed for NAME, read-only (no lock: every state seen is a consistent one). */
export async function serviceVersions(servicesDir: string, name: string): Promise<ServiceVersions> {
  checkServiceName(name)
  const s = storeOf(servicesDir, name)
  const current = await readCurrent(s)
  const kept = await readdir(s.dir).then(
    names => names.filter(n => !n.startsWith('.')).sort(),
    () => []
  )
  return {
    managed: current.kind === 'version',
    current: current.kind === 'version' ? current.version : undefined,
    previous: await readPointer(s, '.previous'),
    kept
  }
}

/**
 * Finishes or undoes what a crash interrupted, for every synced service, and removes what dead
 * unpacks left. Installs and rollbacks do it themselves first; the sync daemon calls it at start.
 */
export async function recoverServiceVersions(servicesDir: string): Promise<void> {
  const root = versionsDir(servicesDir)
  await removeStaleUnpacks(root)
  const names = await readdir(root).catch(() => [])
  for (const name of names.filter(n => NAME_PATTERN.test(n)).sort()) {
    await withStore(servicesDir, name, `recover ${name}`, async () => {})
  }
}

interface Store {
  name: string
  link: string
  dir: string
}

type Current = { kind: 'absent' | 'directory' | 'other' } | { kind: 'version'; version: string }

function storeOf(servicesDir: string, name: string): Store {
  return { name, link: path.join(servicesDir, name), dir: path.join(versionsDir(servicesDir), name) }
}

async function withStore<T>(
  servicesDir: string,
  name: string,
  command: string,
  fn: (s: Store) => Promise<T>
): Promise<T> {
  const s = storeOf(servicesDir, name)
  await mkdir(s.dir, { recursive: true })
  const file = path.join(s.dir, '.lock')
  const lock = acquirePidLock(
    file,
    command,
    holder =>
      new FleetInstallLocked(
        holder === undefined
          ? `could not take the install lock of "${name}"`
          : `another process changes "${name}" (pid ${holder.pid}, ${holder.command}, since ${holder.since}); retry after`,
        file
      )
  )
  try {
    await recover(s)
    return await fn(s)
  } finally {
    lock.release()
  }
}

async function recover(s: Store): Promise<void> {
  for (const entry of await readdir(s.dir)) {
    if (/^\.(staging|link|trash)-/.test(entry)) await rm(path.join(s.dir, entry), { recursive: true, force: true })
  }
  const adopting = await readPointer(s, '.adopting')
  if (
    adopting !== undefined &&
    (await readCurrent(s)).kind === 'absent' &&
    (await exists(path.join(s.dir, adopting)))
  ) {
    await switchLink(s, s.link, serviceTarget(s, adopting))
  }
  await rm(path.join(s.dir, '.adopting'), { force: true })
  const swap = await readPointer(s, '.swap')
  const current = await readCurrent(s)
  if (swap !== undefined && current.kind === 'version' && current.version !== swap) {
    await rename(path.join(s.dir, '.swap'), path.join(s.dir, '.previous'))
  } else {
    await rm(path.join(s.dir, '.swap'), { force: true })
  }
}

// The one step that cannot be a single rename: Linux swaps a directory for a symlink only with
// renameat2(RENAME_EXCHANGE), which Node does not offer. Between the two renames NAME is absent;
// `.adopting` lets recovery put the link in place if a crash happens right there.
async function adopt(s: Store, step: (step: InstallStep) => void | Promise<void>): Promise<string> {
  const version = `adopted-${new Date().toISOString().replace(/[-:.]/g, '')}`
  await symlink(version, path.join(s.dir, '.adopting'))
  await step('adopt')
  await rename(s.link, path.join(s.dir, version))
  await step('adopt-link')
  await switchLink(s, s.link, serviceTarget(s, version))
  await rm(path.join(s.dir, '.adopting'))
  return version
}

async function placeVersion(s: Store, unpackedDir: string, version: string): Promise<void> {
  const target = path.join(s.dir, version)
  // A version names one content (the fleet's record of versions enforces it) and a version
  // directory only ever appears whole, so one already there is reused.
  if (await exists(target)) return
  try {
    await rename(unpackedDir, target)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err
    // Unpacked on another file system (the OS temp dir): copy beside, then rename into place.
    const staging = tempName(s, 'staging')
    await cp(unpackedDir, staging, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false })
    await rename(staging, target)
  }
}

async function switchLink(s: Store, at: string, target: string): Promise<void> {
  const temp = tempName(s, 'link')
  await symlink(target, temp)
  await rename(temp, at)
}

async function prune(s: Store, keep: Array<string | undefined>): Promise<string[]> {
  const pruned: string[] = []
  for (const entry of (await readdir(s.dir)).sort()) {
    if (entry.startsWith('.') || keep.includes(entry)) continue
    // Renamed aside first: a directory under a version's name is always whole.
    const trash = tempName(s, 'trash')
    await rename(path.join(s.dir, entry), trash)
    await rm(trash, { recursive: true, force: true })
    pruned.push(entry)
  }
  return pruned
}

async function readCurrent(s: Store): Promise<Current> {
  let target: string
  try {
    target = await readlink(s.link)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return { kind: 'absent' }
    if (code !== 'EINVAL') throw err
    return { kind: (await lstat(s.link)).isDirectory() ? 'directory' : 'other' }
  }
  const prefix = `${VERSIONS_DIR_NAME}/${s.name}/`
  const version = target.startsWith(prefix) ? target.slice(prefix.length) : ''
  return VERSION_PATTERN.test(version) ? { kind: 'version', version } : { kind: 'other' }
}

async function readPointer(s: Store, name: '.previous' | '.swap' | '.adopting'): Promise<string | undefined> {
  const version = await readlink(path.join(s.dir, name)).catch(() => '')
  return VERSION_PATTERN.test(version) ? version : undefined
}

// Unpacks name their directory after their pid: one whose process is gone was interrupted.
async function removeStaleUnpacks(root: string): Promise<void> {
  for (const entry of await readdir(root).catch(() => [])) {
    const pid = /^\.unpack-(\d+)-/.exec(entry)?.[1]
    if (pid === undefined || isProcessAlive(Number(pid))) continue
    await rm(path.join(root, entry), { recursive: true, force: true })
  }
}

function notManaged(s: Store, kind: 'directory' | 'other'): FleetServiceNotManaged {
  return new FleetServiceNotManaged(
    kind === 'directory'
      ? 'is a directory of your own, not installed by fleet sync: move it away first, or adopt it (it becomes the ' +
          'previous version)'
      : `is not a symlink into ${VERSIONS_DIR_NAME}/${s.name}/ (not installed by fleet sync): move it away first`,
    s.link
  )
}

function serviceTarget(s: Store, version: string): string {
  return `${VERSIONS_DIR_NAME}/${s.name}/${version}`
}

function tempName(s: Store, kind: 'staging' | 'link' | 'trash'): string {
  return path.join(s.dir, `.${kind}-${process.pid}-${randomBytes(4).toString('hex')}`)
}

async function exists(p: string): Promise<boolean> {
  return await lstat(p).then(
    () => true,
    () => false
  )
}
