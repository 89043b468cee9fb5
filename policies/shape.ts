// What policies/ needs of the policy file format without loading zod (schema.ts, the zod
// schema, loads only when a file's content has to be validated): the algorithm names, the
// policy name rule, and the rule on empty all/any/none lists that both the schema and
// compile.ts apply.

export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA'
] as const
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number]

export const POLICY_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/

/** The lists of a matcher, as far as the empty-list rule looks at them. */
export interface Lists {
  all?: ReadonlyArray<{ skip?: boolean | undefined }> | undefined
  any?: ReadonlyArray<{ skip?: boolean | undefined }> | undefined
  none?: ReadonlyArray<{ skip?: boolean | undefined }> | undefined
}

// An empty list (or one of skip: true entries only) is neutral in the grammar, which made
// `{"none": []}` match every request, anonymous ones included, while `{"all": []}` matched none.
// Both are refused at load time so no policy depends on that corner.
const NEEDS_ONE = 'needs at least one matcher that is not skip: true'
export const EMPTY_LIST = {
  all: `"all" ${NEEDS_ONE} (empty, it would never match); remove it or add matchers`,
  any: `"any" ${NEEDS_ONE} (empty, it would never match); remove it or add matchers`,
  none:
    `"none" ${NEEDS_ONE} (empty, it would match every request, anonymous ones included); ` +
    'remove it or list what to exclude'
} as const

/** The all/any/none lists of a matcher that are empty or hold skip: true matchers only (compile.ts checks it too). */
export function listProblems(m: Lists): Array<{ key: 'all' | 'any' | 'none'; message: string }> {
  const out: Array<{ key: 'all' | 'any' | 'none'; message: string }> = []
  for (const key of ['all', 'any', 'none'] as const) {
    const list = m[key]
    if (list?.every(c => c.skip === true)) out.push({ key, message: EMPTY_LIST[key] })
  }
  return out
}
