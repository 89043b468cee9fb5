import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { ConductorError, ServiceInvalid, ServiceNotFound, type Problem } from '../../errors/index.js'
import { NAME_PATTERN, SERVICE_FILE_NAME } from './defaults.js'
import { loadServiceTree } from './service-file.js'
import { clashesWithOthers, serviceSockets, socketProblems, type ServiceSockets } from './sockets.js'
import type { ValidationCache } from './validation-cache.js'
import type { CommandFile, FunctionFile, HookFile, PodFile, ServiceFile } from './service-schema.js'

// The resolved service: inheritance applied, paths absolute, defaults filled, and the
// requirements a runnable service has (every pod has a template, every hook an exec...)
// checked. Field names stay those of the seed so `service show --json` prints them as is.

export type Pod = Required<Pick<PodFile, 'name' | 'pod_template'>> &
  Omit<PodFile, 'name' | 'pod_template'> & { service_directives: string[] }
export type Hook = HookFile & Required<Pick<HookFile, 'when' | 'exec'>>
export type Command = CommandFile & Required<Pick<CommandFile, 'exec'>>
export type ServiceFunction = FunctionFile & Required<Pick<FunctionFile, 'name' | 'format' | 'exec'>>

export interface Service
  extends Omit<ServiceFile, 'inherit' | '$schema' | 'pods' | 'hooks' | 'commands' | 'functions' | 'config'> {
  /** Service id: its directory name. */
  name: string
  /** Absolute service directory. */
  dir: string
  /** Absolute path of its conductor-service.json. */
  file: string
  /** Every file merged, bases first, the service file last. */
  files: string[]
  app_name: string
  instance_name: string
  disable: boolean
  config: Record<string, string>
  pods: Pod[]
  hooks: Hook[]
  commands: Record<string, Command>
  functions: ServiceFunction[]
  display_service_config: string[]
  display_service_deployment_config: string[]
  display_deployment_config: string[]
}

export interface ServiceEntry {
  name: string
  file: string
  service?: Service
  error?: ConductorError
}

/** Loads one service by name from the services directory. Throws typed errors. */
export async function loadService(servicesDir: string, name: string, cache?: ValidationCache): Promise<Service> {
  if (!NAME_PATTERN.test(name))
    throw new ServiceNotFound(`invalid service name "${name}": names use letters, digits and _ . -`)
  const dir = path.join(servicesDir, name)
  const file = path.join(dir, SERVICE_FILE_NAME)
  if (!isFile(file)) throw new ServiceNotFound(`no service "${name}": ${file} does not exist`)
  return await resolveService(name, file, cache)
}

