import { NAME_PATTERN } from '../model/index.js'
import { FleetNameInvalid } from '../../errors/index.js'
import { MAX_ARCHIVE_PATH_BYTES, MAX_SYMLINK_HOPS, VERSION_PATTERN } from './defaults.js'

// The path and name rules shared by packing, unpacking and installing, so that what one
// writes the others accept.

/** Why `p` is not a plain relative path inside the service directory; undefined when it is one. */
export function pathProblem(p: string): string | undefined {
  if (p === '') return 'empty path'
  if (p.startsWith('/')) return 'absolute path'
  const parts = p.split('/')
  if (parts.includes('..')) return '".." in the path'
  if (parts.some(s => s === '' || s === '.')) return 'empty or "." path component'
  // Control characters break log lines and PAX records (a newline ends one); none belongs in a config tree.
  if (/[\x00-\x1f\x7f]/.test(p)) return 'control character in the path'
  if (Buffer.byteLength(p) > MAX_ARCHIVE_PATH_BYTES) return `path longer than ${MAX_ARCHIVE_PATH_BYTES} bytes`
  return undefined
}

/**
 * Why the symlink at `linkPath` with `target` does not stay inside the tree; undefined when it
 * does. `links` maps every symlink of the tree to its target. The walk substitutes symlinks as
 * the kernel would: a lexical check alone is fooled by `a/b/s -> ../..` (the top) then
 * `x -> a/b/s/../etc` (lexically a/b/etc, really ../etc).
 * A component that does not exist is taken as a plain directory (the kernel would stop there).
 */
export function symlinkProblem(
  links: ReadonlyMap<string, string>,
  linkPath: string,
  target: string
): string | undefined {
  const resolved = linkPath.split('/').slice(0, -1)
  let pending = target.split('/')
  let hops = 0
  if (target === '') return 'empty target'
  if (target.startsWith('/')) return 'absolute target'
  if (/[\x00-\x1f\x7f]/.test(target)) return 'control character in the target'
  if (Buffer.byteLength(target) > MAX_ARCHIVE_PATH_BYTES) return `target longer than ${MAX_ARCHIVE_PATH_BYTES} bytes`
  while (pending.length > 0) {
    const part = pending.shift()!
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (resolved.pop() === undefined) return 'resolves outside the service directory'
      continue
    }
    resolved.push(part)
    const next = links.get(resolved.join('/'))
    if (next === undefined) continue
    if (++hops > MAX_SYMLINK_HOPS) return `more than ${MAX_SYMLINK_HOPS} symlinks deep (a loop)`
    if (next.startsWith('/')) return `goes through ${resolved.join('/')}, a symlink with an absolute target`
    resolved.pop()
    pending = [...next.split('/'), ...pending]
  }
  return undefined
}

/** Service names become directory and unit names: the loader's own pattern. */
export function checkServiceName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    const rule = 'use letters, digits and _ . - (not starting with . or -)'
    throw new FleetNameInvalid(`service name "${name}" is not a plain name: ${rule}`)
  }
}

/** Versions become directory names beside the services (SERVICES/.conductor-versions/NAME/VERSION). */
export function checkVersion(version: string): void {
  if (!VERSION_PATTERN.test(version)) {
    const rule = '1 to 128 letters, digits and _ . + - (not starting with . + or -)'
    throw new FleetNameInvalid(`version "${version}" is not a plain name: ${rule}`)
  }
}
