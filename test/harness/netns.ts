import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// Several test hosts on one machine, as network namespaces (ENVIRONMENT.md "Several hosts on one
// machine"), for the fleet tests (peers, config sync, scheduler).
//
// Layout of one run (TAG = cndfleet-PID-N, unique per process and per startHosts call):
//   TAG-sw    a "switch" namespace holding the bridge br0 and one veth end per host (h1, h2...)
//   TAG-hI    host I: lo and eth0 = 192.0.2.I/24, the other veth end; no default route
// Nothing of a run is in the machine's own namespace: no bridge, no veth, no address, no route.
// So two runs (tap runs two files at once; other developers run suites here too) can both use
// 192.0.2.1..N without a lock: their bridges live in different namespaces and never meet, and
// no conntrack table or firewall rule of the machine ever sees their packets (the machine has
// bridge-nf-call-iptables=1; a bridge in the root namespace would push every test packet
// through the machine's netfilter, where two runs' identical address pairs would share
// conntrack entries). The price: the root namespace cannot reach a host at all. Tests talk to
// a host through its agent (netns-agent.cjs, one node process inside the namespace): `forward`
// gives a loopback port of the root namespace relayed to an address inside the host (the
// in-process NATS/HTTP clients use it), `request` makes an HTTP(S) request from inside.
//
// Commands run in a host with `nsenter --net=/run/netns/NAME`, NOT `ip netns exec`: the latter
// also remounts /sys, which hides /sys/fs/cgroup, so a user manager never comes up and Podman
// fails with "no cgroup mount found in mountinfo". nsenter --net changes nothing but the network.
// Mount namespace, /etc/hosts and Podman's storage stay shared, hence each host's own
// directories and env (hostEnv below: XDG dirs, CONDUCTOR_ROOT, Podman storage).
//
// Cleanup, always, in four layers, all through cleanupRun(TAG), every step idempotent:
//   1. t.teardown (fleet.stop): pods removed, every process in the host namespaces killed with
//      its descendants (container processes live in pods' own namespaces, under conmon), user
//      manager cgroups removed, namespaces deleted (their veths and bridge go with them),
//      mounts under the run's directory unmounted, the directory removed;
//   2. a process 'exit' hook (an uncaught error, process.exit before the teardown);
//   3. a reaper: a detached `cat` on a pipe from this process; when this process dies in any way
//      (SIGKILL from tap's timeout included) the pipe closes and it runs netns-reaper.ts TAG;
//   4. at each startHosts, runs of dead processes (owner pid dead, or reused: start time in
//      /tmp/TAG/owner differs) are swept.

const PREFIX = 'cndfleet'
const NETNS_DIR = '/run/netns'
const STATE_ROOT = os.tmpdir()
const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url))
const REPO_ROOT = path.resolve(HARNESS_DIR, '../..')
const AGENT = path.join(HARNESS_DIR, 'netns-agent.cjs')
const REAPER = path.join(HARNESS_DIR, 'netns-reaper.ts')
const USER_MANAGER = path.join(REPO_ROOT, 'scripts/user-manager.sh')
const CONTAINERS_CONF = path.join(REPO_ROOT, 'test/fixtures/containers.conf')
type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}
export interface ExecOptions {
  /** Added to (and overriding) the host's env. */
  env?: Record<string, string>
  input?: string
  cwd?: string
  /** Killed (SIGKILL) after this long; default 60 s. */
  timeoutMs?: number
}
export interface SpawnInNsOptions {
  env?: Record<string, string>
  cwd?: string
  stdio?: StdioOptions
}
export interface AgentAnswer {
  status: number
  headers: Record<string, string | string[]>
  body: string
}
export interface ProbeResult {
  connected: boolean
  data?: string
  error?: string
  code?: string
}
export interface RequestOptions {
  caFile?: string
  method?: string
  headers?: Record<string, string>
  body?: string
  /** A file sent as the body, bytes as they are (an archive); instead of `body`. */
  bodyFile?: string
  timeoutMs?: number
}

