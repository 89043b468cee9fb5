import { DEFAULT_JWKS_COOLDOWN_SEC, MAX_POLICY_DEPTH } from './defaults.js'
import { PolicyCycle, PolicyError, PolicyInvalid, PolicyReferenceMissing, type PolicyProblem } from './errors.js'
import { sha256 } from './bearer.js'
import { JwksCache, type FetchFn } from './jwks.js'
import { importDerBase64, importJwk, importPem } from './jwt-key.js'
import { compileOrigins, originProblem, type OriginMatcher } from './origin.js'
import { JwtEntry } from './jwt.js'
import type { BearerEntryFile, MatcherFile, PolicyFile } from './schema.js'
import { listProblems } from './shape.js'

// Turns validated policy files into a tree of compiled nodes, once per load: keys imported,
// algorithms fixed, static tokens hashed, `policy` references resolved and checked for
// cycles. Deciding a request then does no parsing and no I/O (except a JWKS refetch).

export interface CompileOptions {
  /** Clock in ms (tests move it); Date.now by default. */
  now?: (() => number) | undefined
  /** fetch used for jwks_url (tests, proxies). */
  fetch?: FetchFn | undefined
}

export type CompiledBearer =
  | { kind: 'static'; path: string; digest: Buffer }
  | { kind: 'jwt'; path: string; jwt: JwtEntry; jwks?: JwksCache | undefined }

export interface CompiledNode {
  path: string
  skip: boolean
  never: boolean
  always: boolean
  all?: CompiledNode[] | undefined
  any?: CompiledNode[] | undefined
  none?: CompiledNode[] | undefined
  bearer?: CompiledBearer[] | undefined
  origin?: OriginMatcher | undefined
  policy?: { name: string; map?: Record<string, string> | undefined; target?: CompiledPolicy } | undefined
  meta?: Record<string, string> | undefined
  /** pin_subject: this meta.subject is the decision's subject, whatever a JWT below says. */
  pinSubject?: string | undefined
  defaults?: Record<string, boolean> | undefined
  authz?: Record<string, boolean> | undefined
  /** true when the node defines at least one clause (one that defines none never matches). */
  hasClause: boolean
}

export interface CompiledPolicy {
  name: string
  file: string
  match: CompiledNode[]
  /** Every JWKS cache in this policy (for status and tests). */
  jwks: JwksCache[]
}

export interface PolicySource {
  name: string
  file: string
  data: PolicyFile
  /** File mode when read from disk (for the plaintext-token warning). */
  mode?: number | undefined
}

/** Compiles each source; a policy whose keys or references are broken is left out and reported. */
export function compilePolicies(
  sources: PolicySource[],
  opts: CompileOptions = {}
): { policies: Map<string, CompiledPolicy>; problems: PolicyProblem[] } {
  const now = opts.now ?? Date.now
  const problems: PolicyProblem[] = []
  const compiled = new Map<string, CompiledPolicy>()
  for (const src of sources) {
    const jwks: JwksCache[] = []
    try {
      const match = src.data.match.map((m, i) =>
        compileNode(m, `/match/${i}`, src.file, { now, fetch: opts.fetch, jwks })
      )
      compiled.set(src.name, { name: src.name, file: src.file, match, jwks })
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err
      problems.push(...err.allProblems())
    }
  }
  // Resolve `policy` references; drop policies that reach a missing policy or a cycle (repeat
  // until stable, since dropping one can break those that reference it).
  let changed = true
  while (changed) {
    changed = false
    for (const p of [...compiled.values()]) {
      const problem = resolveReferences(p, compiled)
      if (problem !== undefined) {
        problems.push(problem)
        compiled.delete(p.name)
        changed = true
      }
    }
  }
  return { policies: compiled, problems }
}

interface NodeCtx {
  now: () => number
  fetch: FetchFn | undefined
  jwks: JwksCache[]
}

