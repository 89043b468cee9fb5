import { bearerCredential, digestEquals, sha256 } from './bearer.js'
import type { CompiledNode, CompiledPolicy } from './compile.js'
import { MAX_CREDENTIAL_BYTES } from './defaults.js'
import { originMatches } from './origin.js'
import { parseJwtHeader, readPayloadHint, type JwtClaims, type ParsedHeader, type PayloadHint } from './jwt.js'

// Decides one request against a compiled policy. Deny by default: only a matched entry that
// grants the requested authorization allows. The decision carries the matched entry's meta
// and authorizations and a reason for logs; it never carries the credential.

export interface AuthRequest {
  /** Authorization the request needs (`/auth?authorization=`); none: any match allows. */
  authorization?: string | undefined
  /** The raw `Authorization` header. */
  credential?: string | undefined
  /** The `Origin` header. */
  origin?: string | undefined
  method?: string | undefined
  uri?: string | undefined
  host?: string | undefined
}

export interface Decision {
  allow: boolean
  /** HTTP status the gateway answers: 200, 401 (no/invalid credential) or 403. */
  status: 200 | 401 | 403
  policy: string
  /** For logs and `conductor policy check`; never contains the token. */
  reason: string
  meta: Readonly<Record<string, string>>
  /** Granted authorizations, sorted. */
  authorizations: readonly string[]
  subject?: string | undefined
  /** JSON pointer of the matched entry (in the policy file that holds it). */
  entry?: string | undefined
  /** WWW-Authenticate value for a 401. */
  challenge?: string | undefined
  /**
   * An allow built on a JWT holds until the token's exp (ms since the epoch), or, for a key of a
   * JWK Set, until that set is due for a refetch (which may remove the key); absent: until the
   * policies change.
   */
  validUntil?: number | undefined
  /**
   * The payload of the JWT the match was built on, as verified (deep-frozen); absent when no
   * JWT took part (static token, `always`, `origin`). Callers that need claims read them here,
   * never by decoding the Authorization header again.
   */
  claims?: JwtClaims | undefined
}

interface Match {
  meta: Record<string, string>
  authz: Record<string, boolean>
  subject?: string | undefined
  /** The subject comes from a pin_subject matcher: a JWT's sub merged later does not replace it. */
  pinned?: boolean | undefined
  narrow?: ReadonlySet<string> | undefined
  validUntil?: number | undefined
  claims?: JwtClaims | undefined
  entry: string
}

interface EvalState {
  cred: ReturnType<typeof bearerCredential>
  digest: Buffer | undefined
  header: ParsedHeader | string | undefined
  /** Unverified payload claims, read once when a JWT entry is first reached; null: unusable. */
  hint: PayloadHint | null | undefined
  /** false: verify every entry (tests compare both ways). */
  useHints: boolean
  origin: string | undefined
  /** First reason a presented credential was refused. */
  refused: string | undefined
  weakRefusal: string | undefined
  /** A bearer clause was evaluated (so a missing credential means 401, not 403). */
  wantsBearer: boolean
}

const REALM = 'Bearer realm="conductor"'

export interface DecideOptions {
  /** Skip JWT entries by the token's unverified iss (default true; false only to compare in tests). */
  hints?: boolean | undefined
}

export async function decide(policy: CompiledPolicy, req: AuthRequest, opts: DecideOptions = {}): Promise<Decision> {
  const st: EvalState = {
    cred: bearerCredential(req.credential, MAX_CREDENTIAL_BYTES),
    digest: undefined,
    header: undefined,
    hint: undefined,
    useHints: opts.hints !== false,
    origin: req.origin?.toLowerCase(),
    refused: undefined,
    weakRefusal: undefined,
    wantsBearer: false
  }
  if ('reason' in st.cred) st.refused = st.cred.reason
  const m = await firstMatch(policy.match, st)
  if (m === null) {
    if ('reason' in st.cred || st.refused !== undefined) {
      return deny(
        policy.name,
        401,
        `credential refused: ${st.refused ?? 'unusable'}`,
        `${REALM}, error="invalid_token"`
      )
    }
    if ('missing' in st.cred && st.wantsBearer) return deny(policy.name, 401, 'no credential', REALM)
    return deny(policy.name, 403, 'no matcher matched')
  }
  const authorizations: string[] = []
  for (const name in m.authz) {
    if (m.authz[name] === true && (m.narrow === undefined || m.narrow.has(name))) authorizations.push(name)
  }
  authorizations.sort()
  const base = {
    policy: policy.name,
    meta: m.meta,
    authorizations,
    subject: m.subject ?? m.meta.subject,
    entry: m.entry,
    validUntil: m.validUntil,
    claims: m.claims
  }
  if (req.authorization !== undefined && !authorizations.includes(req.authorization)) {
    return {
      ...base,
      allow: false,
      status: 403,
      reason: `matched ${m.entry} but it does not grant "${req.authorization}"`
    }
  }
  return { ...base, allow: true, status: 200, reason: `matched ${m.entry}` }
}

function deny(policy: string, status: 401 | 403, reason: string, challenge?: string): Decision {
  return { allow: false, status, policy, reason, meta: {}, authorizations: [], challenge }
}

async function firstMatch(nodes: CompiledNode[], st: EvalState): Promise<Match | null> {
  for (const node of nodes) {
    if (node.skip) continue
    const m = await evalNode(node, st)
    if (m !== null) return m
  }
  return null
}

