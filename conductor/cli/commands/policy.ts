import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
// policies/ (zod, jose) is loaded only when a policy command runs (startup time).
import type { Decision, PolicyProblem } from '../../../policies/index.js'
import { DEFAULT_GATEWAY_LISTEN } from '../../model/index.js'
import { formatProblem, UsageError } from '../../../errors/index.js'
import { Reported } from '../exit.js'
import { gatewayHealth, type StalePolicyInfo } from '../../doctor/index.js'
import type { Ctx } from '../../context.js'
import { renderJson, renderTable } from '../../output.js'
import type { CtxFactory } from './types.js'

// `conductor policy ls` and `conductor policy check NAME --token T`: explain locally what the
// gateway would decide, with the same policies/ code. The token is never printed.

export function registerPolicyCommands(program: Command, makeCtx: CtxFactory): void {
  const policy = program
    .command('policy')
    .description('Inspect policies (ROOT/etc/conductor/policies/NAME.json) and explain decisions')

  policy
    .command('ls')
    .description(
      'List policies; broken ones are printed with file, JSON path and reason (exit 3 if any), and those ' +
        'the running gateway serves from a last good version'
    )
    .option(
      '--gateway <addr>',
      'gateway to ask which policies it serves from a last good version ' +
        `(default: host.json gateway_listen, else ${DEFAULT_GATEWAY_LISTEN})`
    )
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean; gateway?: string }) {
      const ctx = makeCtx(this)
      const { loadPolicySet } = await import('../../../policies/index.js')
      const set = await loadPolicySet(ctx.roots.policies)
      const stale = await staleInGateway(opts.gateway ?? (await gatewayListen(ctx)), ctx.roots.policies)
      const problems = set.problems.map(p => ({ file: p.file, path: p.jsonPath, message: p.message }))
      const warnings = set.warnings.map(p => ({ file: p.file, path: p.jsonPath, message: p.message }))
      if (opts.json === true) {
        const policies = set.names.map(n => ({ name: n, file: set.get(n)!.file }))
        ctx.io.out(renderJson({ dir: ctx.roots.policies, policies, problems, warnings, gateway_stale: stale }))
      } else {
        ctx.io.out(
          renderTable(
            ['NAME', 'FILE'],
            set.names.map(n => [n, set.get(n)!.file])
          )
        )
        for (const p of set.problems) ctx.io.err(`conductor: ${formatProblem(p)}\n`)
        for (const s of stale) {
          ctx.io.err(
            `conductor: the running gateway serves policy "${s.name}" from the version it loaded ${s.since} ` +
              `(${s.file} broke or changed since; fix it, then reload the gateway)\n`
          )
        }
        printWarnings(ctx.io, set.warnings)
      }
      if (set.problems.length > 0) throw new Reported('CND_POLICY_INVALID')
    })

  policy
    .command('check')
    .description(
      'Decide a request against a policy locally: exit 0 when allowed, 1 when denied, 3 if the policy is invalid, 4 if absent'
    )
    .argument('<name>', 'policy name')
    .option('--token <token>', 'bearer token or JWT to check (visible in `ps`; prefer --token-file)')
    .option('--token-file <file>', 'read the token from FILE ("-" for stdin)')
    .option('--authorization <name>', 'authorization the request needs')
    .option('--origin <origin>', 'Origin header of the request')
    .option('--json', 'print the decision as JSON')
    .action(async function (
      this: Command,
      name: string,
      opts: { token?: string; tokenFile?: string; authorization?: string; origin?: string; json?: boolean }
    ) {
      const ctx = makeCtx(this)
      if (opts.token !== undefined && opts.tokenFile !== undefined)
        throw new UsageError('give --token or --token-file, not both')
      let token = opts.token
      if (opts.tokenFile !== undefined) {
        try {
          token = readFileSync(opts.tokenFile === '-' ? 0 : opts.tokenFile, 'utf8').trim()
        } catch (err) {
          throw new UsageError(
            `--token-file ${opts.tokenFile}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`
          )
        }
      }
      const { loadPolicySet, PolicyNotFound } = await import('../../../policies/index.js')
      const set = await loadPolicySet(ctx.roots.policies)
      printWarnings(ctx.io, set.warnings)
      if (!set.has(name)) {
        const file = path.join(ctx.roots.policies, `${name}.json`)
        // Problems in other files can break this one through a `policy` reference: show them all.
        const related = set.problems.filter(p => p.file === file || p.message.includes(`"${name}"`))
        if (related.length > 0 || set.problems.some(p => p.file === file)) {
          for (const p of set.problems) ctx.io.err(`conductor: ${formatProblem(p)}\n`)
          throw new Reported('CND_POLICY_INVALID')
        }
        const known = set.names.join(', ') || 'none'
        throw new PolicyNotFound(`no policy "${name}" in ${ctx.roots.policies} (known: ${known})`)
      }
      const d = await set.decide(name, {
        credential: token === undefined ? undefined : `Bearer ${token}`,
        authorization: opts.authorization,
        origin: opts.origin
      })
      ctx.io.out(opts.json === true ? renderJson(d) : renderDecision(d))
      if (!d.allow) throw new Reported('CND_POLICY_DENIED')
    })
}

function printWarnings(io: { err: (s: string) => void }, warnings: readonly PolicyProblem[]): void {
  for (const w of warnings) io.err(`conductor: warning: ${formatProblem(w)}\n`)
}

async function gatewayListen(ctx: Ctx): Promise<string> {
  try {
    return (await ctx.host()).gateway_listen ?? DEFAULT_GATEWAY_LISTEN
  } catch {
    return DEFAULT_GATEWAY_LISTEN
  }
}

/** Policies of `dir` the gateway at `listen` serves from a last good version; none if it does not answer. */
async function staleInGateway(listen: string, dir: string): Promise<StalePolicyInfo[]> {
  const health = await gatewayHealth(listen)
  return (health?.stale_policies ?? []).filter(s => path.dirname(s.file) === path.resolve(dir))
}

function renderDecision(d: Decision): string {
  const rows: string[][] = [
    ['policy', d.policy],
    ['decision', `${d.allow ? 'allow' : 'deny'} (HTTP ${d.status})`],
    ['reason', d.reason]
  ]
  if (d.subject !== undefined) rows.push(['subject', d.subject])
  if (d.allow) rows.push(['authorizations', d.authorizations.join(',') || '(none)'])
  for (const [k, v] of Object.entries(d.meta)) rows.push([`meta.${k}`, v])
  if (d.challenge !== undefined) rows.push(['www-authenticate', d.challenge])
  // One column for the values, past the longest label (a meta key can be longer than the others).
  const width = Math.max(...rows.map(([k]) => k!.length)) + 2
  return rows.map(([k, v]) => `${k!.padEnd(width)}${v}`).join('\n') + '\n'
}
