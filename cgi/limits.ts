// A function's `service_directives` (issue 16 item 4): what applies to a function's processes,
// and how. Pure: the service schema checks every entry with it at load (file and JSON path),
// and the gateway turns a checked list into the properties of the function's systemd scope and
// the rlimits its fork server sets before exec.
//
// A function has no unit of its own: the gateway starts its processes. So only two kinds of
// directive can apply to them:
// - cgroup resource control (systemd.resource-control(5)): properties of the transient scope
//   the function's fork server runs in, shared by every process it starts (CGI, warm workers,
//   the daemon) since a child stays in its parent's cgroup;
// - process limits (Limit*=, systemd.exec(5)): setrlimit() in each child before exec, since a
//   scope cannot carry them (systemd-run --scope refuses them).
// Everything else (ExecStart=, Restart=, User=, Environment=...) describes a service's own
// process and cannot apply: it is refused, never silently dropped.

/** Resource-control directives passed as properties of the function's scope. */
export const CGROUP_DIRECTIVES: readonly string[] = [
  'CPUAccounting',
  'CPUWeight',
  'StartupCPUWeight',
  'CPUQuota',
  'CPUQuotaPeriodSec',
  'AllowedCPUs',
  'AllowedMemoryNodes',
  'MemoryAccounting',
  'MemoryMin',
  'MemoryLow',
  'MemoryHigh',
  'MemoryMax',
  'MemorySwapMax',
  'TasksAccounting',
  'TasksMax',
  'IOAccounting',
  'IOWeight',
  'IODeviceWeight',
  'IOReadBandwidthMax',
  'IOWriteBandwidthMax',
  'IOReadIOPSMax',
  'IOWriteIOPSMax'
]

/** Limit*= directive -> the resource name the fork server takes (RLIMIT_<NAME>). */
export const RLIMIT_DIRECTIVES: Readonly<Record<string, string>> = {
  LimitCPU: 'CPU',
  LimitFSIZE: 'FSIZE',
  LimitDATA: 'DATA',
  LimitSTACK: 'STACK',
  LimitCORE: 'CORE',
  LimitRSS: 'RSS',
  LimitNOFILE: 'NOFILE',
  LimitAS: 'AS',
  LimitNPROC: 'NPROC',
  LimitMEMLOCK: 'MEMLOCK',
  LimitLOCKS: 'LOCKS',
  LimitSIGPENDING: 'SIGPENDING',
  LimitMSGQUEUE: 'MSGQUEUE',
  LimitNICE: 'NICE',
  LimitRTPRIO: 'RTPRIO',
  LimitRTTIME: 'RTTIME'
}

/** rlimits counted in bytes: they take K, M, G, T, P, E suffixes (powers of 1024), as systemd does. */
const BYTE_RLIMITS = new Set(['FSIZE', 'DATA', 'STACK', 'CORE', 'RSS', 'AS', 'MEMLOCK', 'MSGQUEUE'])

/** Well-known directives of a service's own process, named in the refusal so the reason is clear. */
const SERVICE_ONLY = new RegExp(
  '^(Exec|Restart|Type$|User$|Group$|Environment|WorkingDirectory|RootDirectory|' +
    'Timeout|Kill|Remain|PIDFile|Nice$|OOMScore|Standard|Protect|Private|ReadOnly|ReadWrite|Capability|' +
    'AmbientCapabilities|NoNewPrivileges|Slice$|Delegate)'
)

export interface Rlimit {
  /** NOFILE, CPU... (RLIMIT_NOFILE...). */
  resource: string
  /** Decimal, or "infinity". */
  soft: string
  hard: string
}

export interface FunctionLimits {
  /** "Key=Value" properties of the function's systemd scope (empty: no scope needed). */
  properties: string[]
  /** Limits set in each process before exec (a later directive for one resource wins). */
  rlimits: Rlimit[]
}

export interface DirectiveProblem {
  index: number
  message: string
}

/** Splits a function's service_directives into scope properties and rlimits, or says what is wrong with each entry. */
export function parseFunctionDirectives(list: readonly string[]): {
  limits: FunctionLimits
  problems: DirectiveProblem[]
} {
  const properties: string[] = []
  const rlimits = new Map<string, Rlimit>()
  const problems: DirectiveProblem[] = []
  for (const [index, entry] of list.entries()) {
    const eq = entry.indexOf('=')
    const key = eq === -1 ? entry.trim() : entry.slice(0, eq).trim()
    const value = eq === -1 ? '' : entry.slice(eq + 1).trim()
    if (eq === -1 || !/^[A-Za-z][A-Za-z0-9]*$/.test(key)) {
      problems.push({ index, message: `"${entry}": expected "Key=Value", e.g. "MemoryMax=256M"` })
      continue
    }
    const resource = RLIMIT_DIRECTIVES[key]
    if (resource !== undefined) {
      const r = parseRlimit(resource, value)
      if (typeof r === 'string') problems.push({ index, message: `${key}=${value}: ${r}` })
      else rlimits.set(resource, r)
      continue
    }
    if (CGROUP_DIRECTIVES.includes(key)) {
      const why = checkCgroupValue(key, value)
      if (why !== undefined) problems.push({ index, message: `${key}=${value}: ${why}` })
      else properties.push(`${key}=${value}`)
      continue
    }
    problems.push({ index, message: refusal(key) })
  }
  return { limits: { properties, rlimits: [...rlimits.values()] }, problems }
}

