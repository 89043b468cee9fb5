import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ServiceInheritCycle, ServiceInheritMissing, ServiceInvalid, ServiceSyntax } from '../../errors/index.js'
import { parseJsonc } from '../../errors/index.js'
import { mergeServiceFiles } from './service-merge.js'
import type { ServiceFile } from './service-schema.js'
import type { ValidationCache } from './validation-cache.js'

/** Reads one file, validates it and makes its paths absolute (relative to that file). */
export async function readServiceFile(file: string, cache?: ValidationCache): Promise<ServiceFile> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ServiceInvalid(
      code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(err)})`,
      file,
      undefined,
      { cause: err }
    )
  }
  const raw = parseJsonc(text, file, ServiceSyntax)
  const data = cache?.isKnownValid(text) === true ? (raw as ServiceFile) : await validate(raw, file)
  const duplicates = findDuplicates(data)
  if (duplicates.length > 0) throw ServiceInvalid.fromProblems(duplicates.map(l => ({ file, ...l })))
  cache?.markValid(text)
  return absolutizePaths(data, path.dirname(file))
}

// zod is loaded only when a file's content has not been validated before: loading it costs
// ~100 ms, half of a CLI start (issue 3: `service ls` well under 200 ms). The schema has no
// transforms or defaults, so a valid document is its own parsed value.
async function validate(raw: unknown, file: string): Promise<ServiceFile> {
  const [{ serviceFileSchema }, { describeIssues }] = await Promise.all([
    import('./service-schema.js'),
    import('../../errors/index.js')
  ])
  const parsed = serviceFileSchema.safeParse(raw)
  if (!parsed.success) {
    throw ServiceInvalid.fromProblems(describeIssues(serviceFileSchema, parsed.error.issues).map(l => ({ file, ...l })))
  }
  return parsed.data
}

// Entries are merged by key across files, so two entries with one key in the same file
// would silently become one: refuse that instead.
function findDuplicates(f: ServiceFile): Array<{ jsonPath: string; message: string }> {
  const out: Array<{ jsonPath: string; message: string }> = []
  const check = (list: Array<{ key: string }> | undefined, where: string, what: string): void => {
    const seen = new Set<string>()
    for (const [i, { key }] of (list ?? []).entries()) {
      if (seen.has(key))
        out.push({
          jsonPath: `/${where}/${i}`,
          message: `duplicate ${what} "${key}": must be unique within a file (entries merge by it across inherited files)`
        })
      seen.add(key)
    }
  }
  check(
    f.pods?.map(p => ({ key: p.name ?? '' })),
    'pods',
    'pod name'
  )
  check(
    f.functions?.map(p => ({ key: p.name ?? '' })),
    'functions',
    'function name'
  )
  check(
    f.hooks?.map(h => ({ key: h.id })),
    'hooks',
    'hook id'
  )
  return out
}

/**
 * Loads a file and everything it inherits, recursively, applying `inherit` entries in order
 * and then the file itself. `chain` receives every file read, in merge order.
 */
export async function loadServiceTree(
  file: string,
  chain: string[] = [],
  stack: string[] = [],
  cache?: ValidationCache
): Promise<ServiceFile> {
  const abs = path.resolve(file)
  if (stack.includes(abs)) {
    const cycle = [...stack.slice(stack.indexOf(abs)), abs].join(' -> ')
    throw new ServiceInheritCycle(`inheritance cycle: ${cycle}`, stack[stack.length - 1], '/inherit')
  }
  const own = await readServiceFile(abs, cache)
  let merged: ServiceFile = {}
  for (const [i, base] of (own.inherit ?? []).entries()) {
    if (!existsSync(base)) {
      throw new ServiceInheritMissing(
        `inherited file ${base} does not exist; fix the path (relative to this file) or create it`,
        abs,
        `/inherit/${i}`
      )
    }
    merged = mergeServiceFiles(merged, await loadServiceTree(base, chain, [...stack, abs], cache))
  }
  chain.push(abs)
  return mergeServiceFiles(merged, own)
}

// Paths declared in a file are relative to that file, so that a base file shared by many
// services can say "./pod.template" and mean the template beside the base (seed README).
function absolutizePaths(f: ServiceFile, dir: string): ServiceFile {
  const file = (p: string): string => path.resolve(dir, p)
  const exec = (argv: string[] | undefined): string[] | undefined => {
    if (argv === undefined) return undefined
    const [prog, ...rest] = argv
    // Bare names ("bash") are looked up in PATH like a shell would; anything with a slash is a path.
    return [prog?.includes('/') ? file(prog) : prog!, ...rest]
  }
  return {
    ...f,
    inherit: f.inherit?.map(file),
    proxy_config_template: f.proxy_config_template !== undefined ? file(f.proxy_config_template) : undefined,
    pods: f.pods?.map(p => ({
      ...p,
      pod_template: p.pod_template !== undefined ? file(p.pod_template) : undefined,
      config_map_template: p.config_map_template !== undefined ? file(p.config_map_template) : undefined,
      readiness:
        p.readiness !== undefined && 'exec' in p.readiness
          ? { ...p.readiness, exec: exec(p.readiness.exec)! }
          : p.readiness
    })),
    hooks: f.hooks?.map(h => ({ ...h, exec: exec(h.exec) })),
    commands:
      f.commands === undefined
        ? undefined
        : Object.fromEntries(Object.entries(f.commands).map(([n, c]) => [n, { ...c, exec: exec(c.exec) }])),
    functions: f.functions?.map(fn => ({ ...fn, exec: exec(fn.exec) }))
  }
}