/** Loads every service; a broken one is returned with its error, never thrown. */
export async function loadAllServices(servicesDir: string, cache?: ValidationCache): Promise<ServiceEntry[]> {
  let names: string[]
  try {
    names = readdirSync(servicesDir).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const entries: ServiceEntry[] = []
  for (const name of names) {
    const file = path.join(servicesDir, name, SERVICE_FILE_NAME)
    if (!isFile(file)) continue
    try {
      if (!NAME_PATTERN.test(name))
        throw new ServiceInvalid(
          `directory name "${name}" is not a valid service name (letters, digits and _ . -); rename it`,
          file
        )
      entries.push({ name, file, service: await resolveService(name, file, cache) })
    } catch (err) {
      if (!(err instanceof ConductorError)) throw err
      entries.push({ name, file, error: err })
    }
  }
  return refuseSocketClashes(entries)
}

/**
 * Two services cannot listen on one address: the second (in name order) is refused with both
 * places named, the first keeps running.
 */
function refuseSocketClashes(entries: ServiceEntry[]): ServiceEntry[] {
  const valid: ServiceSockets[] = []
  return entries.map(e => {
    if (e.service === undefined) return e
    const mine = serviceSockets(e.name, e.file, e.service.pods)
    const clashes = clashesWithOthers([...valid, mine], valid.length)
    if (clashes.length === 0) {
      valid.push(mine)
      return e
    }
    const error = ServiceInvalid.fromProblems(clashes.map(c => ({ file: e.file, jsonPath: c.at, message: c.message })))
    return { name: e.name, file: e.file, error }
  })
}

export async function resolveService(name: string, file: string, cache?: ValidationCache): Promise<Service> {
  const files: string[] = []
  const merged = await loadServiceTree(file, files, [], cache)
  const problems: Problem[] = []
  const need = (cond: boolean, jsonPath: string, message: string): void => {
    if (!cond) problems.push({ file, jsonPath, message })
  }

  const pods = (merged.pods ?? []).map((p, i) => {
    need(
      p.pod_template !== undefined,
      `/pods/${i}/pod_template`,
      'missing: every pod needs a pod_template (here or in an inherited file)'
    )
    checkName(p.name ?? '', `/pods/${i}/name`, need)
    return {
      ...p,
      name: p.name ?? '',
      pod_template: p.pod_template ?? '',
      service_directives: p.service_directives ?? []
    }
  })
  const hooks = (merged.hooks ?? []).map((h, i) => {
    need(
      h.when !== undefined,
      `/hooks/${i}/when`,
      'missing: say when the hook runs (pre-start, post-start, pre-stop, post-stop, or a *-service variant)'
    )
    need(h.exec !== undefined, `/hooks/${i}/exec`, 'missing: the program to run')
    return h as Hook
  })
  const commands = Object.fromEntries(
    Object.entries(merged.commands ?? {}).map(([cmd, c]) => {
      need(c.exec !== undefined, `/commands/${cmd}/exec`, 'missing: the program to run')
      need(
        c.service === true || c.service_any_deployment === true || c.deployment === true,
        `/commands/${cmd}`,
        'declares no context: set at least one of "service", "service_any_deployment", "deployment" to true'
      )
      return [cmd, c as Command]
    })
  )
  const functions = (merged.functions ?? []).map((f, i) => {
    need(f.exec !== undefined, `/functions/${i}/exec`, 'missing: the program to run')
    checkName(f.name ?? '', `/functions/${i}/name`, need)
    need(
      !(f.mode === 'multi' && (f.format ?? 'cgi') === 'cgi'),
      `/functions/${i}/mode`,
      'mode "multi" needs format "http-stdio": a CGI process serves exactly one request (use mode "single")'
    )
    const isCgi = (f.format ?? 'cgi') === 'cgi' && f.mode !== 'parallel'
    need(
      !(f.strip_prefix === true && isCgi),
      `/functions/${i}/strip_prefix`,
      'applies to http-stdio workers and parallel daemons only: a CGI gets SCRIPT_NAME and PATH_INFO; ' +
        'remove strip_prefix or use format "http-stdio"'
    )
    return { ...f, name: f.name ?? '', format: f.format ?? 'cgi', exec: f.exec ?? [] }
  })
  for (const p of socketProblems(name, merged.pods ?? [])) problems.push({ file, ...p })
  if (problems.length > 0) throw ServiceInvalid.fromProblems(problems)

  const { inherit: _inherit, $schema: _schema, ...rest } = merged
  return {
    ...rest,
    name,
    dir: path.dirname(file),
    file,
    files,
    app_name: merged.app_name ?? name,
    instance_name: merged.instance_name ?? '',
    disable: merged.disable ?? false,
    config: Object.fromEntries(Object.entries(merged.config ?? {}).map(([k, v]) => [k, String(v)])),
    pods,
    hooks,
    commands,
    functions,
    display_service_config: merged.display_service_config ?? [],
    display_service_deployment_config: merged.display_service_deployment_config ?? merged.display_service_config ?? [],
    display_deployment_config: merged.display_deployment_config ?? []
  }
}

function checkName(name: string, jsonPath: string, need: (c: boolean, p: string, m: string) => void): void {
  // Part and function names end up in unit names and directory names.
  need(
    name === '' || /^[A-Za-z0-9_][A-Za-z0-9_.]*$/.test(name),
    jsonPath,
    `"${name}" is not a valid name: use letters, digits, _ and . (no "-", it separates deployment id parts)`
  )
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile()
  } catch {
    return false
  }
}
