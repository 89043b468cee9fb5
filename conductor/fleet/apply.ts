import { readlink, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import {
  MAX_ARCHIVE_BYTES,
  installServiceVersion,
  rollbackServiceVersion,
  serviceVersions,
  unpackServiceArchive,
  versionsDir
} from '../archive/index.js'
import { FleetArchiveInvalid, FleetArchiveTooLarge } from '../../errors/index.js'
import { SERVICE_FILE_NAME, resolveService, type Service } from '../model/index.js'
import type { ServiceRecord } from './record.js'

// One host converging one service to its record (issue 18 item 4): nothing is written before
// the archive passed every check (digest, entries, the service loader); the new version is
// unpacked beside the services directory and switched in by rename (conductor/archive); the
// version it replaces is kept for rollback.

export type ApplyOutcome = 'installed' | 'rolled-back' | 'unchanged' | 'removed' | 'absent'

export interface Applied {
  outcome: ApplyOutcome
  /** The service as now installed (undefined when removed). */
  service?: Service
  /** Installed where no version of it was before: nothing of it can be running here yet. */
  fresh?: boolean
}

export interface ApplyDeps {
  servicesDir: string
  /** The archive of a version (null: the object is gone). */
  fetch: (record: ServiceRecord) => Promise<Buffer | null>
  /** Fault tests pause at a step to be killed. */
  onStep?: (step: string) => void | Promise<void>
}

export async function applyRecord(d: ApplyDeps, record: ServiceRecord): Promise<Applied> {
  const name = record.service
  const local = await serviceVersions(d.servicesDir, name)
  let outcome: ApplyOutcome = 'unchanged'
  if (local.current !== record.version) {
    if (local.managed && local.previous === record.version && local.kept.includes(record.version)) {
      // A fleet rollback: the version is still on disk, switching back is one rename.
      await rollbackServiceVersion(d.servicesDir, name)
      outcome = 'rolled-back'
    } else {
      if (record.size > MAX_ARCHIVE_BYTES) {
        // Refused before fetching: a record announcing more than the limit is not worth the transfer.
        throw new FleetArchiveTooLarge(`${record.size} bytes, over the ${MAX_ARCHIVE_BYTES}-byte archive limit`, name)
      }
      const archive = await d.fetch(record)
      if (archive === null) {
        throw new FleetArchiveInvalid(
          `the object ${record.object} of version ${record.version} is not in the bucket ` +
            '(removed by a later push?): the previous version stays',
          name
        )
      }
      const unpacked = await unpackServiceArchive(archive, {
        name,
        expectedDigest: record.digest,
        into: versionsDir(d.servicesDir),
        onStep: d.onStep
      })
      await d.onStep?.('install')
      await installServiceVersion(d.servicesDir, name, unpacked.dir, record.version, { onStep: d.onStep })
      outcome = 'installed'
    }
  }
  return {
    outcome,
    service: await resolveService(name, path.join(d.servicesDir, name, SERVICE_FILE_NAME)),
    fresh: outcome === 'installed' && local.current === undefined
  }
}

/** The service left the fleet: its link and its versions go (renamed aside first: never half a tree). */
export async function removeInstalled(servicesDir: string, name: string): Promise<Applied> {
  const link = path.join(servicesDir, name)
  const ours = await readlink(link).then(
    t => t.startsWith(`${path.basename(versionsDir(servicesDir))}/`),
    () => false
  )
  if (!ours) return { outcome: 'absent' }
  await rm(link, { force: true })
  const dir = path.join(versionsDir(servicesDir), name)
  const trash = path.join(versionsDir(servicesDir), `.unpack-${process.pid}-rm-${name}`)
  await rename(dir, trash).catch(() => {})
  await rm(trash, { recursive: true, force: true })
  return { outcome: 'removed' }
}