function compileNode(m: MatcherFile, path: string, file: string, ctx: NodeCtx): CompiledNode {
  // The schema refuses these in files; sources built in code (tests, other callers) get the same rule.
  const empty = listProblems(m)[0]
  if (empty !== undefined) throw new PolicyInvalid(empty.message, file, `${path}/${empty.key}`)
  if (m.pin_subject === true && m.meta?.subject === undefined) {
    throw new PolicyInvalid('pin_subject needs meta.subject', file, `${path}/pin_subject`)
  }
  m.origin?.forEach((o, i) => {
    const problem = originProblem(o)
    if (problem !== undefined) throw new PolicyInvalid(problem, file, `${path}/origin/${i}`)
  })
  const policy =
    m.policy === undefined
      ? undefined
      : typeof m.policy === 'string'
        ? { name: m.policy }
        : { name: m.policy.name, map: m.policy.map }
  const node: CompiledNode = {
    path,
    skip: m.skip === true,
    never: m.never === true,
    always: m.always === true,
    all: m.all?.map((c, i) => compileNode(c, `${path}/all/${i}`, file, ctx)),
    any: m.any?.map((c, i) => compileNode(c, `${path}/any/${i}`, file, ctx)),
    none: m.none?.map((c, i) => compileNode(c, `${path}/none/${i}`, file, ctx)),
    bearer: m.bearer?.map((b, i) => compileBearer(b, `${path}/bearer/${i}`, file, ctx)),
    origin: m.origin === undefined ? undefined : compileOrigins(m.origin),
    policy,
    meta: m.meta,
    pinSubject: m.pin_subject === true ? m.meta?.subject : undefined,
    defaults: m.default_authorizations,
    authz: m.authorizations,
    hasClause: false
  }
  node.hasClause =
    node.always ||
    node.never ||
    m.all !== undefined ||
    m.any !== undefined ||
    m.none !== undefined ||
    m.bearer !== undefined ||
    m.origin !== undefined ||
    policy !== undefined
  return node
}

function compileBearer(b: BearerEntryFile, path: string, file: string, ctx: NodeCtx): CompiledBearer {
  if (b.token !== undefined) return { kind: 'static', path, digest: sha256(b.token) }
  if (b.token_sha256 !== undefined) return { kind: 'static', path, digest: Buffer.from(b.token_sha256, 'hex') }
  const opts = {
    issuer: b.issuer,
    audience: b.audience,
    subject: b.subject,
    maxLifetimeSec: b.max_lifetime_sec,
    clockSkewSec: b.clock_skew_sec,
    authorizationsClaim: b.authorizations_claim
  }
  const where = { file, jsonPath: path }
  if (b.jwks_url !== undefined) {
    const jwks = new JwksCache(b.jwks_url, {
      maxAgeSec: b.jwks_max_age_sec,
      cooldownSec: b.jwks_cooldown_sec ?? DEFAULT_JWKS_COOLDOWN_SEC,
      fetch: ctx.fetch,
      now: ctx.now
    })
    ctx.jwks.push(jwks)
    return { kind: 'jwt', path, jwt: new JwtEntry(jwks, opts, ctx.now), jwks }
  }
  const key =
    b.public_key !== undefined
      ? typeof b.public_key === 'string'
        ? importPem(b.public_key, b.jwt_alg, { ...where, jsonPath: `${path}/public_key` })
        : importJwk(b.public_key, b.jwt_alg, { ...where, jsonPath: `${path}/public_key` })
      : importDerBase64(b.jwt_key_base64!, b.jwt_alg!, { ...where, jsonPath: `${path}/jwt_key_base64` })
  return { kind: 'jwt', path, jwt: new JwtEntry(key, opts, ctx.now) }
}

function resolveReferences(p: CompiledPolicy, all: Map<string, CompiledPolicy>): PolicyProblem | undefined {
  const visit = (node: CompiledNode, stack: string[]): PolicyProblem | undefined => {
    if (node.policy !== undefined) {
      const target = all.get(node.policy.name)
      if (target === undefined)
        return new PolicyReferenceMissing(
          `policy "${node.policy.name}" does not exist or is invalid`,
          p.file,
          `${node.path}/policy`
        ).allProblems()[0]
      if (stack.includes(target.name))
        return new PolicyCycle(
          `policy references form a cycle: ${[...stack, target.name].join(' -> ')}`,
          p.file,
          `${node.path}/policy`
        ).allProblems()[0]
      if (stack.length >= MAX_POLICY_DEPTH)
        return {
          file: p.file,
          jsonPath: `${node.path}/policy`,
          message: `policy references nest deeper than ${MAX_POLICY_DEPTH}`
        }
      node.policy.target = target
      for (const child of target.match) {
        const problem = visit(child, [...stack, target.name])
        if (problem !== undefined) return problem
      }
    }
    for (const child of [...(node.all ?? []), ...(node.any ?? []), ...(node.none ?? [])]) {
      const problem = visit(child, stack)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  for (const node of p.match) {
    const problem = visit(node, [p.name])
    if (problem !== undefined) return problem
  }
  return undefined
}
