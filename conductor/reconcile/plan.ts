import { replicaOf, type DeploymentState } from '../state/index.js'
import type { SnippetRecord } from '../proxy/index.js'
import { deploymentUnit, serviceUnit } from '../model/index.js'

// The reconcile planner: desired state (services) vs observed state (recorded deployments,
// systemd units) -> actions. Pure: no I/O, no clock, so every rule below is tested with plain
// objects (STYLE habit 2); applyPlan does the I/O.
//
// Rules:
// - an enabled, valid service has its service unit active and, for each pod part, one running
//   deployment whose hash matches the service's current hash (config + template contents), or
//   one per replica index 0..N-1 when the part declares `replicas: N`; a replica index above
//   N-1 is removed (scale down), a missing one created (scale up), the others left alone;
// - a matching deployment that should run but whose unit is not active is started again
//   (recovery after a crash, a reboot or a kill -9 in the middle of a reload);
// - a part without a matching deployment gets a new one; deployments with an old hash are
//   removed *after* the new ones started (replace = start new, then stop old);
// - a deployment the operator stopped (`deployment stop`) with the current hash is left alone;
// - deployments and units of services that are gone or disabled are removed;
// - a broken service is left exactly as it runs (no action touches it);
// - an active deployment unit with no record, and deployment directories without state, are
//   cleaned up;
// - a failed deployment unit with no record is reported and its failure reset: a deploy removes
//   the old deployment's record while systemd still stops its unit (`systemctl stop
//   --no-block`), so a stop that failed shows up here (and in `deployment ls` until then).
// - a pod carrying this Conductor root's mark that no active unit and no running record own (a
//   crash left it) is removed; a pod without the mark is never touched (operators run their
//   own); a recorded running deployment whose unit is active but whose pod is gone is restarted.

export interface DesiredService {
  name: string
  hash: string
  parts: string[]
  /** Replica counts of the parts that declare one other than 1 (pods[].replicas). */
  replicas?: Record<string, number>
}

export interface Desired {
  services: DesiredService[]
  /** Services present but disabled: stopped, with their hooks (they still load). */
  disabled: string[]
  /** Services that failed to load: not touched. */
  broken: string[]
}

/**
 * What the host holds, read once per reconcile (apply.ts observe) and kept current by the apply
 * (a created deployment is added, a removed one dropped, snippet records as they are written),
 * so the Caddy step after it reads this, not the disk again.
 */
export interface Observed {
  records: DeploymentState[]
  strays: string[]
  /** Active (or activating) units by name. */
  activeUnits: Set<string>
  /** Units in the "failed" state by name. */
  failedUnits?: ReadonlySet<string>
  /** Snippet records by owner: `deployment@ID` means its routes are (being) registered in Caddy. */
  snippets: Map<string, SnippetRecord>
  /**
   * Pods carrying this Conductor root's mark (host/pod-mark.ts), with the deployment it names
   * (no other pod is even listed). Undefined when Podman could not be asked: no rule on pods applies.
   */
  pods?: ObservedPod[] | undefined
  /** Units still activating (a subset of activeUnits): a pod of theirs may not exist yet. */
  activatingUnits?: Set<string> | undefined
}

export interface ObservedPod {
  name: string
  /** The deployment this root's mark names (a pod without the mark is never touched). */
  deployment?: string | undefined
}

export type Action =
  | { kind: 'start-service'; service: string }
  | { kind: 'create-deployment'; service: string; part: string; reason: string; replica?: number }
  | { kind: 'start-deployment'; service: string; id: string; reason: string; restart?: true }
  | { kind: 'remove-deployment'; service: string; id: string; reason: string }
  | { kind: 'stop-service'; service: string }
  | { kind: 'stop-unit'; unit: string; reason: string }
  | { kind: 'reset-failed-unit'; unit: string; reason: string }
  | { kind: 'remove-stray'; id: string }
  | { kind: 'remove-pod'; pod: string; id: string; reason: string }

export interface PlanOptions {
  /** Services whose deployments are replaced even when unchanged (`service restart`). */
  forceReplace?: ReadonlySet<string>
  /** Only these services are planned (`service start|stop|restart NAME`); strays are left. */
  only?: ReadonlySet<string>
}

