import path from 'node:path'
import type { Ctx } from '../../context.js'
import type { ClusterCtx, DaemonTask } from '../../cluster/index.js'
import { clusterContext } from '../../cluster/index.js'
import {
  MAX_FUNCTION_BODY_BYTES,
  SYNC_STATUS_FILE,
  runServiceBuiltin,
  serviceSyncTask,
  type ServiceBuiltinName,
  type SyncOptions
} from '../../fleet/index.js'
import { outcomeFailed, reconcile, renderOutcome, systemContext, type SystemCtx } from '../../reconcile/index.js'
import { stopService } from './lifecycle.js'
import { readBody } from '../stdin.js'

// The fleet daemon's service sync task, given what only the CLI may combine: reconcile (of
// conductor/reconcile) limited to the services that changed.

export async function syncTask(
  ctx: Ctx,
  cc: ClusterCtx,
  log: (msg: string) => void,
  more: Partial<Pick<SyncOptions, 'reconcile' | 'schedule' | 'unschedule'>> = {}
): Promise<DaemonTask> {
  const sctx = await systemContext(ctx)
  return serviceSyncTask({
    cc,
    servicesDir: ctx.roots.services,
    libDir: ctx.roots.lib,
    statusFile: path.join(ctx.roots.run, SYNC_STATUS_FILE),
    reconcile: reconcileOnly(sctx, log),
    ...more
  })
}

export function reconcileOnly(sctx: SystemCtx, log: (msg: string) => void): (names: string[]) => Promise<boolean> {
  return async names => {
    try {
      const outcome = await withReloadLockRetry(async () => await reconcile(sctx, { only: new Set(names) }))
      if (outcome.plan.length > 0 || outcomeFailed(outcome)) {
        log(`reconcile ${names.join(', ')}:\n${renderOutcome(outcome).trimEnd()}`)
      }
      return !outcomeFailed(outcome)
    } catch (err) {
      log(`reconcile ${names.join(', ')}: ${(err as Error).message}`)
      return false
    }
  }
}

/** An operator's `conductor reload` holds the lock for a moment: wait for it (10 s at most) rather than skip. */
export async function withReloadLockRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn()
    } catch (err) {
      if ((err as { code?: string }).code !== 'CND_RELOAD_LOCKED' || i >= 20) throw err
      await new Promise(resolve => setTimeout(resolve, 500))
    }
  }
}

/** A service function as a CGI program: the body read whole (bounded), the answer on stdout. */
export async function runServiceFunction(
  ctx: Ctx,
  name: ServiceBuiltinName,
  log: (msg: string) => void
): Promise<void> {
  const length = Number(ctx.env.CONTENT_LENGTH ?? '0')
  let answer: { status: number; body: unknown }
  if (length > MAX_FUNCTION_BODY_BYTES) {
    answer = {
      status: 413,
      body: { error: 'CND_FLEET_ARCHIVE_TOO_LARGE', message: `body over ${MAX_FUNCTION_BODY_BYTES} bytes` }
    }
  } else {
    const body = await readBody(length)
    const sctx = await systemContext(ctx)
    answer = await runServiceBuiltin(
      {
        cc: await clusterContext(ctx, log),
        servicesDir: ctx.roots.services,
        libDir: ctx.roots.lib,
        reconcile: reconcileOnly(sctx, log),
        stop: async service => !outcomeFailed(await stopService(sctx, service))
      },
      name,
      {
        method: ctx.env.REQUEST_METHOD ?? 'GET',
        query: new URLSearchParams(ctx.env.QUERY_STRING ?? ''),
        body,
        env: ctx.env
      }
    )
  }
  const text = JSON.stringify(answer.body) + '\n'
  process.stdout.write(
    `Status: ${answer.status}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`
  )
}