export interface TestHost {
  /** The run's TAG (Fleet.id), e.g. to name a NATS cluster uniquely. */
  fleet: string
  /** 1-based */
  index: number
  /** h1, h2...: the directory and cgroup name part; peers are best named by `ip` (ENVIRONMENT.md). */
  name: string
  /** 192.0.2.INDEX on eth0 (TEST-NET-1, RFC 5737: on no real network) */
  ip: string
  netns: string
  /** /run/netns/NAME, for `nsenter --net=` */
  netnsPath: string
  /** This host's own directory (removed at teardown). */
  dir: string
  /**
   * The host's environment: PATH, HOME, CONDUCTOR_ROOT, CONDUCTOR_SCOPE=user, XDG_RUNTIME_DIR,
   * XDG_CONFIG_HOME, XDG_DATA_HOME, CONTAINERS_CONF (the test fixture), CONTAINERS_STORAGE_CONF
   * (this host's graphroot/runroot). exec/spawn use it; nothing of the test process's env leaks in.
   */
  env: Record<string, string>
  /** Runs CMD inside the namespace and collects its output (never throws for a non-zero exit). */
  exec: (cmd: string, args?: string[], opts?: ExecOptions) => Promise<ExecResult>
  /** Starts CMD inside the namespace; killed at teardown with everything else in the namespace. */
  spawn: (cmd: string, args?: string[], opts?: SpawnInNsOptions) => ChildProcess
  /** Cuts the host off the bridge (its eth0 loses carrier) or plugs it back. */
  link: (state: 'up' | 'down') => Promise<void>
  /**
   * SIGKILLs every process of the host (a power cut), descendants included; the harness's agent
   * stays. Resolves with their pids once all are gone.
   */
  kill: () => Promise<number[]>
  /** Live processes in the host's namespace (the harness's agent excluded). */
  processes: () => number[]
  /**
   * A port on the ROOT namespace's 127.0.0.1 relayed to ADDRESS:PORT dialed inside the host
   * (default 127.0.0.1). The relay lives as long as the host's agent, which kill() spares.
   */
  forward: (port: number, address?: string) => Promise<number>
  /** An HTTP(S) request made from inside the host; `caFile`: the only CA trusted. Rejects on a network/TLS error. */
  request: (url: string, opts?: RequestOptions) => Promise<AgentAnswer>
  /** A TCP connection attempt from inside the host; what the server sent first, if anything. */
  probe: (address: string, port: number, timeoutMs?: number) => Promise<ProbeResult>
}

export interface Fleet {
  /** TAG: the prefix of every namespace and cgroup name of this run. */
  id: string
  hosts: TestHost[]
  /** The run's directory: /tmp/TAG */
  dir: string
  /** The switch namespace (bridge br0, veth ends h1..hN). */
  switchNetns: string
  /** Tears everything down now (idempotent; the teardown calls it too). */
  stop: () => Promise<void>
}

export interface StartHostsOptions {
  count: number
  /** Spawn the reaper (default true); off only for the test of the stale sweep. */
  reaper?: boolean
}

const live = new Map<string, { reaper?: ChildProcess }>()
let runs = 0
let exitHookInstalled = false