export function planReconcile(desired: Desired, observed: Observed, opts: PlanOptions = {}): Action[] {
  const inScope = (s: string): boolean => opts.only === undefined || opts.only.has(s)
  const starts: Action[] = []
  const creates: Action[] = []
  const removes: Action[] = []
  const stops: Action[] = []
  const wanted = new Map(desired.services.map(s => [s.name, s]))
  const broken = new Set(desired.broken)
  const byService = groupBy(observed.records, r => r.service)

  for (const svc of desired.services) {
    if (!inScope(svc.name)) continue
    if (!observed.activeUnits.has(serviceUnit(svc.name))) starts.push({ kind: 'start-service', service: svc.name })
    const records = byService.get(svc.name) ?? []
    const force = opts.forceReplace?.has(svc.name) === true
    for (const part of svc.parts) {
      const count = svc.replicas?.[part] ?? 1
      const current = records.filter(r => r.part === part && r.hash === svc.hash && !force)
      for (let replica = 0; replica < count; replica++) {
        const mine = current.filter(r => replicaOf(r) === replica)
        const running = mine.filter(r => r.desired === 'running').sort(newestFirst)
        if (running.length > 1) {
          // A deploy interrupted between starting the new deployment and stopping the old one
          // (kill -9, reboot) leaves two. Keep the newest one whose routes were registered: the
          // deploy only registers a deployment that passed readiness, and after it deregistered
          // the old one the new one is all Caddy knows. None registered (no proxy template, or
          // killed before registering): keep the oldest, which served before the deploy began.
          // With replicas, the same per replica index (a deploy replaces index i by index i).
          const keep = running.find(r => observed.snippets.has(`deployment@${r.id}`)) ?? running.at(-1)!
          if (!observed.activeUnits.has(deploymentUnit(keep.id)))
            creates.push({
              kind: 'start-deployment',
              service: svc.name,
              id: keep.id,
              reason: 'recorded as running but its unit is not active'
            })
          for (const r of running)
            if (r !== keep)
              removes.push({
                kind: 'remove-deployment',
                service: svc.name,
                id: r.id,
                reason: `interrupted deploy, ${keep.id} kept`
              })
        } else if (running.length === 1) {
          const r = running[0]!
          if (!observed.activeUnits.has(deploymentUnit(r.id)))
            creates.push({
              kind: 'start-deployment',
              service: svc.name,
              id: r.id,
              reason: 'recorded as running but its unit is not active'
            })
          else if (podGone(r, observed)) {
            const reason = 'its unit is active but its pod is gone'
            creates.push({ kind: 'start-deployment', service: svc.name, id: r.id, reason, restart: true })
          }
        } else if (mine.length === 0) {
          const old = records.some(r => r.part === part && replicaOf(r) === replica)
          const reason = force
            ? 'restart'
            : old
              ? 'config or templates changed'
              : current.length > 0
                ? `scaled up to ${count} replicas`
                : 'new'
          const create: Action = { kind: 'create-deployment', service: svc.name, part, reason }
          creates.push(replica === 0 ? create : { ...create, replica })
        }
      }
      // Fewer replicas declared: the highest indexes go (after the creations, as replacements).
      for (const r of current)
        if (replicaOf(r) >= count)
          removes.push({
            kind: 'remove-deployment',
            service: svc.name,
            id: r.id,
            reason: `scaled down to ${count} replica${count === 1 ? '' : 's'}`
          })
      for (const r of records) {
        if (r.part === part && (r.hash !== svc.hash || force))
          removes.push({
            kind: 'remove-deployment',
            service: svc.name,
            id: r.id,
            reason: force ? 'restart' : 'replaced'
          })
      }
    }
    for (const r of records) {
      if (!svc.parts.includes(r.part))
        removes.push({
          kind: 'remove-deployment',
          service: svc.name,
          id: r.id,
          reason: `pod part "${r.part}" no longer declared`
        })
    }
  }

  // Services that should not run: disabled ones, and recorded ones that are gone.
  const gone = new Set<string>([...desired.disabled, ...byService.keys()].filter(s => !wanted.has(s) && !broken.has(s)))
  for (const s of [...gone].sort()) {
    if (!inScope(s)) continue
    for (const r of byService.get(s) ?? [])
      removes.push({
        kind: 'remove-deployment',
        service: s,
        id: r.id,
        reason: desired.disabled.includes(s) ? 'service disabled' : 'service removed'
      })
  }
  for (const unit of [...observed.activeUnits].sort()) {
    const svc = /^conductor-service@(.+)\.service$/.exec(unit)?.[1]
    if (svc !== undefined && !wanted.has(svc) && !broken.has(svc) && inScope(svc))
      stops.push({ kind: 'stop-service', service: svc })
  }

  if (opts.only === undefined) {
    const known = new Set(observed.records.map(r => r.id))
    for (const unit of [...observed.activeUnits].sort()) {
      const id = /^conductor-deployment@(.+)\.service$/.exec(unit)?.[1]
      if (id !== undefined && !known.has(id) && !ownedByBroken(id, broken))
        stops.push({ kind: 'stop-unit', unit, reason: 'no recorded deployment' })
    }
    for (const unit of [...(observed.failedUnits ?? [])].sort()) {
      const id = /^conductor-deployment@(.+)\.service$/.exec(unit)?.[1]
      if (id !== undefined && !known.has(id) && !ownedByBroken(id, broken)) {
        const reason = `the stop of a removed deployment failed: see journalctl -u ${unit}`
        stops.push({ kind: 'reset-failed-unit', unit, reason })
      }
    }
    for (const id of observed.strays) if (!ownedByBroken(id, broken)) stops.push({ kind: 'remove-stray', id })
    stops.push(...orphanPods(observed, removes, broken))
  }
  return [...starts, ...creates, ...removes, ...stops]
}

