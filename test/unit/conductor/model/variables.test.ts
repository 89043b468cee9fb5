import t from 'tap'
import path from 'node:path'
import { loadService } from '../../../../conductor/model/service.js'
import {
  baseVariables,
  commandVariables,
  deploymentVariables,
  functionVariables,
  serviceVariables
} from '../../../../conductor/model/variables.js'
import { deploymentId, functionId, newDeploymentSuffix } from '../../../../conductor/model/names.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The exact environment each context sees (ARCHITECTURE.md "Variables").

async function fixture(t: Parameters<typeof tempDir>[0]) {
  const root = tempDir(t)
  writeTree(root, {
    'services/web/conductor-service.json': {
      app_name: 'shop',
      instance_name: 'staging',
      config: { A: '1', B: 'two' },
      pods: [{ name: 'front', pod_template: './pod' }]
    }
  })
  return { root, svc: await loadService(path.join(root, 'services'), 'web') }
}

t.test('service context: config + the six CONDUCTOR_* service variables, nothing else', async t => {
  const { root, svc } = await fixture(t)
  t.same(serviceVariables(svc), {
    A: '1',
    B: 'two',
    CONDUCTOR_APP: 'shop',
    CONDUCTOR_INSTANCE: 'staging',
    CONDUCTOR_SERVICE_NAME: 'web',
    CONDUCTOR_SERVICE_DIR: path.join(root, 'services/web'),
    CONDUCTOR_SERVICE_UNIT: 'conductor-service@web.service',
    CONDUCTOR_SERVICE_CONFIG_UNIT: 'conductor-service-config@web.service'
  })
})

t.test(
  'deployment context adds exactly the deployment variables; deployment config overrides service config but not CONDUCTOR_*',
  async t => {
    const { svc } = await fixture(t)
    const vars = deploymentVariables(svc, svc.pods[0]!, {
      id: 'web-front-abc',
      podIp: '10.0.0.7',
      config: { B: 'three', C: 'new' }
    })
    const service = serviceVariables(svc)
    const added = Object.keys(vars)
      .filter(k => !(k in service))
      .sort()
    t.same(added, [
      'C',
      'CONDUCTOR_DEPLOYMENT',
      'CONDUCTOR_DEPLOYMENT_CONFIG_UNIT',
      'CONDUCTOR_DEPLOYMENT_UNIT',
      'CONDUCTOR_SERVICE_PART',
      'POD_IP_ADDRESS',
      'POD_NAME'
    ])
    t.equal(vars.B, 'three')
    t.equal(vars.CONDUCTOR_SERVICE_PART, 'front')
    t.equal(vars.CONDUCTOR_DEPLOYMENT, 'web-front-abc')
    t.equal(vars.CONDUCTOR_DEPLOYMENT_UNIT, 'conductor-deployment@web-front-abc.service')
    t.equal(vars.CONDUCTOR_DEPLOYMENT_CONFIG_UNIT, 'conductor-deployment-config@web-front-abc.service')
    t.equal(vars.POD_NAME, 'web-front-abc')
    t.equal(vars.POD_IP_ADDRESS, '10.0.0.7')
    const sneaky = deploymentVariables(svc, svc.pods[0]!, { id: 'd', config: { CONDUCTOR_APP: 'hijack' } })
    t.equal(sneaky.CONDUCTOR_APP, 'shop', 'deployment config cannot shadow CONDUCTOR_*')
    t.equal(
      deploymentVariables(svc, svc.pods[0]!, { id: 'd' }).POD_IP_ADDRESS,
      '',
      'present but empty before the pod runs'
    )
  }
)

t.test('service variables never contain deployment-only variables', async t => {
  const { svc } = await fixture(t)
  const vars = serviceVariables(svc)
  for (const k of [
    'CONDUCTOR_SERVICE_PART',
    'CONDUCTOR_DEPLOYMENT',
    'CONDUCTOR_DEPLOYMENT_UNIT',
    'CONDUCTOR_DEPLOYMENT_CONFIG_UNIT',
    'POD_NAME',
    'POD_IP_ADDRESS'
  ])
    t.notOk(k in vars, k)
})

t.test('command and function contexts', async t => {
  const { svc } = await fixture(t)
  const cmd = commandVariables(serviceVariables(svc), 'migrate', '/home/op')
  t.equal(cmd.CONDUCTOR_COMMAND, 'migrate')
  t.equal(cmd.CONDUCTOR_COMMAND_DIR, '/home/op')
  t.equal(functionVariables(serviceVariables(svc), functionId('web', 'api')).CONDUCTOR_FUNCTION_ID, 'web-api')
  t.equal(functionId('web', ''), 'web')
})

t.test('base variables: PATH always, CONDUCTOR_ROOT only for a non-default root', async t => {
  t.same(baseVariables({ root: '/' }, { PATH: '/bin', SECRET: 'x' }), { PATH: '/bin' })
  t.same(baseVariables({ root: '/tmp/r' }, { PATH: '/bin' }), { PATH: '/bin', CONDUCTOR_ROOT: '/tmp/r' })
})

t.test('deployment ids: SERVICE-PART-SUFFIX, sortable suffixes', async t => {
  t.equal(deploymentId('web', 'front', 'x1'), 'web-front-x1')
  t.equal(deploymentId('web', '', 'x1'), 'web-x1')
  const a = newDeploymentSuffix(1_700_000_000_000, () => 0.99)
  const b = newDeploymentSuffix(1_700_000_000_001, () => 0)
  t.equal(a.length, 10)
  t.ok(a < b, 'later is greater')
})

t.test('fleet variables: this host, where the service runs, the hosts and addresses of depends_on', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'services/front/conductor-service.json': { fleet: { depends_on: ['back-end', 'absent'] } },
    'lib/fleet/placement.json': {
      here: 'a',
      services: { front: { hosts: ['a', 'b'], source: 'scheduler' }, 'back-end': { hosts: ['c', 'b'] } },
      addresses: { a: '192.0.2.1', b: '192.0.2.2', c: 'c.example.org' }
    }
  })
  const svc = await loadService(path.join(root, 'services'), 'front')
  const vars = serviceVariables(svc, baseVariables({ root, lib: path.join(root, 'lib') }, { PATH: '/bin' }))
  t.same(Object.fromEntries(Object.entries(vars).filter(([k]) => k.startsWith('CONDUCTOR_FLEET'))), {
    CONDUCTOR_FLEET_HOST: 'a',
    CONDUCTOR_FLEET_SERVICE_HOSTS: 'a,b',
    CONDUCTOR_FLEET_HOSTS_BACK_END: 'c,b',
    CONDUCTOR_FLEET_ADDRESSES_BACK_END: 'c.example.org,192.0.2.2',
    CONDUCTOR_FLEET_HOSTS_ABSENT: '',
    CONDUCTOR_FLEET_ADDRESSES_ABSENT: ''
  })
  const none = serviceVariables(svc, baseVariables({ root, lib: path.join(root, 'nothing') }, { PATH: '/bin' }))
  t.notOk(
    Object.keys(none).some(k => k.startsWith('CONDUCTOR_FLEET')),
    'no placement file (not in a fleet): no fleet variables'
  )
})
