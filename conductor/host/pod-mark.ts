import { PodUnmarkable } from '../../errors/index.js'

// The mark Conductor puts on every pod it plays, so that it can tell its own pods from an
// operator's: a pod left behind by a crash (no deployment record, no active unit) is removed by
// the next reload only when it carries both labels, with this host's Conductor root. Podman 4.3
// sets a pod's labels from the Pod document's `metadata.labels` (`podman kube play
// --annotation` reaches the containers' annotations, not the pod's labels, and `pod ps` cannot
// filter on it), so the labels go into the YAML the unit plays.
//
// No YAML library is a dependency: the Pod document is edited as text, which is safe for the
// two forms templates print, a block-style `metadata:` mapping or a JSON document. Anything
// else is refused with the reason, never played unmarked.

export const LABEL_DEPLOYMENT = 'io.conductor.deployment'
export const LABEL_ROOT = 'io.conductor.root'

/** The deployment a pod belongs to when it carries this root's mark, else undefined. */
export function markedDeployment(
  labels: Readonly<Record<string, string>> | undefined,
  root: string
): string | undefined {
  if (labels?.[LABEL_ROOT] !== root) return undefined
  const id = labels[LABEL_DEPLOYMENT]
  return id === undefined || id === '' ? undefined : id
}

/** The kube YAML stream with the mark on every Pod document; throws PodUnmarkable (naming `file`). */
export function markPodYaml(stream: string, labels: Readonly<Record<string, string>>, file: string): string {
  const docs = splitDocuments(stream)
  let pods = 0
  const out = docs.map(doc => {
    const marked = markDocument(doc.body, labels, file)
    if (marked === undefined) return doc
    pods++
    return { ...doc, body: marked }
  })
  if (pods === 0) throw new PodUnmarkable('no `kind: Pod` document to label (a block-style YAML or a JSON Pod)', file)
  return out.map(d => d.separator + d.body).join('')
}

interface Doc {
  separator: string
  body: string
}

function splitDocuments(stream: string): Doc[] {
  const docs: Doc[] = []
  let current: Doc = { separator: '', body: '' }
  for (const line of stream.split(/(?<=\n)/)) {
    if (/^---(\s|$)/.test(line)) {
      docs.push(current)
      current = { separator: line.endsWith('\n') ? line : line + '\n', body: '' }
    } else current.body += line
  }
  docs.push(current)
  return docs
}

/** The document with the labels when it is a Pod, undefined when it is not one. */
function markDocument(body: string, labels: Readonly<Record<string, string>>, file: string): string | undefined {
  const text = body.replace(/^(\s*#.*\n|\s*\n)*/, '')
  if (text.startsWith('{')) return markJson(body, labels, file)
  const lines = body.split('\n')
  if (!lines.some(l => /^kind:\s*(["']?)Pod\1\s*(#.*)?$/.test(l))) {
    if (FLOW_POD.test(body)) {
      throw new PodUnmarkable('a Pod in flow style: print it block-style or as JSON so Conductor can label it', file)
    }
    return undefined
  }
  const meta = lines.findIndex(l => /^metadata:\s*(#.*)?$/.test(l))
  if (meta < 0) {
    throw new PodUnmarkable('the Pod has no block-style `metadata:` mapping to add its labels to', file)
  }
  // metadata's children: the lines after it up to the next top-level key.
  let end = meta + 1
  while (end < lines.length && !/^[^\s#]/.test(lines[end]!)) end++
  const children = lines.slice(meta + 1, end)
  const first = children.find(l => !isBlankOrComment(l))
  if (first === undefined) throw new PodUnmarkable("the Pod's `metadata:` is empty (it needs `name: $POD_NAME`)", file)
  const indent = first.length - first.trimStart().length
  const pad = ' '.repeat(indent)
  const labelsAt = children.findIndex(l => l.startsWith(pad + 'labels:') && l.length - l.trimStart().length === indent)
  const entry = (childPad: string, k: string, v: string): string => `${childPad}${k}: ${JSON.stringify(v)}`
  if (labelsAt < 0) {
    const add = [pad + 'labels:', ...Object.entries(labels).map(([k, v]) => entry(pad + '  ', k, v))]
    lines.splice(meta + 1, 0, ...add)
    return lines.join('\n')
  }
  const at = meta + 1 + labelsAt
  if (!/^\s*labels:\s*(#.*)?$/.test(lines[at]!)) {
    throw new PodUnmarkable(
      "the Pod's `metadata.labels` is in flow style: print it block-style so Conductor can add its labels",
      file
    )
  }
  // The existing labels block: lines more indented than `labels:`.
  let lend = at + 1
  while (lend < end && (isBlankOrComment(lines[lend]!) || indentOf(lines[lend]!) > indent)) lend++
  const firstLabel = lines.slice(at + 1, lend).find(l => !isBlankOrComment(l))
  const childPad = ' '.repeat(firstLabel === undefined ? indent + 2 : indentOf(firstLabel))
  // A template's own value for one of Conductor's keys is replaced, never kept beside it.
  const ours = new Set(Object.keys(labels))
  const kept = lines.slice(at + 1, lend).filter(l => !ours.has(l.trim().replace(/^(["']?)([^"':]+)\1\s*:.*$/, '$2')))
  lines.splice(at + 1, lend - at - 1, ...Object.entries(labels).map(([k, v]) => entry(childPad, k, v)), ...kept)
  return lines.join('\n')
}

function markJson(body: string, labels: Readonly<Record<string, string>>, file: string): string | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(body)
  } catch {
    if (!FLOW_POD.test(body)) return undefined
    throw new PodUnmarkable('a Pod in flow style that is not JSON: print it block-style or as JSON', file)
  }
  if (typeof doc !== 'object' || doc === null || (doc as { kind?: unknown }).kind !== 'Pod') return undefined
  const pod = doc as { metadata?: { labels?: Record<string, string> } }
  if (typeof pod.metadata !== 'object' || pod.metadata === null) {
    throw new PodUnmarkable('the Pod has no `metadata` object to add its labels to', file)
  }
  pod.metadata.labels = { ...(pod.metadata.labels ?? {}), ...labels }
  return JSON.stringify(doc, null, 2) + '\n'
}

/** `kind: Pod` inside a flow mapping (`{kind: Pod, ...}`), which the text edit cannot label. */
const FLOW_POD = /\bkind["']?\s*:\s*["']?Pod["']?\s*[,}]/
const isBlankOrComment = (l: string): boolean => /^\s*(#.*)?$/.test(l)
const indentOf = (l: string): number => l.length - l.trimStart().length
