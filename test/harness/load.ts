// Load through Caddy for the deploy e2e tests (deploy.test.ts, replicas*.test.ts): LOOPS loops of
// GETs of URL, each on a fresh connection (Caddy closes idle keep-alive connections when its
// config changes, README "Zero-downtime deploys"), nothing retried, every failure kept: a
// connection reset is a failed request. Bounded by stop(), which waits for the loops to end.

export interface LoadResult {
  ok: number
  failed: string[]
  /** The distinct bodies of the 200 answers, trimmed and sorted. */
  versions: string[]
}

export function loadThroughCaddy(url: string, loops: number): { stop: () => Promise<LoadResult> } {
  let stopped = false
  const answers = { ok: 0, failed: [] as string[], versions: new Set<string>() }
  const loop = async (): Promise<void> => {
    while (!stopped) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000), headers: { connection: 'close' } })
        const text = await res.text()
        if (res.status === 200) {
          answers.ok++
          answers.versions.add(text.trim())
        } else answers.failed.push(`${res.status} ${text.slice(0, 80)}`)
      } catch (err) {
        answers.failed.push(`${String(err)} ${String((err as Error).cause ?? '')}`)
      }
    }
  }
  const running = Array.from({ length: loops }, loop)
  return {
    stop: async () => {
      stopped = true
      await Promise.all(running)
      return { ok: answers.ok, failed: answers.failed, versions: [...answers.versions].sort() }
    }
  }
}