export async function startHosts(t: Teardown, o: StartHostsOptions): Promise<Fleet> {
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > 250) {
    throw new Error(`startHosts: count must be 1..250, got ${o.count}`)
  }
  sweepStaleRuns()
  const tag = `${PREFIX}-${process.pid}-${++runs}`
  const dir = path.join(STATE_ROOT, tag)
  mkdirSync(dir, { recursive: true })
  // Before any namespace exists: a sweep by another run must be able to tell this run is alive.
  writeFileSync(path.join(dir, 'owner'), JSON.stringify({ pid: process.pid, start: startTime(process.pid) }))
  const run: { reaper?: ChildProcess } = {}
  live.set(tag, run)
  installExitHook()
  if (o.reaper !== false) run.reaper = spawnReaper(tag, dir)

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    for (const h of hosts) h.closeAgent()
    const problems = cleanupRun(tag)
    live.delete(tag)
    run.reaper?.stdin?.end()
    if (problems.length > 0) throw new Error(`fleet ${tag} cleanup: ${problems.join('; ')}`)
  }
  t.teardown(stop)

  const sw = `${tag}-sw`
  const hosts: HostImpl[] = []
  try {
    // Two `ip -batch` calls plus one per host (a call costs ~10-30 ms here).
    const indexes = Array.from({ length: o.count }, (_, i) => i + 1)
    ipBatch([], [`netns add ${sw}`, ...indexes.map(i => `netns add ${tag}-h${i}`)])
    // Both veth ends are created directly in their namespaces: neither ever appears in the root one.
    ipBatch(
      ['-n', sw],
      [
        'link add br0 type bridge',
        'link set br0 up',
        ...indexes.flatMap(i => [
          `link add h${i} type veth peer name eth0 netns ${tag}-h${i}`,
          `link set h${i} master br0 up`
        ])
      ]
    )
    for (const i of indexes) hosts.push(createHost(tag, dir, sw, i))
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
  return { id: tag, hosts, dir, switchNetns: sw, stop }
}

interface HostImpl extends TestHost {
  closeAgent: () => void
}

function createHost(tag: string, runDir: string, sw: string, index: number): HostImpl {
  const name = `h${index}`
  const netns = `${tag}-${name}`
  const netnsPath = path.join(NETNS_DIR, netns)
  const hostIp = `192.0.2.${index}`
  ipBatch(['-n', netns], [`addr add ${hostIp}/24 dev eth0`, 'link set eth0 up', 'link set lo up'])
  const dir = path.join(runDir, name)
  const env = hostEnv(dir)

  const spawnIn = (cmd: string, args: string[] = [], opts: SpawnInNsOptions = {}): ChildProcess =>
    spawn('nsenter', [`--net=${netnsPath}`, '--', cmd, ...args], {
      env: { ...env, ...opts.env },
      cwd: opts.cwd ?? dir,
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe']
    })

  const exec = async (cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> =>
    await new Promise((resolve, reject) => {
      const stdin = opts.input === undefined ? 'ignore' : 'pipe'
      const proc = spawnIn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: [stdin, 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      proc.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString()
      })
      proc.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
      proc.on('error', err => {
        clearTimeout(timer)
        reject(err)
      })
      proc.on('close', (code, signal) => {
        clearTimeout(timer)
        resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr })
      })
      if (opts.input !== undefined) proc.stdin?.end(opts.input)
    })

  // The agent: started on first use, restarted if it died.
  let agent: ChildProcess | undefined
  let agentReady: Promise<ChildProcess> | undefined
  let nextId = 1
  const pending = new Map<number, (m: Record<string, unknown>) => void>()
  const forwards = new Map<string, number>()
  const agentAlive = (): boolean => agent !== undefined && agent.exitCode === null && agent.signalCode === null
  const startAgent = async (): Promise<ChildProcess> => {
    if (agentReady !== undefined && agentAlive()) return await agentReady
    forwards.clear()
    const proc = spawnIn(process.execPath, [AGENT], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
    agent = proc
    let stderr = ''
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    proc.on('message', (m: Record<string, unknown>) => {
      pending.get(m.id as number)?.(m)
      pending.delete(m.id as number)
    })
    proc.on('exit', () => {
      for (const [, answer] of pending) answer({ error: `agent of ${name} exited ${stderr}` })
      pending.clear()
    })
    agentReady = new Promise((resolve, reject) => {
      pending.set(0, m => (m.ready === true ? resolve(proc) : reject(new Error(String(m.error)))))
      proc.on('error', reject)
    })
    return await agentReady
  }
  const ask = async (msg: Record<string, unknown>, handle?: net.Server): Promise<Record<string, unknown>> => {
    const a = await startAgent()
    const id = nextId++
    return await new Promise(resolve => {
      pending.set(id, resolve)
      a.send({ ...msg, id }, handle)
    })
  }

  const host: HostImpl = {
    fleet: tag,
    index,
    name,
    ip: hostIp,
    netns,
    netnsPath,
    dir,
    env,
    exec,
    spawn: spawnIn,
    link: async state => {
      ip('-n', sw, 'link', 'set', name, state)
    },
    processes: () => namespaceProcesses(new Set([nsInode(netnsPath)]), agentPids()),
    kill: async () => await killNamespaces(new Set([nsInode(netnsPath)]), agentPids()),
    forward: async (port, address = '127.0.0.1') => {
      const key = `${address}:${port}`
      const known = forwards.get(key)
      if (known !== undefined && agentAlive()) return known
      const server = net.createServer()
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', resolve)
      })
      const local = (server.address() as net.AddressInfo).port
      try {
        const r = await ask({ type: 'forward', host: address, port }, server)
        if (r.ok !== true) throw new Error(`forward to ${key} in ${name}: ${String(r.error)}`)
      } finally {
        // The agent holds its own copy of the listening socket; this one must not accept.
        server.close()
      }
      forwards.set(key, local)
      return local
    },
    request: async (url, opts = {}) => {
      const r = await ask({ type: 'request', url, ...opts })
      if (r.error !== undefined) {
        throw Object.assign(new Error(`${name} ${opts.method ?? 'GET'} ${url}: ${String(r.error)}`), { code: r.code })
      }
      return r as unknown as AgentAnswer
    },
    probe: async (address, port, timeoutMs) =>
      (await ask({ type: 'probe', host: address, port, timeoutMs })) as unknown as ProbeResult,
    closeAgent: () => {
      if (agentAlive()) agent!.kill('SIGKILL')
    }
  }
  const agentPids = (): Set<number> => new Set(agentAlive() && agent!.pid !== undefined ? [agent!.pid] : [])
  return host
}

