import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  installServiceVersion,
  packServiceDir,
  unpackServiceArchive,
  versionsDir
} from '../../conductor/archive/index.js'
import { makeServiceDir } from './service-dir.js'

// Pack, unpack (digest, entry checks, writing, validation with the service loader) and install
// (rename, symlink switch, pruning) of a 1 MiB and a 20 MiB service directory, the sizes of the
// issue 18 sync benchmark. One warm-up round (node-tar and zod load once), then RUNS rounds.
// Prints a markdown table. RUNS=10 bench/fleet-archive/run.sh

const RUNS = Number(process.env.RUNS ?? 10)
const SIZES = [1, 20]

const root = mkdtempSync(path.join(os.tmpdir(), 'conductor-bench-archive-'))
try {
  const rows: string[] = []
  for (const mib of SIZES) {
    const src = path.join(root, `src-${mib}`)
    const files = makeServiceDir(src, mib * 1024 * 1024)
    const services = path.join(root, `services-${mib}`)
    const times = { pack: [] as number[], unpack: [] as number[], install: [] as number[] }
    let archiveBytes = 0
    for (let run = 0; run <= RUNS; run++) {
      let t0 = performance.now()
      const packed = await packServiceDir(src)
      const pack = performance.now() - t0
      archiveBytes = packed.archive.length
      t0 = performance.now()
      const u = await unpackServiceArchive(packed.archive, {
        name: 'bench',
        expectedDigest: packed.digest,
        into: versionsDir(services)
      })
      const unpack = performance.now() - t0
      t0 = performance.now()
      await installServiceVersion(services, 'bench', u.dir, `v${run}`)
      const install = performance.now() - t0
      if (run === 0) continue
      times.pack.push(pack)
      times.unpack.push(unpack)
      times.install.push(install)
    }
    const cell = (xs: number[]): string => `${ms(median(xs))} (${ms(Math.min(...xs))}–${ms(Math.max(...xs))})`
    rows.push(
      `| ${mib} MiB, ${files} files | ${(archiveBytes / 1024 / 1024).toFixed(2)} MiB | ${cell(times.pack)} | ` +
        `${cell(times.unpack)} | ${cell(times.install)} |`
    )
  }
  console.log(
    `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${RUNS} runs; ` +
      'median (min–max)\n'
  )
  console.log('| service directory | archive | pack | unpack + validate | install |')
  console.log('|---|---:|---:|---:|---:|')
  for (const r of rows) console.log(r)
} finally {
  rmSync(root, { recursive: true, force: true })
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
}
function ms(x: number): string {
  return `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`
}
