import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import {
  podSocketsScript,
  renderSocketIdleTemplate,
  renderSocketUnit,
  socketDropInLines
} from '../../../../conductor/host/socket-units.js'
import { renderDeploymentDropIn } from '../../../../conductor/host/unit-files.js'
import { tempDir } from '../../../harness/tmp.js'

const unixListen = { kind: 'unix', path: '/run/conductor/sockets/web/http.sock' } as const

t.test('socket unit, idle service and drop-in as text', async t => {
  const sock = renderSocketUnit('/r', 'web', 'http', unixListen)
  t.match(sock, 'ListenStream=/r/run/conductor/sockets/web/http.sock\n')
  t.match(sock, 'FileDescriptorName=http\n')
  t.match(sock, 'PartOf=conductor-service@web.service\n')
  t.match(sock, 'RemoveOnStop=yes\n')
  t.notMatch(renderSocketUnit('/', 'web', 'h', { kind: 'tcp', host: '127.0.0.1', port: 9 }), /SocketMode|RemoveOnStop/)
  t.match(renderSocketIdleTemplate(), /BindsTo=%N\.socket\n[\s\S]*RemainAfterExit=yes/)
  const lines = socketDropInLines({
    units: ['conductor-socket@web.http.socket', 'conductor-socket@web.admin.socket'],
    script: '/d/start-pod.sh',
    pidFile: '/d/conmon.pid',
    podman: '/usr/bin/podman',
    stopTimeoutSec: 10
  })
  const dropIn = renderDeploymentDropIn('web', ['MemoryMax=1G'], lines)
  t.match(dropIn, 'Requires=conductor-socket@web.http.socket conductor-socket@web.admin.socket\n')
  t.match(
    dropIn,
    '[Service]\nSockets=conductor-socket@web.http.socket conductor-socket@web.admin.socket\nType=forking\n'
  )
  t.match(dropIn, 'ExecStart=\nExecStart=/bin/sh /d/start-pod.sh\n')
  t.match(dropIn, 'ExecStop=/usr/bin/podman pod stop -t 10 %i\nTimeoutStopSec=40\nMemoryMax=1G\n')
  t.equal(renderDeploymentDropIn('web', []), renderDeploymentDropIn('web', [], undefined), 'no sockets: as before')
})

t.test('the start script closes the sockets for everything but the application containers', async t => {
  const s = podSocketsScript({
    podman: '/usr/bin/podman',
    kube: "/d/it's/kube.yaml",
    pod: 'web-x',
    pidFile: '/d/p',
    fds: 2
  })
  t.match(s, 'plain() { env -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES "$podman" "$@" 3>&- 4>&-; }')
  t.match(s, "plain kube play --replace --start=false '/d/it'\\''s/kube.yaml'")
  t.match(s, '"$podman" start "${c%%:*}"', 'application containers start with the sockets')
  t.equal(spawnSync('sh', ['-n', '-c', s]).status, 0, 'valid sh')
})

t.test('units pass systemd-analyze verify', async t => {
  const dir = tempDir(t)
  const write = (name: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    writeFileSync(path.join(dir, name), text)
  }
  write('conductor-socket@web.http.socket', renderSocketUnit('/', 'web', 'http', unixListen))
  write('conductor-socket@web.http.service', renderSocketIdleTemplate())
  write('conductor-service@web.service', '[Service]\nType=oneshot\nExecStart=/bin/true\n')
  write('conductor-deployment@web-a.service', '[Service]\nType=notify\nExecStart=/bin/true\n')
  const lines = socketDropInLines({
    units: ['conductor-socket@web.http.socket'],
    script: path.join(dir, 'start-pod.sh'),
    pidFile: path.join(dir, 'conmon.pid'),
    podman: '/usr/bin/podman',
    stopTimeoutSec: 30
  })
  write('conductor-deployment@web-a.service.d/50-conductor.conf', renderDeploymentDropIn('web', [], lines))
  const units = ['conductor-socket@web.http.socket', 'conductor-deployment@web-a.service'].map(u => path.join(dir, u))
  const r = spawnSync('systemd-analyze', ['verify', ...units], {
    encoding: 'utf8',
    env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` }
  })
  const problems = `${r.stdout}${r.stderr}`
    .split('\n')
    .filter(l => l.includes(dir) || /Unknown|Failed|Invalid/i.test(l))
  t.same(problems, [], 'no warning about our units')
  t.equal(r.status, 0)
})