/**
 * Pods of ours that nothing manages any more (a crash left them): carrying this root's mark,
 * their unit not active, and no record that wants them running (none, stopped, or removed by
 * this plan; a recorded running deployment is started again instead, and `kube play --replace`
 * takes its pod over). A pod whose unit is active is its unit's to stop.
 */
function orphanPods(observed: Observed, removes: Action[], broken: ReadonlySet<string>): Action[] {
  if (observed.pods === undefined) return []
  const records = new Map(observed.records.map(r => [r.id, r]))
  const removed = new Set(removes.map(a => (a.kind === 'remove-deployment' ? a.id : '')))
  const out: Action[] = []
  for (const pod of [...observed.pods].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const id = pod.deployment
    if (id === undefined || ownedByBroken(id, broken) || observed.activeUnits.has(deploymentUnit(id))) continue
    const rec = records.get(id)
    if (rec !== undefined && rec.desired === 'running' && !removed.has(id)) continue
    const reason =
      rec === undefined
        ? 'no deployment record'
        : removed.has(id)
          ? 'its deployment is removed'
          : 'its deployment is stopped'
    out.push({ kind: 'remove-pod', pod: pod.name, id, reason })
  }
  return out
}

/**
 * A marked deployment whose unit is active (not still activating) while Podman has no marked pod
 * of its name. Deployments made before the mark are not judged: their pods are not listed.
 */
function podGone(r: DeploymentState, observed: Observed): boolean {
  if (observed.pods === undefined || r.marked !== true) return false
  if (observed.activatingUnits?.has(deploymentUnit(r.id)) === true) return false
  return !observed.pods.some(p => p.name === r.id)
}

/** One line per action, for `reload` output and --dry-run. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'start-service':
      return `start service ${a.service}`
    case 'create-deployment':
      return `create deployment of ${a.service}${a.part === '' ? '' : ` part ${a.part}`}${a.replica === undefined ? '' : ` replica ${a.replica}`} (${a.reason})`
    case 'start-deployment':
      return `start deployment ${a.id} (${a.reason})`
    case 'remove-deployment':
      return `remove deployment ${a.id} (${a.reason})`
    case 'stop-service':
      return `stop service ${a.service}`
    case 'stop-unit':
      return `stop ${a.unit} (${a.reason})`
    case 'reset-failed-unit':
      return `reset failed ${a.unit} (${a.reason})`
    case 'remove-stray':
      return `remove interrupted deployment directory ${a.id}`
    case 'remove-pod':
      return `remove orphaned pod ${a.pod} (${a.reason})`
  }
}

function ownedByBroken(id: string, broken: ReadonlySet<string>): boolean {
  for (const b of broken) if (id.startsWith(b + '-')) return true
  return false
}

function newestFirst(a: DeploymentState, b: DeploymentState): number {
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>()
  for (const x of xs) {
    const k = key(x)
    const list = m.get(k)
    if (list === undefined) m.set(k, [x])
    else list.push(x)
  }
  return m
}