/**
 * A host's own directories and environment. Each host gets its own XDG_RUNTIME_DIR and
 * XDG_CONFIG_HOME (how `systemctl --user` finds its manager and the manager its units),
 * XDG_DATA_HOME (Caddy's storage, hence its local CA), CONDUCTOR_ROOT, HOME, and Podman
 * storage: the mount namespace is shared, so with the machine's storage `podman pod ps` on one
 * host would list every host's pods, and an orphan cleanup on one would remove the others'.
 * vfs: no overlay mounts of its own (only a container's /dev/shm is mounted, and removed with
 * it), so a host left by a killed run goes with `rm -rf`; busybox is 2 MB, copies cost nothing.
 */
function hostEnv(dir: string): Record<string, string> {
  const d = {
    home: path.join(dir, 'home'),
    root: path.join(dir, 'root'),
    runtime: path.join(dir, 'run'),
    config: path.join(dir, 'config'),
    data: path.join(dir, 'data'),
    containers: path.join(dir, 'containers')
  }
  for (const p of Object.values(d)) mkdirSync(p, { recursive: true })
  chmodSync(d.runtime, 0o700)
  const storageConf = path.join(d.containers, 'storage.conf')
  writeFileSync(
    storageConf,
    [
      "# One test host's own Podman storage (test/harness/netns.ts).",
      '[storage]',
      'driver = "vfs"',
      `graphroot = "${path.join(d.containers, 'graph')}"`,
      `runroot = "${path.join(d.containers, 'run')}"`,
      ''
    ].join('\n')
  )
  return {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    HOME: d.home,
    CONDUCTOR_ROOT: d.root,
    CONDUCTOR_SCOPE: 'user',
    XDG_RUNTIME_DIR: d.runtime,
    XDG_CONFIG_HOME: d.config,
    XDG_DATA_HOME: d.data,
    CONTAINERS_CONF,
    CONTAINERS_STORAGE_CONF: storageConf
  }
}

