// The `origin` matcher: a list of serialised origins (RFC 6454 `scheme://host[:port]`, what
// browsers send in the Origin header), each exact or with a wildcard for one subdomain label.
//
// `https://*.example.org` matches `https://a.example.org` and nothing else of that family: not
// `https://example.org` (list it too if wanted), not `https://a.b.example.org` (one label, as a
// TLS certificate wildcard), not another port (`https://a.example.org:8443` needs
// `https://*.example.org:8443`), and never `https://evil-example.org` (the label is followed by
// the dot). The `*` stands for a whole first label only, and at least two labels follow it:
// `https://*.org` would let any .org site in.

/** An origin list compiled once per load: exact origins, and wildcard patterns as prefix + suffix. */
export interface OriginMatcher {
  exact: ReadonlySet<string>
  /** `https://*.example.org:8443` -> { prefix: 'https://', suffix: '.example.org:8443' } */
  wildcards: ReadonlyArray<{ prefix: string; suffix: string }>
}

const ORIGIN_RE = /^https?:\/\/[^/\s]+$/
const WILDCARD_RE = /^(https?:\/\/)\*((?:\.[A-Za-z0-9_-]+)+(?::\d{1,5})?)$/
/** One DNS label (letters, digits, - and _), as the matched part of an origin must be. */
const LABEL_RE = /^[a-z0-9_-]{1,63}$/

/** Why `origin` cannot be an entry of an `origin` list, or undefined when it can. */
export function originProblem(origin: string): string | undefined {
  if (!ORIGIN_RE.test(origin)) return 'must be an origin like "https://example.org" (scheme://host[:port], no path)'
  if (!origin.includes('*')) return undefined
  const m = WILDCARD_RE.exec(origin)
  if (m === null) {
    return 'a wildcard stands for the whole first label only: "https://*.example.org" (one label, not "a.b")'
  }
  if (m[2]!.replace(/:\d+$/, '').split('.').length - 1 < 2) {
    return `"*${m[2]!}" is too wide: at least two labels after "*." (e.g. "https://*.example.org")`
  }
  return undefined
}

/** Compiles a validated list (lower-cased: hosts are case-insensitive and decide() lower-cases the header). */
export function compileOrigins(list: readonly string[]): OriginMatcher {
  const exact = new Set<string>()
  const wildcards: Array<{ prefix: string; suffix: string }> = []
  for (const o of list.map(s => s.toLowerCase())) {
    const m = WILDCARD_RE.exec(o)
    if (m === null) exact.add(o)
    else wildcards.push({ prefix: m[1]!, suffix: m[2]! })
  }
  return { exact, wildcards }
}

/** Whether a (lower-cased) Origin header value matches. */
export function originMatches(m: OriginMatcher, origin: string): boolean {
  if (m.exact.has(origin)) return true
  for (const w of m.wildcards) {
    if (origin.length <= w.prefix.length + w.suffix.length) continue
    if (!origin.startsWith(w.prefix) || !origin.endsWith(w.suffix)) continue
    if (LABEL_RE.test(origin.slice(w.prefix.length, origin.length - w.suffix.length))) return true
  }
  return false
}
