// Limits and names of service archives and of the versions directory (issue 18, README
// "Fleet: service archives"), in one place.

/** Largest archive, and largest total of file bytes once unpacked (hard links count each time). */
export const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
/** Most entries (files, directories, symlinks) in one service archive. */
export const MAX_ARCHIVE_ENTRIES = 10_000
/** Longest entry path or symlink target, in bytes (Linux PATH_MAX). */
export const MAX_ARCHIVE_PATH_BYTES = 4096
/** Symlinks followed while resolving one symlink's target; more is a loop (Linux's own limit). */
export const MAX_SYMLINK_HOPS = 40
/**
 * Files read (packing) or written (unpacking) at once. One at a time, the per-file latency of
 * the thread pool dominates a tree of many small files; a few in flight hide it.
 */
export const FILES_IN_FLIGHT = 16
/** Every entry's mtime: a fixed time makes the archive depend on content only. */
export const ARCHIVE_MTIME = new Date(0)
/** Beside the services, hidden from the loader (no conductor-service.json directly inside). */
export const VERSIONS_DIR_NAME = '.conductor-versions'
/**
 * Versions become directory names: no leading dot (reserved for our temporary names), no `/`.
 * A digest (64 hex digits) and semver with build metadata (`1.2.3+b4`) both fit.
 */
export const VERSION_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$/
