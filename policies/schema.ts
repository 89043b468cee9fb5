import { isIPv4 } from 'node:net'
import { z } from 'zod'
import { MAX_CLOCK_SKEW_SEC } from './defaults.js'
import { originProblem } from './origin.js'
import { EMPTY_LIST, JWT_ALGORITHMS, listProblems } from './shape.js'

export { EMPTY_LIST, JWT_ALGORITHMS, listProblems, POLICY_NAME_RE, type JwtAlgorithm } from './shape.js'

// The zod schema is the single source of truth for policy files (<roots.policies>/NAME.json):
// types are inferred from it, the loader validates with it, and `conductor schema policy`
// prints its JSON Schema. Shape: ARCHITECTURE.md "Policy shape". Loaded only when a file's
// content must be validated (load.ts): what the rest of policies/ needs without zod is in shape.ts.

// The pattern is the general shape (also for editors, in the JSON Schema); originProblem (which
// compile.ts applies too) has the wildcard rule.
const originEntry = z
  .string()
  .regex(/^https?:\/\/[^/\s]+$/, {
    message: 'must be an origin like "https://example.org" (scheme://host[:port], no path)',
    abort: true
  })
  .superRefine((o, ctx) => {
    const problem = originProblem(o)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
  })
const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)])
const authzName = z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'authorization names use letters, digits and _ . : -')
const authzMap = z.record(authzName, z.boolean())

export const jwkSchema = z
  .looseObject({
    kty: z.enum(['RSA', 'EC', 'OKP']).describe('Key type; only public asymmetric keys are accepted.'),
    kid: z.string().optional(),
    alg: z.enum(JWT_ALGORITHMS).optional()
  })
  .describe('A public JSON Web Key (RFC 7517).')

