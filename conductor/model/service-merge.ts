import type { ServiceFile } from './service-schema.js'

// Inheritance merge rules (README "Inheritance"), pure so they are tested with plain objects:
// - scalars and plain lists (display_*, service_directives...): the child wins when it sets them;
// - config: key by key, child wins;
// - hooks by `id`, pods and functions by `name`, commands by name: an entry of the child with
//   the same key is merged field by field over the base entry (child fields win) and keeps the
//   base entry's position; new entries are appended in the child's order;
// - inherit is consumed by the loader and never appears in a merged result.
// Paths have already been made absolute relative to the file that declared them.

type Keyed = Record<string, unknown>

export function mergeServiceFiles(base: ServiceFile, child: ServiceFile): ServiceFile {
  const out: ServiceFile = { ...base }
  for (const [key, value] of Object.entries(child) as Array<[keyof ServiceFile, unknown]>) {
    if (value === undefined || key === 'inherit') continue
    switch (key) {
      case 'config':
        out.config = { ...base.config, ...child.config }
        break
      case 'hooks':
        out.hooks = mergeListBy(base.hooks ?? [], child.hooks ?? [], h => h.id)
        break
      case 'pods':
        out.pods = mergeListBy(base.pods ?? [], child.pods ?? [], p => p.name ?? '')
        break
      case 'functions':
        out.functions = mergeListBy(base.functions ?? [], child.functions ?? [], f => f.name ?? '')
        break
      case 'commands':
        out.commands = mergeRecord(base.commands ?? {}, child.commands ?? {})
        break
      default:
        ;(out as Keyed)[key] = value
    }
  }
  delete out.inherit
  return out
}

export function mergeListBy<T extends object>(base: T[], child: T[], keyOf: (item: T) => string): T[] {
  const out = base.slice()
  const index = new Map(out.map((item, i) => [keyOf(item), i]))
  for (const item of child) {
    const at = index.get(keyOf(item))
    if (at === undefined) {
      index.set(keyOf(item), out.length)
      out.push(item)
    } else {
      out[at] = { ...out[at], ...definedFields(item) }
    }
  }
  return out
}

function mergeRecord<T extends object>(base: Record<string, T>, child: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = { ...base }
  for (const [name, entry] of Object.entries(child)) {
    out[name] = name in base ? ({ ...base[name], ...definedFields(entry) } as T) : entry
  }
  return out
}

function definedFields<T extends object>(item: T): Partial<T> {
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined)) as Partial<T>
}
