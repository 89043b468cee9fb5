import net from 'node:net'
import { runBounded } from '../process/index.js'

// Readiness of a new deployment before Caddy sends it traffic (issue 8). Kamal polls once a
// second; we poll every interval_ms (default 200 ms) so the switch happens soon after the
// application is up. Until the first success the pauses start short and double up to
// interval_ms (20, 40, 80, 160, 200 ms...): an application up within moments of its pod is
// seen then, not a whole interval later (issue 15: deploy of a pod ready at once <= 2 s).
// Pure of Conductor state: the caller resolves ports and variables.

export type ReadinessCheck =
  | { kind: 'http'; url: string }
  | { kind: 'exec'; argv: string[]; cwd: string; env: Record<string, string> }
  | { kind: 'tcp'; host: string; port: number }

export interface ReadinessOptions {
  intervalMs: number
  timeoutMs: number
  /** Consecutive successes needed. */
  successes: number
  /** Time limit of one probe. */
  probeTimeoutMs?: number
  signal?: AbortSignal
  onProbe?: (result: ProbeResult) => void
}

export interface ProbeResult {
  ok: boolean
  detail: string
  durationMs: number
}
export interface ReadinessResult {
  ready: boolean
  probes: number
  elapsedMs: number
  last: ProbeResult | undefined
}

export const READINESS_DEFAULTS = { intervalMs: 200, timeoutMs: 60_000, successes: 1, probeTimeoutMs: 2_000 } as const
/** The first pause between probes while none succeeded yet; it doubles up to interval_ms. */
export const FIRST_PAUSE_MS = 20

/** The pause after `failures` failed probes in a row and no success yet (ever), in ms. */
export function pauseBeforeProbe(intervalMs: number, failures: number, succeededOnce: boolean): number {
  if (succeededOnce) return intervalMs
  return Math.min(intervalMs, FIRST_PAUSE_MS * 2 ** Math.max(0, failures - 1))
}

export async function waitReady(check: ReadinessCheck, opts: ReadinessOptions): Promise<ReadinessResult> {
  const started = performance.now()
  let streak = 0
  let probes = 0
  let last: ProbeResult | undefined
  let succeededOnce = false
  while (opts.signal?.aborted !== true) {
    last = await probe(check, opts.probeTimeoutMs ?? READINESS_DEFAULTS.probeTimeoutMs)
    probes++
    opts.onProbe?.(last)
    streak = last.ok ? streak + 1 : 0
    succeededOnce ||= last.ok
    if (streak >= opts.successes) return { ready: true, probes, elapsedMs: performance.now() - started, last }
    const pause = pauseBeforeProbe(opts.intervalMs, probes, succeededOnce)
    if (performance.now() - started + pause > opts.timeoutMs) break
    await new Promise(resolve => setTimeout(resolve, pause))
  }
  return { ready: false, probes, elapsedMs: performance.now() - started, last }
}

export async function probe(check: ReadinessCheck, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now()
  const done = (ok: boolean, detail: string): ProbeResult => ({ ok, detail, durationMs: performance.now() - started })
  switch (check.kind) {
    case 'http':
      try {
        const res = await fetch(check.url, {
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'manual',
          headers: { 'user-agent': 'conductor-readiness' }
        })
        const body = (await res.text()).slice(0, 200)
        return done(
          res.status >= 200 && res.status < 400,
          `GET ${check.url} -> ${res.status}${body.trim() !== '' ? ': ' + body.trim() : ''}`
        )
      } catch (err) {
        return done(false, `GET ${check.url} -> ${describe(err)}`)
      }
    case 'tcp':
      return await new Promise(resolve => {
        const socket = net.connect({ host: check.host, port: check.port })
        const finish = (ok: boolean, detail: string): void => {
          socket.destroy()
          resolve(done(ok, detail))
        }
        socket.setTimeout(timeoutMs, () => finish(false, `connect ${check.host}:${check.port} -> timeout`))
        socket.once('connect', () => finish(true, `connect ${check.host}:${check.port} -> open`))
        socket.once('error', err => finish(false, `connect ${check.host}:${check.port} -> ${describe(err)}`))
      })
    case 'exec': {
      const r = await runBounded({
        file: check.argv[0]!,
        args: check.argv.slice(1),
        cwd: check.cwd,
        env: check.env,
        timeoutMs,
        maxOutputBytes: 64 * 1024,
        stderrTailBytes: 1024
      })
      const output = (r.stdout + r.stderrTail).trim().slice(-500)
      const status = r.timedOut ? 'timed out' : (r.spawnError ?? `exit ${String(r.exitCode ?? r.signal)}`)
      return done(r.exitCode === 0, `${check.argv.join(' ')} -> ${status}${output !== '' ? ': ' + output : ''}`)
    }
  }
}

function describe(err: unknown): string {
  const e = err as { cause?: { code?: string }; code?: string | number; name?: string; message?: string }
  // AbortSignal.timeout() rejects with a DOMException whose numeric code (23) says nothing.
  if (e.name === 'TimeoutError') return 'timeout'
  return e.cause?.code ?? (typeof e.code === 'string' ? e.code : (e.message ?? String(err)))
}
