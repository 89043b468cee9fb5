import t from 'tap'
import path from 'node:path'
import { loadAllServices, loadService } from '../../../../conductor/model/service.js'
import {
  clashesWithOthers,
  dialAddress,
  parseListen,
  serviceSockets,
  socketProblems,
  socketUnit,
  socketUnitService,
  socketVariables
} from '../../../../conductor/model/sockets.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

t.test('listen addresses', async t => {
  t.same(parseListen('unix:/run/conductor/sockets/web/http.sock'), {
    kind: 'unix',
    path: '/run/conductor/sockets/web/http.sock'
  })
  t.same(parseListen('127.0.0.1:8080'), { kind: 'tcp', host: '127.0.0.1', port: 8080 })
  t.same(parseListen('[::1]:8080'), { kind: 'tcp', host: '[::1]', port: 8080 })
  t.match(parseListen('unix:run/x.sock'), /absolute path/)
  t.match(parseListen('unix:/run/conductor/sockets/web/../x.sock'), /must be normal/)
  t.match(parseListen('localhost:8080'), /must be an IP address/)
  t.match(parseListen('127.0.0.1:70000'), /outside 1-65535/)
  t.match(parseListen('8080'), /neither "unix:\/PATH" nor "IP:PORT"/)
  t.equal(
    dialAddress('/r', { kind: 'unix', path: '/run/conductor/sockets/web/h.sock' }),
    'unix//r/run/conductor/sockets/web/h.sock'
  )
  t.equal(dialAddress('/r', { kind: 'tcp', host: '127.0.0.1', port: 9 }), '127.0.0.1:9')
})

t.test('problems of one service: names, places, addresses', async t => {
  const pods = [
    { sockets: [{ name: 'http', listen: 'unix:/run/conductor/sockets/web/http.sock' }] },
    {
      sockets: [
        { name: 'http', listen: '127.0.0.1:9000' },
        { name: 'a', listen: 'unix:/run/conductor/sockets/other/a.sock' },
        { name: 'b', listen: 'unix:/run/conductor/web.sock' },
        { name: 'c', listen: '0.0.0.0:9000' },
        { name: 'd', listen: 'nope' }
      ]
    }
  ]
  const p = socketProblems('web', pods)
  t.same(
    p.map(x => x.jsonPath),
    [
      '/pods/1/sockets/0/name',
      '/pods/1/sockets/1/listen',
      '/pods/1/sockets/2/listen',
      '/pods/1/sockets/3/listen',
      '/pods/1/sockets/4/listen'
    ]
  )
  t.match(p[0]!.message, /"http" is already the name of \/pods\/0\/sockets\/0/)
  t.match(p[1]!.message, /outside \/run\/conductor\/sockets\/web\//)
  t.match(p[2]!.message, /outside/)
  t.match(p[3]!.message, /already the address of \/pods\/1\/sockets\/0/)
  t.match(p[4]!.message, /neither/)
  const long = socketProblems('web', [
    { sockets: [{ name: 'h', listen: `unix:/run/conductor/sockets/web/${'x'.repeat(90)}` }] }
  ])
  t.match(long[0]?.message, /longer than 107 bytes/)
  t.same(socketProblems('web', pods.slice(0, 1)), [])
})

t.test('a TCP address used by another service', async t => {
  const a = serviceSockets('a', '/a.json', [{ sockets: [{ name: 'h', listen: '127.0.0.1:9000' }] }])
  const b = serviceSockets('b', '/b.json', [
    {
      sockets: [
        { name: 'h', listen: '127.0.0.1:9001' },
        { name: 'i', listen: '0.0.0.0:9000' }
      ]
    }
  ])
  const c = clashesWithOthers([a, b], 1)
  t.equal(c.length, 1)
  t.equal(c[0]!.at, '/pods/0/sockets/1/listen')
  t.match(c[0]!.message, /already used by service "a" \(\/a\.json: \/pods\/0\/sockets\/0\/listen\)/)
})

t.test('variables', async t => {
  t.same(socketVariables('/r', [{ sockets: [{ name: 'http', listen: 'unix:/run/conductor/sockets/w/h.sock' }] }]), {
    CONDUCTOR_SOCKET_HTTP: '/r/run/conductor/sockets/w/h.sock',
    CONDUCTOR_SOCKET_HTTP_DIAL: 'unix//r/run/conductor/sockets/w/h.sock'
  })
})

t.test('service files: each mistake named with its file and JSON path', async t => {
  const dir = tempDir(t)
  const pod = (sockets: unknown): object => ({ pods: [{ pod_template: '/bin/true', sockets }] })
  writeTree(dir, {
    'a/conductor-service.json': pod([{ name: 'http', listen: '127.0.0.1:9100' }]),
    'b/conductor-service.json': pod([{ name: 'http', listen: '127.0.0.1:9100' }]),
    'bad/conductor-service.json': pod([{ name: 'http', listen: 'localhost:80' }]),
    'dup/conductor-service.json': pod([
      { name: 'x', listen: 'unix:/run/conductor/sockets/dup/x.sock' },
      { name: 'x', listen: 'unix:/tmp/x.sock' }
    ])
  })
  const bad = (await loadService(dir, 'bad').catch((e: Error) => e)) as Error
  t.match(bad.message, `${path.join(dir, 'bad/conductor-service.json')}: /pods/0/sockets/0/listen: `)
  t.match(bad.message, /must be an IP address/)
  const dup = (await loadService(dir, 'dup').catch((e: Error) => e)) as Error
  t.match(dup.message, /\/pods\/0\/sockets\/1\/name: "x" is already the name of \/pods\/0\/sockets\/0/)
  t.match(
    dup.message,
    /\/pods\/0\/sockets\/1\/listen: "unix:\/tmp\/x.sock" is outside \/run\/conductor\/sockets\/dup\//
  )
  const all = await loadAllServices(dir)
  t.ok(all.find(e => e.name === 'a')?.service, 'the first service keeps its port')
  const b = all.find(e => e.name === 'b')
  t.notOk(b?.service)
  t.match(
    b?.error?.message,
    `${path.join(dir, 'b/conductor-service.json')}: /pods/0/sockets/0/listen: "127.0.0.1:9100" is already used by service "a"`
  )
})

t.test('socket unit names', async t => {
  t.equal(socketUnit('web.v2', 'http'), 'conductor-socket@web.v2.http.socket')
  t.equal(socketUnitService('conductor-socket@web.v2.http.socket'), 'web.v2')
  t.equal(socketUnitService('conductor-socket@web.socket'), undefined)
  t.equal(socketUnitService('conductor-deployment@web.service'), undefined)
})
