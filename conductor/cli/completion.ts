import type { Command } from 'commander'

// Shell completion (issue 9): the shells call `conductor __complete WORDS...` and get one
// candidate per line, so completion always follows the real command tree and the services
// and deployments on this host.

export interface CompletionSources {
  services: () => Promise<string[]>
  deployments: () => Promise<string[]>
}

/** Candidates for the last word of `words` (the words after `conductor`). */
export async function complete(program: Command, words: string[], sources: CompletionSources): Promise<string[]> {
  const current = words.at(-1) ?? ''
  let cmd = program
  let positionals = 0
  for (const w of words.slice(0, -1)) {
    const sub = cmd.commands.find(c => c.name() === w || c.aliases().includes(w))
    if (sub !== undefined && positionals === 0) {
      cmd = sub
      continue
    }
    if (!w.startsWith('-')) positionals++
  }
  if (current.startsWith('-')) {
    const flags = [...cmd.options, ...(cmd === program ? [] : program.options)]
      .flatMap(o => [o.long, o.short])
      .filter((f): f is string => f !== undefined)
    return unique([...flags, '--help'])
      .filter(f => f.startsWith(current))
      .sort()
  }
  const subs = cmd.commands.filter(c => !(c as Command & { _hidden?: boolean })._hidden).map(c => c.name())
  if (subs.length > 0 && positionals === 0) return subs.filter(s => s.startsWith(current)).sort()
  const arg = cmd.registeredArguments[positionals] ?? cmd.registeredArguments.at(-1)
  const name = arg?.name() ?? ''
  let values: string[] = []
  if (['name', 'names', 'service', 'services'].includes(name)) values = await sources.services()
  else if (['id', 'deployment', 'deployments'].includes(name)) values = await sources.deployments()
  return values.filter(v => v.startsWith(current)).sort()
}

export function bashScript(): string {
  return `# bash completion for conductor; install: conductor completion bash > /etc/bash_completion.d/conductor
_conductor_complete() {
  local IFS=$'\\n'
  COMPREPLY=( $(conductor __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) )
}
complete -o default -F _conductor_complete conductor
`
}

export function zshScript(): string {
  return `#compdef conductor
# zsh completion for conductor; install: conductor completion zsh > "\${fpath[1]}/_conductor"
_conductor() {
  local -a candidates
  candidates=("\${(@f)$(conductor __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef _conductor conductor
`
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)]
}