export const bearerEntrySchema = z
  .strictObject({
    description: z.string().describe('Free text for operators.').optional(),
    token: z
      .string()
      .min(16, 'a static token must be at least 16 characters')
      .regex(/^[A-Za-z0-9\-._~+/]+=*$/, 'a bearer token uses only A-Z a-z 0-9 - . _ ~ + / (and trailing =)')
      .describe(
        'Static bearer token, compared in constant time. Prefer token_sha256 so the file does not hold the secret.'
      )
      .optional(),
    token_sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (sha256sum of the token)')
      .describe('SHA-256 (hex) of a static bearer token: `printf %s TOKEN | sha256sum`.')
      .optional(),
    public_key: z
      .union([z.string().min(1), jwkSchema])
      .describe('Public key verifying JWTs: a PEM "-----BEGIN PUBLIC KEY-----" block or a JWK object.')
      .optional(),
    jwks_url: z
      .url({ protocol: /^https?$/ })
      .describe(
        "URL of a JWK Set (https://; http:// only on loopback); keys are picked by the token's kid, " +
          'cached, and refetched (with a cool-down) on an unknown kid.'
      )
      .optional(),
    jwt_key_base64: z
      .string()
      .regex(/^[A-Za-z0-9+/]+=*$/, 'must be standard base64 (DER SubjectPublicKeyInfo)')
      .describe(
        "Public key as base64 of its DER SubjectPublicKeyInfo (the original Go implementation's form); use with jwt_alg."
      )
      .optional(),
    jwt_alg: z
      .enum(JWT_ALGORITHMS)
      .describe(
        'Algorithm for this key. Must fit the key type; defaults from the key (RSA: RS256, P-256: ES256, P-384: ES384, P-521: ES512, Ed25519: EdDSA). Never taken from the token.'
      )
      .optional(),
    issuer: stringOrList.describe('Required "iss" (one of these).').optional(),
    audience: stringOrList.describe('Required "aud" (one of these).').optional(),
    subject: z.string().min(1).describe('Required "sub".').optional(),
    max_lifetime_sec: z
      .number()
      .int()
      .positive()
      .describe('Largest accepted exp - iat (or exp - nbf, or exp - now). Default 86400.')
      .optional(),
    clock_skew_sec: z
      .number()
      .min(0)
      .max(MAX_CLOCK_SKEW_SEC)
      .describe(`Tolerance for exp/nbf/iat, in seconds. Default 30, at most ${MAX_CLOCK_SKEW_SEC}.`)
      .optional(),
    authorizations_claim: z
      .string()
      .min(1)
      .describe(
        'JWT claim (array of names or space-separated string) that narrows the entry\'s authorizations; it never grants more. Default "authorizations".'
      )
      .optional(),
    jwks_max_age_sec: z
      .number()
      .positive()
      .describe(
        'Refetch the JWK Set after this many seconds. Default 600. A key ' +
          'removed from the set is refused from the next refetch on, tokens verified and cached before included.'
      )
      .optional(),
    jwks_cooldown_sec: z
      .number()
      .positive()
      .describe('Refetch on an unknown kid at most once per this many seconds. Default 30.')
      .optional()
  })
  .superRefine((entry, ctx) => {
    const kinds = (['token', 'token_sha256', 'public_key', 'jwks_url', 'jwt_key_base64'] as const).filter(
      k => entry[k] !== undefined
    )
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          kinds.length === 0
            ? 'a bearer entry needs one of token, token_sha256, public_key, jwks_url, jwt_key_base64'
            : `a bearer entry takes only one of ${kinds.join(', ')}; split it into several entries`
      })
    }
    const isStatic = entry.token !== undefined || entry.token_sha256 !== undefined
    if (isStatic) {
      for (const k of [
        'jwt_alg',
        'issuer',
        'audience',
        'subject',
        'max_lifetime_sec',
        'clock_skew_sec',
        'authorizations_claim',
        'jwks_max_age_sec',
        'jwks_cooldown_sec'
      ] as const) {
        if (entry[k] !== undefined)
          ctx.addIssue({ code: 'custom', path: [k], message: `applies to JWT entries only, not to a static token` })
      }
    }
    if (entry.jwt_key_base64 !== undefined && entry.jwt_alg === undefined)
      ctx.addIssue({ code: 'custom', path: ['jwt_alg'], message: 'jwt_key_base64 needs jwt_alg' })
    if (entry.jwks_url !== undefined && !jwksUrlAcceptable(entry.jwks_url)) {
      const message =
        'http:// is accepted only on loopback (127.0.0.0/8, [::1], localhost): ' +
        'anyone on the path could swap the keys; use https://'
      ctx.addIssue({ code: 'custom', path: ['jwks_url'], message })
    }
  })
  .describe(
    'One accepted credential: a static token (or its SHA-256), or a JWT public key (PEM/JWK, JWKS URL, or jwt_alg + jwt_key_base64).'
  )

export interface MatcherFile {
  description?: string | undefined
  all?: MatcherFile[] | undefined
  any?: MatcherFile[] | undefined
  none?: MatcherFile[] | undefined
  bearer?: BearerEntryFile[] | undefined
  origin?: string[] | undefined
  policy?: string | { name: string; map?: Record<string, string> | undefined } | undefined
  always?: boolean | undefined
  never?: boolean | undefined
  skip?: boolean | undefined
  meta?: Record<string, string> | undefined
  pin_subject?: boolean | undefined
  default_authorizations?: Record<string, boolean> | undefined
  authorizations?: Record<string, boolean> | undefined
}

const policyName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'policy names use letters, digits and _ . -')