/** Where a host's Podman keeps its database: present once the host used Podman. */
const podmanDb = (hostDir: string): string => path.join(hostDir, 'containers/graph/libpod')

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr ?? '').trim() || String(r.error)}`)
}

function ipBatch(opts: string[], commands: string[]): void {
  const input = commands.join('\n') + '\n'
  const r = spawnSync('ip', [...opts, '-batch', '-'], { input, encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) throw new Error(`ip ${opts.join(' ')} -batch: ${(r.stderr ?? '').trim() || String(r.error)}`)
}

/** The inode of a namespace file; -1 unless it is a mounted network namespace (after a reboot a
 * /run on disk keeps the file, a plain one whose inode could match anything). */
function nsInode(file: string): number {
  try {
    const st = statSync(file)
    return st.dev === statSync('/proc/self/ns/net').dev ? st.ino : -1
  } catch {
    return -1
  }
}

/** Live processes whose network namespace is one of INODES, plus all their descendants. */
export function namespaceProcesses(inodes: Set<number>, exclude: Set<number> = new Set()): number[] {
  const parent = new Map<number, number>()
  const members: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const pid = Number(entry)
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (state === 'Z') continue
      parent.set(pid, Number(ppid))
      const link = readlinkSync(`/proc/${entry}/ns/net`)
      if (inodes.has(Number(link.slice('net:['.length, -1)))) members.push(pid)
    } catch {
      /* gone meanwhile */
    }
  }
  const children = new Map<number, number[]>()
  for (const [pid, ppid] of parent) children.set(ppid, [...(children.get(ppid) ?? []), pid])
  const out = new Set<number>()
  const queue = [...members]
  while (queue.length > 0) {
    const pid = queue.pop()!
    if (out.has(pid) || exclude.has(pid) || pid === process.pid) continue
    out.add(pid)
    queue.push(...(children.get(pid) ?? []))
  }
  return [...out]
}

function killRound(inodes: Set<number>, exclude: Set<number>): number[] {
  const pids = namespaceProcesses(inodes, exclude)
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      /* gone */
    }
  }
  return pids
}

async function killNamespaces(inodes: Set<number>, exclude: Set<number>): Promise<number[]> {
  const killed = new Set<number>()
  for (let i = 0; i < 100; i++) {
    const pids = killRound(inodes, exclude)
    if (pids.length === 0) return [...killed]
    for (const p of pids) killed.add(p)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`processes still alive after 5 s of SIGKILL: ${namespaceProcesses(inodes, exclude).join(' ')}`)
}

function killNamespacesSync(inodes: Set<number>): boolean {
  for (let i = 0; i < 100; i++) {
    if (killRound(inodes, new Set()).length === 0) return true
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50)
  }
  return false
}

/**
 * Removes everything of run TAG; synchronous (it also runs in a process 'exit' hook), idempotent
 * (a reaper and a sweep may meet on one run). Returns what could not be removed.
 */
export function cleanupRun(tag: string): string[] {
  const problems: string[] = []
  const dir = path.join(STATE_ROOT, tag)
  const names = listNetns().filter(n => n.startsWith(`${tag}-`))
  const hostDirs = (existsSync(dir) ? readdirSync(dir) : []).filter(n => /^h\d+$/.test(n)).map(n => path.join(dir, n))
  // Pods first, by the host's own Podman (frees their locks, network allocations and mounts).
  for (const hostDir of hostDirs) {
    if (!existsSync(podmanDb(hostDir))) continue
    const env = { ...process.env, ...hostEnvVars(hostDir) }
    const nsPath = path.join(NETNS_DIR, `${tag}-${path.basename(hostDir)}`)
    const prefix = existsSync(nsPath) ? ['nsenter', `--net=${nsPath}`, '--'] : []
    for (const args of [
      ['pod', 'rm', '-a', '-f', '-t', '0'],
      ['rm', '-a', '-f', '-t', '0']
    ]) {
      const cmd = [...prefix, 'podman', ...args]
      spawnSync(cmd[0]!, cmd.slice(1), { env, stdio: 'ignore', timeout: 60_000 })
    }
  }
  const inodes = new Set(names.map(n => nsInode(path.join(NETNS_DIR, n))).filter(i => i > 0))
  if (!killNamespacesSync(inodes)) problems.push(`processes left: ${namespaceProcesses(inodes).join(' ')}`)
  for (const hostDir of hostDirs) {
    const marker = path.join(hostDir, 'user-manager.cgroup')
    if (!existsSync(marker)) continue
    // Its exit status says nothing here: it exits 1 when the cgroup is already gone (the
    // manager's own stop removed it). The e2e test checks that no cgroup is left.
    const cgroup = readFileSync(marker, 'utf8').trim()
    spawnSync('bash', [USER_MANAGER, 'cleanup', cgroup], { stdio: 'ignore', timeout: 30_000 })
  }
  // Host namespaces first: their eth0 goes with them, and so does its veth end in the switch.
  // -force: go on past one that a concurrent cleanup removed first.
  const ordered = names.sort((a, b) => (a.endsWith('-sw') ? 1 : 0) - (b.endsWith('-sw') ? 1 : 0))
  if (ordered.length > 0) {
    const input = ordered.map(n => `netns del ${n}`).join('\n') + '\n'
    spawnSync('ip', ['-force', '-batch', '-'], { input, stdio: ['pipe', 'ignore', 'ignore'] })
  }
  for (const n of ordered) if (existsSync(path.join(NETNS_DIR, n))) problems.push(`netns ${n} not removed`)
  for (const mount of mountsUnder(dir)) spawnSync('umount', ['-l', mount], { stdio: 'ignore' })
  try {
    rmSync(dir, { recursive: true, force: true })
  } catch (err) {
    problems.push(`${dir}: ${String(err)}`)
  }
  return problems
}

/** The Podman part of a host's env, rebuilt from its directory (a sweep has no env object). */
function hostEnvVars(hostDir: string): Record<string, string> {
  return { CONTAINERS_CONF, CONTAINERS_STORAGE_CONF: path.join(hostDir, 'containers/storage.conf') }
}

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR)
  } catch {
    return []
  }
}

/** Mount points at or under DIR (deepest first), from this process's mountinfo. */
export function mountsUnder(dir: string): string[] {
  const unescapeOctal = (s: string): string =>
    s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map(l => unescapeOctal(l.split(' ')[4] ?? ''))
    .filter(m => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
}

const TAG_RE = new RegExp(`^(${PREFIX}-(\\d+)-\\d+)(?:-|$)`)

/** Runs of dead processes: namespaces and directories named TAG whose owner is gone. */
export function staleRuns(): string[] {
  const tags = new Set<string>()
  for (const n of [...listNetns(), ...readdirSync(STATE_ROOT)]) {
    const m = TAG_RE.exec(n)
    if (m !== null) tags.add(m[1]!)
  }
  return [...tags].filter(tag => !ownerAlive(tag))
}

export function sweepStaleRuns(): void {
  for (const tag of staleRuns()) cleanupRun(tag)
}

function ownerAlive(tag: string): boolean {
  const pid = Number(TAG_RE.exec(tag)![2])
  if (pid === process.pid) return live.has(tag)
  const start = startTime(pid)
  if (start === undefined) return false
  try {
    const owner = JSON.parse(readFileSync(path.join(STATE_ROOT, tag, 'owner'), 'utf8')) as { start?: string }
    return owner.start === start
  } catch {
    // No owner file: a run still being created, or one whose teardown died half-way while its
    // pid lives on. Left alone: only runs of dead processes are ever touched.
    return true
  }
}

/** A process's start time (clock ticks since boot, /proc/PID/stat field 22): tells a reused pid apart. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[0] === 'Z' ? undefined : fields[19]
  } catch {
    return undefined
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const tag of live.keys()) cleanupRun(tag)
  })
}

/**
 * A detached shell blocked on a pipe from this process: when the pipe closes (this process ended,
 * however: SIGKILL included) and the run's directory is still there, it runs the cleanup.
 */
function spawnReaper(tag: string, dir: string): ChildProcess {
  const script = 'cat >/dev/null; [ -d "$1" ] || exit 0; exec "$2" --import tsx "$3" "$4"'
  const reaper = spawn('bash', ['-c', script, 'fleet-reaper', dir, process.execPath, REAPER, tag], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore']
  })
  reaper.unref()
  ;(reaper.stdin as unknown as net.Socket).unref()
  return reaper
}
