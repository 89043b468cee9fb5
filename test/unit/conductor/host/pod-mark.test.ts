import t from 'tap'
import { LABEL_DEPLOYMENT, LABEL_ROOT, markPodYaml, markedDeployment } from '../../../../conductor/host/pod-mark.js'

// The mark on every pod Conductor plays: the labels added to the Pod document as text.

const MARK = { [LABEL_DEPLOYMENT]: 'web-abc', [LABEL_ROOT]: '/srv/c' }
const LABELS = '    io.conductor.deployment: "web-abc"\n    io.conductor.root: "/srv/c"\n'

t.test('a block-style Pod gains a labels mapping under metadata', async t => {
  const pod = 'apiVersion: v1\nkind: Pod\nmetadata:\n    name: web-abc\nspec:\n  containers: []\n'
  t.equal(
    markPodYaml(pod, MARK, 'f'),
    'apiVersion: v1\nkind: Pod\nmetadata:\n    labels:\n' +
      '      io.conductor.deployment: "web-abc"\n      io.conductor.root: "/srv/c"\n' +
      '    name: web-abc\nspec:\n  containers: []\n'
  )
})

t.test("existing labels are kept, a template's own value for a Conductor key is replaced", async t => {
  const pod =
    'kind: Pod\nmetadata:\n  name: x # the pod\n  labels:\n    app: web\n' +
    '    io.conductor.root: "/elsewhere"\n' +
    '  annotations:\n    a: |\n      text\nspec: {}\n'
  const out = markPodYaml(pod, MARK, 'f')
  t.equal(
    out,
    'kind: Pod\nmetadata:\n  name: x # the pod\n  labels:\n' +
      '    io.conductor.deployment: "web-abc"\n    io.conductor.root: "/srv/c"\n    app: web\n' +
      '  annotations:\n    a: |\n      text\nspec: {}\n'
  )
  t.notMatch(out, /elsewhere/)
})

t.test('only the Pod of a stream (after a ConfigMap) is labelled', async t => {
  const stream = 'kind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n---\nkind: Pod\nmetadata:\n  name: p\n'
  t.equal(
    markPodYaml(stream, MARK, 'f'),
    'kind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n---\n' +
      'kind: Pod\nmetadata:\n  labels:\n' +
      LABELS +
      '  name: p\n'
  )
})

t.test('a JSON Pod is labelled through JSON', async t => {
  const out = markPodYaml('{"kind": "Pod", "metadata": {"name": "p", "labels": {"app": "x"}}}\n', MARK, 'f')
  t.same(JSON.parse(out), { kind: 'Pod', metadata: { name: 'p', labels: { app: 'x', ...MARK } } })
})

t.test('what cannot be labelled is refused with the file, never played unmarked', async t => {
  const refused = (text: string, why: RegExp): void => {
    t.throws(
      () => markPodYaml(text, MARK, 'svc/pod.template (output)'),
      { code: 'CND_TEMPLATE_POD_UNMARKABLE', message: why },
      why.source
    )
  }
  refused('kind: ConfigMap\nmetadata:\n  name: c\n', /^svc\/pod\.template \(output\): no `kind: Pod` document/)
  refused('kind: Pod\nmetadata: {name: p}\n', /no block-style `metadata:`/)
  refused('kind: Pod\nmetadata:\n  name: p\n  labels: {app: x}\n', /flow style/)
  refused('{kind: Pod, metadata: {name: p}}\n', /flow style/)
})

t.test("markedDeployment: only this root's mark names a deployment", async t => {
  t.equal(markedDeployment(MARK, '/srv/c'), 'web-abc')
  t.equal(markedDeployment(MARK, '/'), undefined, 'another Conductor root')
  t.equal(markedDeployment({ app: 'db' }, '/srv/c'), undefined, "an operator's pod")
  t.equal(markedDeployment({ [LABEL_ROOT]: '/srv/c' }, '/srv/c'), undefined, 'no deployment label')
  t.equal(markedDeployment(undefined, '/srv/c'), undefined)
})
