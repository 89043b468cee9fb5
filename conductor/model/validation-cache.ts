import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'

// Remembers a fingerprint of the service file, host.json and policy file contents that passed
// schema validation, per Conductor build, so that commands (`service ls`, the gateway's start and
// reload) skip loading zod when nothing changed. Only the fingerprint is stored: no path, no
// config value. A cache that cannot be read or written is simply not used.

export class ValidationCache {
  private readonly known: Set<string>
  private dirty = false

  constructor(
    private readonly file: string | undefined,
    private readonly version: string
  ) {
    this.known = new Set(file === undefined ? [] : readEntries(file, version))
  }

  /** `kind` keeps verdicts apart: a content valid as a service file says nothing of host.json. */
  isKnownValid(content: string, kind: DocumentKind = 'service'): boolean {
    return this.known.has(digest(kind, content))
  }

  markValid(content: string, kind: DocumentKind = 'service'): void {
    const d = digest(kind, content)
    if (!this.known.has(d)) {
      this.known.add(d)
      this.dirty = true
    }
  }

  /** Writes the cache atomically if it changed; errors are ignored (read-only host, no space). */
  save(): void {
    if (!this.dirty || this.file === undefined) return
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
      const tmp = `${this.file}.${process.pid}.tmp`
      // Bounded: keep the newest entries only (a Set iterates in insertion order).
      const entries = [...this.known].slice(-5000)
      writeFileSync(tmp, JSON.stringify({ version: this.version, valid: entries }), { mode: 0o600 })
      renameSync(tmp, this.file)
      this.dirty = false
    } catch {
      /* a cache is an optimisation only */
    }
  }
}

export type DocumentKind = 'service' | 'host' | 'policy'

/** Set by scripts/bundle.mjs (esbuild `define`) in the bundle; undeclared under tsc and tsx. */
declare const CONDUCTOR_BUILD_FINGERPRINT: string | undefined

const KIND_SEED: Record<DocumentKind, number> = { service: 0x2f1c9a3b, host: 0x5d17e4c1, policy: 0x7b3e0f95 }

/**
 * A 64-bit fingerprint of a document and its kind: two multiply-xor lanes over its UTF-16 code
 * units, mixed at the end, and its length. Not SHA-256: node:crypto took ~6 ms of every
 * `service ls` to load (BENCHMARKS.md, issue 15), for a check that only has to tell a changed file
 * from the one validated before. An accidental collision (a changed file taken for a validated
 * one) has a chance of about 2^-64 per check; nothing is gained by crafting one, since whoever can
 * write a service file can run any command through it anyway.
 */
export function digest(kind: DocumentKind, content: string): string {
  let h1 = 0x9e3779b1 ^ KIND_SEED[kind]
  let h2 = 0x85ebca6b ^ KIND_SEED[kind]
  for (let i = 0; i < content.length; i++) {
    const c = content.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x9e3779b1)
    h2 = Math.imul(h2 ^ c, 0x5bd1e995)
  }
  // Each lane's last bits depend on the other's (the finaliser of cyrb53).
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b) ^ Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0x85ebca6b) ^ Math.imul(h1 ^ (h1 >>> 13), 0xc2b2ae35)
  return `${kind[0]}${content.length.toString(36)}.${(h1 >>> 0).toString(36)}.${(h2 >>> 0).toString(36)}`
}

function readEntries(file: string, version: string): string[] {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; valid?: unknown }
    return data.version === version && Array.isArray(data.valid)
      ? data.valid.filter((x): x is string => typeof x === 'string')
      : []
  } catch {
    return []
  }
}

/**
 * The cache for this process: under $CONDUCTOR_CACHE_DIR, else $CACHE_DIRECTORY (systemd's
 * CacheDirectory= of the gateway unit), else $XDG_CACHE_HOME/conductor or ~/.cache/conductor.
 * Its key is the version plus the schema modules' sizes and mtimes (the bundle: a digest of the
 * sources it was built from), so a changed schema (an upgrade, or a development build) never
 * trusts an old verdict.
 */
export function openValidationCache(env: NodeJS.ProcessEnv, version: string): ValidationCache {
  const dir =
    env.CONDUCTOR_CACHE_DIR ??
    env.CACHE_DIRECTORY?.split(':')[0] ??
    (env.XDG_CACHE_HOME !== undefined
      ? path.join(env.XDG_CACHE_HOME, 'conductor')
      : env.HOME !== undefined
        ? path.join(env.HOME, '.cache/conductor')
        : undefined)
  let fingerprint = version
  // The shipped bundle has no schema files to stat: its build puts a digest of its sources here.
  if (typeof CONDUCTOR_BUILD_FINGERPRINT === 'string') {
    return new ValidationCache(
      dir === undefined ? undefined : path.join(dir, 'validated-services.json'),
      `${version}:${CONDUCTOR_BUILD_FINGERPRINT}`
    )
  }
  try {
    // resource-units.js holds the amount rules both schemas import. The policy schema is
    // policies/ (a folder this one may not import): only its file is looked at, never loaded.
    for (const module of [
      './service-schema.js',
      './host-schema.js',
      './resource-units.js',
      './caddy-address.js',
      '../../policies/schema.js',
      '../../policies/shape.js',
      '../../policies/defaults.js',
      '../../policies/origin.js'
    ]) {
      const st = statSync(new URL(module, import.meta.url))
      fingerprint += `:${st.size}:${Math.trunc(st.mtimeMs)}`
    }
  } catch {
    // Running from the TypeScript sources (tests): no stable fingerprint, so no cache.
    return new ValidationCache(undefined, version)
  }
  return new ValidationCache(dir === undefined ? undefined : path.join(dir, 'validated-services.json'), fingerprint)
}
