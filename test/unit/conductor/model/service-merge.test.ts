import t from 'tap'
import { mergeServiceFiles, mergeListBy } from '../../../../conductor/model/service-merge.js'

// Every merge rule of the README "Inheritance" section, with plain objects.

t.test('scalars: the child wins when it sets them, the base stays otherwise', async t => {
  t.same(mergeServiceFiles({ app_name: 'a', instance_name: 'x', disable: false }, { app_name: 'b', disable: true }), {
    app_name: 'b',
    instance_name: 'x',
    disable: true
  })
})

t.test('plain lists are replaced, not concatenated', async t => {
  t.same(mergeServiceFiles({ display_service_config: ['A', 'B'] }, { display_service_config: ['C'] }), {
    display_service_config: ['C']
  })
})

t.test('config merges key by key, child wins', async t => {
  t.same(mergeServiceFiles({ config: { A: '1', B: '2' } }, { config: { B: '3', C: '4' } }), {
    config: { A: '1', B: '3', C: '4' }
  })
})

t.test('hooks merge by id: same id merged field by field in place, new ids appended', async t => {
  const merged = mergeServiceFiles(
    {
      hooks: [
        { id: 'a', when: 'pre-start', exec: ['/a'] },
        { id: 'b', when: 'post-start', exec: ['/b'] }
      ]
    },
    {
      hooks: [
        { id: 'c', when: 'pre-stop', exec: ['/c'] },
        { id: 'a', exec: ['/a2'] }
      ]
    }
  )
  t.same(merged.hooks, [
    { id: 'a', when: 'pre-start', exec: ['/a2'] },
    { id: 'b', when: 'post-start', exec: ['/b'] },
    { id: 'c', when: 'pre-stop', exec: ['/c'] }
  ])
})

t.test('pods and functions merge by name ("" is a name too)', async t => {
  const merged = mergeServiceFiles(
    {
      pods: [
        { name: '', pod_template: '/base/pod' },
        { name: 'db', pod_template: '/base/db' }
      ],
      functions: [{ name: 'f', format: 'cgi', exec: ['/f'] }]
    },
    {
      pods: [{ name: '', service_directives: ['Restart=always'] }],
      functions: [
        { name: 'f', format: 'http-stdio' },
        { name: 'g', exec: ['/g'] }
      ]
    }
  )
  t.same(merged.pods, [
    { name: '', pod_template: '/base/pod', service_directives: ['Restart=always'] },
    { name: 'db', pod_template: '/base/db' }
  ])
  t.same(merged.functions, [
    { name: 'f', format: 'http-stdio', exec: ['/f'] },
    { name: 'g', exec: ['/g'] }
  ])
})

t.test('a pod without a name merges with the unnamed pod', async t => {
  t.same(mergeServiceFiles({ pods: [{ pod_template: '/p' }] }, { pods: [{ config_map_template: '/c' }] }).pods, [
    { pod_template: '/p', config_map_template: '/c' }
  ])
})

t.test('commands merge by name, field by field', async t => {
  const merged = mergeServiceFiles(
    {
      commands: {
        migrate: { service: true, exec: ['/m'], description: 'old' },
        other: { deployment: true, exec: ['/o'] }
      }
    },
    { commands: { migrate: { description: 'new' }, extra: { service: true, exec: ['/e'] } } }
  )
  t.same(merged.commands, {
    migrate: { service: true, exec: ['/m'], description: 'new' },
    other: { deployment: true, exec: ['/o'] },
    extra: { service: true, exec: ['/e'] }
  })
})

t.test('inherit never survives a merge, and undefined child fields do not erase', async t => {
  t.same(mergeServiceFiles({ inherit: ['/x'], app_name: 'a' }, { inherit: ['/y'], app_name: undefined }), {
    app_name: 'a'
  })
})

t.test('mergeListBy keeps base order and does not mutate its inputs', async t => {
  const base = [
    { k: '1', v: 'a' },
    { k: '2', v: 'b' }
  ]
  const out = mergeListBy(base, [{ k: '2', v: 'c' }], x => x.k)
  t.same(out, [
    { k: '1', v: 'a' },
    { k: '2', v: 'c' }
  ])
  t.same(base, [
    { k: '1', v: 'a' },
    { k: '2', v: 'b' }
  ])
})