async function evalNode(node: CompiledNode, st: EvalState): Promise<Match | null> {
  if (!node.hasClause || node.never) return null
  let acc: Match | null = null
  if (node.origin !== undefined && (st.origin === undefined || !originMatches(node.origin, st.origin))) return null
  if (node.all !== undefined) {
    let any = false
    for (const child of node.all) {
      if (child.skip) continue
      const m = await evalNode(child, st)
      if (m === null) return null
      acc = merge(acc, m)
      any = true
    }
    if (!any) return null
  }
  if (node.none !== undefined) {
    for (const child of node.none) {
      if (child.skip) continue
      if ((await evalNode(child, st)) !== null) return null
    }
  }
  if (node.any !== undefined) {
    const m = await firstMatch(node.any, st)
    if (m === null) return null
    acc = merge(acc, m)
  }
  if (node.bearer !== undefined) {
    const m = await evalBearer(node, st)
    if (m === null) return null
    acc = merge(acc, m)
  }
  if (node.policy !== undefined) {
    const target = node.policy.target!
    const m = await firstMatch(target.match, st)
    if (m === null) return null
    acc = merge(acc, node.policy.map === undefined ? m : mapAuthz(m, node.policy.map))
  }
  // Own meta and authorizations: defaults below what matched inside, explicit ones above it.
  const inner = acc ?? { meta: {}, authz: {}, entry: node.path }
  return {
    meta: node.meta === undefined ? inner.meta : { ...node.meta, ...inner.meta },
    authz:
      node.defaults === undefined && node.authz === undefined
        ? inner.authz
        : { ...node.defaults, ...inner.authz, ...node.authz },
    subject: node.pinSubject ?? inner.subject,
    pinned: node.pinSubject !== undefined || inner.pinned === true ? true : undefined,
    narrow: inner.narrow,
    validUntil: inner.validUntil,
    claims: inner.claims,
    entry: acc === null ? node.path : inner.entry
  }
}

async function evalBearer(node: CompiledNode, st: EvalState): Promise<Match | null> {
  st.wantsBearer = true
  if (!('token' in st.cred)) return null
  const token = st.cred.token
  for (const entry of node.bearer!) {
    if (entry.kind === 'static') {
      st.digest ??= sha256(token)
      if (digestEquals(st.digest, entry.digest)) return { meta: {}, authz: {}, entry: node.path }
      continue
    }
    // A JWT seen before: one cache lookup, no parsing.
    let out = entry.jwt.cached(token)
    if (out === undefined) {
      st.header ??= parseJwtHeader(token)
      if (typeof st.header === 'string') {
        st.refused ??= `${entry.path}: ${st.header}`
        continue
      }
      // A flood of bad tokens must not cost one signature check per entry: an entry the
      // unverified claims already rule out is skipped (jwt.ts excludes: it would refuse anyway).
      if (st.useHints) {
        st.hint ??= readPayloadHint(token) ?? null
        const ruledOut = st.hint === null ? undefined : entry.jwt.excludes(st.hint)
        // Weak, like a key of another algorithm: the reason of an entry really tried is better.
        if (ruledOut !== undefined) {
          st.weakRefusal ??= `${entry.path}: ${ruledOut}`
          continue
        }
      }
      out = await entry.jwt.verify(token, st.header)
    }
    if (out.ok) {
      const { subject, narrow, validUntil, claims } = out
      return { meta: {}, authz: {}, subject, narrow, validUntil, claims, entry: node.path }
    }
    // An entry whose key has another algorithm says little; prefer the reason of a key that was tried.
    if (out.weak === true) st.weakRefusal ??= `${entry.path}: ${out.reason}`
    else st.refused ??= `${entry.path}: ${out.reason}`
  }
  st.refused ??= st.weakRefusal ?? 'no bearer entry accepts this credential'
  return null
}

function merge(a: Match | null, b: Match): Match {
  if (a === null) return b
  return {
    meta: { ...a.meta, ...b.meta },
    authz: { ...a.authz, ...b.authz },
    subject: a.pinned === true && b.pinned !== true ? a.subject : (b.subject ?? a.subject),
    pinned: a.pinned === true || b.pinned === true ? true : undefined,
    validUntil:
      a.validUntil === undefined
        ? b.validUntil
        : b.validUntil === undefined
          ? a.validUntil
          : Math.min(a.validUntil, b.validUntil),
    narrow:
      a.narrow === undefined
        ? b.narrow
        : b.narrow === undefined
          ? a.narrow
          : new Set([...a.narrow].filter(x => b.narrow!.has(x))),
    // One request carries one credential: every JWT match in a tree is the same token.
    claims: b.claims ?? a.claims,
    entry: b.entry
  }
}

function mapAuthz(m: Match, map: Record<string, string>): Match {
  const authz: Record<string, boolean> = {}
  for (const [theirs, ours] of Object.entries(map)) if (m.authz[theirs] === true) authz[ours] = true
  // Narrowing names are theirs too; rename them so the final filter still applies.
  const narrow =
    m.narrow === undefined
      ? undefined
      : new Set(
          Object.entries(map)
            .filter(([t]) => m.narrow!.has(t))
            .map(([, o]) => o)
        )
  return { ...m, authz, narrow }
}
