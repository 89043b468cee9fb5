import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

// Service directories of a given size for the config sync benchmarks (issue 18: 1 MiB and
// 20 MiB). Half the bytes in 256 KiB "assets", half in 4 KiB configs and templates spread over
// 8 directories, plus a valid conductor-service.json with an executable pod template. The bytes
// come from a seeded generator: the same size gives the same tree, hence the same digest, on
// every host and run; they are random, so compression in transit gains nothing (the worst case).

const BIG = 256 * 1024
const SMALL = 4 * 1024

/** Writes the tree into `dir` (created) and returns the number of files written. */
export function makeServiceDir(dir: string, totalBytes: number, seed = 1): number {
  const next = prng(seed)
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i += 4) b.writeUInt32LE(Math.floor(next() * 2 ** 32), i)
    return b
  }
  const write = (rel: string, content: Buffer | string, mode = 0o644): void => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true })
    writeFileSync(path.join(dir, rel), content, { mode })
  }
  write('conductor-service.json', JSON.stringify({ pods: [{ pod_template: './pod.sh' }] }, null, 2))
  write('pod.sh', '#!/bin/sh\necho "apiVersion: v1"\n', 0o755)
  const bigCount = Math.max(1, Math.floor(totalBytes / 2 / BIG))
  const smallCount = Math.max(1, Math.floor(totalBytes / 2 / SMALL))
  for (let i = 0; i < bigCount; i++) write(`assets/blob-${i}.bin`, bytes(BIG))
  for (let i = 0; i < smallCount; i++) write(`conf/d${i % 8}/file-${i}.conf`, bytes(SMALL))
  return 2 + bigCount + smallCount
}

// mulberry32, as bench/scheduler: a seed, the same sequence everywhere.
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let r = Math.imul(a ^ (a >>> 15), a | 1)
    r ^= r + Math.imul(r ^ (r >>> 7), r | 61)
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296
  }
}
