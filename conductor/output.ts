// Plain-text tables and JSON output. Tables go to stdout; diagnostics go to stderr so that
// `conductor service ls | awk ...` never sees a warning.

export interface Io {
  out: (text: string) => void
  err: (text: string) => void
}

export const processIo: Io = {
  out: text => {
    process.stdout.write(text)
  },
  err: text => {
    process.stderr.write(text)
  }
}

export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

export function renderJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n'
}

/** KEY=VALUE lines, sorted, values quoted only when a shell would need it. */
export function renderEnv(vars: Record<string, string>): string {
  return (
    Object.keys(vars)
      .sort()
      .map(k => `${k}=${shellQuote(vars[k]!)}`)
      .join('\n') + '\n'
  )
}

export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]*$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`
}
