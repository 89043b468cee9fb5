import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ServiceInheritCycle, ServiceInheritMissing, ServiceInvalid } from './errors.js'
import { parseJsonc } from './jsonc.js'
import { mergeServiceFiles } from './service-merge.js'
import { serviceFileSchema, type ServiceFile } from './service-schema.js'
import { describeIssues } from './zod-issues.js'

/** Reads one file, validates it and makes its paths absolute (relative to that file). */
export function readServiceFile (file: string): ServiceFile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ServiceInvalid(code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(err)})`, file, undefined, { cause: err })
  }
  const raw = parseJsonc(text, file)
  const parsed = serviceFileSchema.safeParse(raw)
  if (!parsed.success) {
    throw ServiceInvalid.fromProblems(describeIssues(serviceFileSchema, parsed.error.issues).map(l => ({ file, ...l })))
  }
  return absolutizePaths(parsed.data, path.dirname(file))
}

/**
 * Loads a file and everything it inherits, recursively, applying `inherit` entries in order
 * and then the file itself. `chain` receives every file read, in merge order.
 */
export function loadServiceTree (file: string, chain: string[] = [], stack: string[] = []): ServiceFile {
  const abs = path.resolve(file)
  if (stack.includes(abs)) {
    const cycle = [...stack.slice(stack.indexOf(abs)), abs].join(' -> ')
    throw new ServiceInheritCycle(`inheritance cycle: ${cycle}`, stack[stack.length - 1], '/inherit')
  }
  const own = readServiceFile(abs)
  let merged: ServiceFile = {}
  for (const [i, base] of (own.inherit ?? []).entries()) {
    if (!existsSync(base)) {
      throw new ServiceInheritMissing(`inherited file ${base} does not exist; fix the path (relative to this file) or create it`, abs, `/inherit/${i}`)
    }
    merged = mergeServiceFiles(merged, loadServiceTree(base, chain, [...stack, abs]))
  }
  chain.push(abs)
  return mergeServiceFiles(merged, own)
}

// Paths declared in a file are relative to that file, so that a base file shared by many
// services can say "./pod.template" and mean the template beside the base (seed README).
function absolutizePaths (f: ServiceFile, dir: string): ServiceFile {
  const file = (p: string): string => path.resolve(dir, p)
  const exec = (argv: string[] | undefined): string[] | undefined => {
    if (argv === undefined) return undefined
    const [prog, ...rest] = argv
    // Bare names ("bash") are looked up in PATH like a shell would; anything with a slash is a path.
    return [prog !== undefined && prog.includes('/') ? file(prog) : prog!, ...rest]
  }
  return {
    ...f,
    inherit: f.inherit?.map(file),
    proxy_config_template: f.proxy_config_template !== undefined ? file(f.proxy_config_template) : undefined,
    pods: f.pods?.map(p => ({
      ...p,
      pod_template: p.pod_template !== undefined ? file(p.pod_template) : undefined,
      config_map_template: p.config_map_template !== undefined ? file(p.config_map_template) : undefined
    })),
    hooks: f.hooks?.map(h => ({ ...h, exec: exec(h.exec) })),
    commands: f.commands === undefined ? undefined : Object.fromEntries(Object.entries(f.commands).map(([n, c]) => [n, { ...c, exec: exec(c.exec) }])),
    functions: f.functions?.map(fn => ({ ...fn, exec: exec(fn.exec) }))
  }
}