function refusal(key: string): string {
  const all = [...CGROUP_DIRECTIVES, ...Object.keys(RLIMIT_DIRECTIVES)]
  const sameButCase = all.find(k => k.toLowerCase() === key.toLowerCase())
  if (sameButCase !== undefined) return `"${key}=": unknown directive; did you mean "${sameButCase}="?`
  const why = SERVICE_ONLY.test(key)
    ? `"${key}=" cannot apply to a function: it configures a service's own process, ` +
      "and a function's processes are started by the gateway"
    : `"${key}=" is not a directive a function's processes can be given`
  const list = (keys: readonly string[]): string => keys.map(k => k + '=').join(', ')
  return (
    `${why}; allowed: resource control (${list(CGROUP_DIRECTIVES)}) ` +
    `and process limits (${list(Object.keys(RLIMIT_DIRECTIVES))})`
  )
}

const BYTES = /^(infinity|\d+(\.\d+)?[KMGTPE]?|\d+(\.\d+)?%)$/
const SUFFIX: Record<string, bigint> = {
  K: 1n << 10n,
  M: 1n << 20n,
  G: 1n << 30n,
  T: 1n << 40n,
  P: 1n << 50n,
  E: 1n << 60n
}

// A light check of the values systemd is most often given, so that a typo fails at load with its
// path; systemd still parses every property itself when the scope is created.
function checkCgroupValue(key: string, value: string): string | undefined {
  if (value === '') return 'a value is required (an empty value would reset the setting)'
  if (/^Memory(Min|Low|High|Max|SwapMax)$/.test(key) && !BYTES.test(value)) {
    return (
      'expected bytes with an optional K, M, G, T, P or E suffix (e.g. 256M), ' +
      'a percentage of RAM (e.g. 10%), or infinity'
    )
  }
  if (key === 'TasksMax' && !/^(infinity|\d+|\d+(\.\d+)?%)$/.test(value)) {
    return 'expected a number of tasks (e.g. 64), a percentage, or infinity'
  }
  if (key === 'CPUQuota' && !/^\d+(\.\d+)?%$/.test(value)) {
    return 'expected a percentage of one CPU (e.g. 50%, or 200% for two CPUs)'
  }
  if (/^(Startup)?CPUWeight$|^IOWeight$/.test(key)) {
    const isWeight = /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 10000
    if (!isWeight && !(key.endsWith('CPUWeight') && value === 'idle')) return 'expected a weight from 1 to 10000'
  }
  if (key.endsWith('Accounting') && !/^(yes|no|true|false|on|off|1|0)$/.test(value)) return 'expected yes or no'
  return undefined
}

/** "N", "SOFT:HARD", "infinity", byte suffixes for byte limits, seconds for CPU, signed nice values for NICE. */
function parseRlimit(resource: string, value: string): Rlimit | string {
  const parts = value.split(':')
  if (parts.length > 2 || value === '') return 'expected a value, or "soft:hard" (e.g. 1024 or 1024:4096), or infinity'
  const soft = parseRlimitValue(resource, parts[0]!.trim())
  const hard = parts.length === 2 ? parseRlimitValue(resource, parts[1]!.trim()) : soft
  if ('error' in soft) return soft.error
  if ('error' in hard) return hard.error
  if (hard.value !== 'infinity' && (soft.value === 'infinity' || BigInt(soft.value) > BigInt(hard.value))) {
    return 'the soft limit is above the hard limit'
  }
  return { resource, soft: soft.value, hard: hard.value }
}

function parseRlimitValue(resource: string, v: string): { value: string } | { error: string } {
  if (v === 'infinity') return { value: v }
  if (resource === 'NICE' && /^[+-]\d+$/.test(v)) {
    // A nice value (systemd's signed syntax): RLIMIT_NICE is 20 - nice.
    const nice = Number(v)
    if (nice < -20 || nice > 19) return { error: `nice value ${v} outside -20..19` }
    return { value: String(20 - nice) }
  }
  if (resource === 'CPU') {
    const m = /^(\d+)s?$/.exec(v)
    return m !== null ? { value: m[1]! } : { error: `"${v}": expected a number of seconds (e.g. 30)` }
  }
  const m = /^(\d+)([KMGTPE]?)$/.exec(v)
  if (m === null || (m[2] !== '' && !BYTE_RLIMITS.has(resource))) {
    return {
      error: BYTE_RLIMITS.has(resource)
        ? `"${v}": expected bytes with an optional K, M, G, T, P or E suffix, or infinity`
        : `"${v}": expected a whole number, or infinity`
    }
  }
  const n = BigInt(m[1]!) * (m[2] === '' ? 1n : SUFFIX[m[2]!]!)
  if (n >= (1n << 64n) - 1n) return { error: `"${v}": too large (use infinity)` }
  return { value: n.toString() }
}

/** The fork server's arguments for these rlimits: --rlimit NAME=SOFT:HARD each. */
export function rlimitArgs(rlimits: readonly Rlimit[]): string[] {
  return rlimits.flatMap(r => ['--rlimit', `${r.resource}=${r.soft}:${r.hard}`])
}