export const matcherSchema: z.ZodType<MatcherFile> = z.lazy(() =>
  z
    .strictObject({
      description: z.string().describe('Free text for operators.').optional(),
      all: z
        .array(matcherSchema)
        .min(1, EMPTY_LIST.all)
        .describe('Matches when every sub-matcher matches (at least one that is not skip).')
        .optional(),
      any: z
        .array(matcherSchema)
        .min(1, EMPTY_LIST.any)
        .describe(
          'Matches when one sub-matcher matches; the first one (in order) is the matched entry. ' +
            'At least one that is not skip.'
        )
        .optional(),
      none: z
        .array(matcherSchema)
        .min(1, EMPTY_LIST.none)
        .describe('Matches when no sub-matcher matches (at least one that is not skip).')
        .optional(),
      bearer: z
        .array(bearerEntrySchema)
        .describe('Matches when the request\'s "Authorization: Bearer" credential matches one entry.')
        .optional(),
      origin: z
        .array(originEntry)
        .describe(
          'Matches when the Origin header is one of these: "scheme://host[:port]" exactly, or ' +
            '"scheme://*.domain[:port]" for any one label in place of the * ("https://*.example.org" matches ' +
            '"https://a.example.org", not "https://example.org", "https://a.b.example.org" or another port).'
        )
        .optional(),
      policy: z
        .union([
          policyName,
          z.strictObject({
            name: policyName.describe('The other policy.'),
            map: z
              .record(authzName, authzName)
              .describe('Renames the other policy\'s authorizations ({"theirs": "ours"}); unmapped ones are dropped.')
              .optional()
          })
        ])
        .describe("Matches when another policy matches; its meta and authorizations become this entry's.")
        .optional(),
      always: z.literal(true).describe('Always matches.').optional(),
      never: z.boolean().describe('true: never matches (disables the entry, keeping it in the file).').optional(),
      skip: z.boolean().describe('true: the entry is ignored as if absent (neutral in all/any/none).').optional(),
      meta: z
        .record(
          z
            .string()
            .regex(/^[A-Za-z0-9-]+$/, 'meta keys use letters, digits and - (they become X-Conductor-* headers)'),
          z.string().regex(/^[^\r\n]*$/, 'must be one line')
        )
        .describe(
          'Returned with the decision (e.g. peer-id, peer-hostname, subject); the gateway sends them as X-Conductor-<Key> headers.'
        )
        .optional(),
      pin_subject: z
        .literal(true)
        .describe(
          "The decision's subject (X-Conductor-Subject, REMOTE_USER, audit) is this matcher's " +
            'meta.subject, whatever "sub" a JWT matched below it carries. Needs meta.subject.'
        )
        .optional(),
      default_authorizations: authzMap
        .describe('Authorizations granted by this entry and inherited by its sub-matchers.')
        .optional(),
      authorizations: authzMap
        .describe('Authorizations of this entry; override default_authorizations and anything below.')
        .optional()
    })
    .superRefine((m, ctx) => {
      // Empty lists are reported by .min(1) (which also gives editors minItems).
      for (const p of listProblems(m)) {
        if (m[p.key]!.length > 0) ctx.addIssue({ code: 'custom', path: [p.key], message: p.message })
      }
      if (m.pin_subject === true && m.meta?.subject === undefined) {
        const message = 'pin_subject needs meta.subject (the subject to pin) in the same matcher'
        ctx.addIssue({ code: 'custom', path: ['pin_subject'], message })
      }
    })
    .describe('A matcher: matches when every clause it defines matches (one that defines none does not match).')
)

/** https://, or http:// to a loopback address (a JWKS served on the same host, tests). */
export function jwksUrlAcceptable(url: string): boolean {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return true
  } // z.url() reports it
  if (u.protocol === 'https:') return true
  const host = u.hostname.toLowerCase()
  return host === 'localhost' || host === '[::1]' || (isIPv4(host) && host.startsWith('127.'))
}

export const policyFileSchema = z
  .strictObject({
    $schema: z.string().describe('Optional JSON Schema reference for editors; ignored.').optional(),
    description: z.string().describe('Free text for operators.').optional(),
    match: z.array(matcherSchema).describe('Matchers tried in order; the first that matches decides.')
  })
  .describe('A Conductor policy (<root>/etc/conductor/policies/NAME.json).')

export type PolicyFile = z.infer<typeof policyFileSchema>
export type BearerEntryFile = z.infer<typeof bearerEntrySchema>

/** JSON Schema for editors (`conductor schema policy`). */
export function policyJsonSchema(): unknown {
  return z.toJSONSchema(policyFileSchema, { target: 'draft-2020-12', io: 'input' })
}
