import t from 'tap'
import { parseFunctionDirectives } from '../../../cgi/index.js'
import { rlimitArgs } from '../../../cgi/limits.js'

// A function's service_directives: which apply (scope properties, rlimits), and why the others
// cannot (cgi/limits.ts).

t.test('accepted: cgroup directives become scope properties, Limit* become rlimits', async t => {
  const { limits, problems } = parseFunctionDirectives([
    'MemoryMax=256M',
    'TasksMax=64',
    'CPUQuota=150%',
    'CPUWeight=idle',
    'MemoryHigh=10%',
    'IOWeight=50',
    'IOReadBandwidthMax=/dev/vda 1M',
    'TasksAccounting=yes',
    'LimitNOFILE=1024',
    'LimitNOFILE=512:2048',
    'LimitCORE=0',
    'LimitFSIZE=1G:infinity',
    'LimitCPU=30s',
    'LimitNICE=+5',
    'LimitAS=infinity'
  ])
  t.same(problems, [])
  t.same(limits.properties, [
    'MemoryMax=256M',
    'TasksMax=64',
    'CPUQuota=150%',
    'CPUWeight=idle',
    'MemoryHigh=10%',
    'IOWeight=50',
    'IOReadBandwidthMax=/dev/vda 1M',
    'TasksAccounting=yes'
  ])
  t.same(
    limits.rlimits,
    [
      { resource: 'NOFILE', soft: '512', hard: '2048' },
      { resource: 'CORE', soft: '0', hard: '0' },
      { resource: 'FSIZE', soft: String(1024 ** 3), hard: 'infinity' },
      { resource: 'CPU', soft: '30', hard: '30' },
      { resource: 'NICE', soft: '15', hard: '15' },
      { resource: 'AS', soft: 'infinity', hard: 'infinity' }
    ],
    'the later LimitNOFILE= wins; sizes and nice values converted'
  )
  t.same(rlimitArgs(limits.rlimits.slice(0, 1)), ['--rlimit', 'NOFILE=512:2048'])
  t.same(parseFunctionDirectives(['LimitNOFILE=64']).limits.properties, [], 'rlimits alone need no scope')
})

t.test('refused, each with its reason', async t => {
  const cases: Array<[string, RegExp]> = [
    [
      'ExecStart=/bin/evil',
      /^"ExecStart=" cannot apply to a function: it configures a service's own process.*; allowed: resource control \(CPUAccounting=.*MemoryMax=.*\) and process limits \(LimitCPU=.*\)$/
    ],
    ['Restart=always', /"Restart=" cannot apply to a function/],
    ['User=nobody', /"User=" cannot apply to a function/],
    ['Environment=A=1', /"Environment=" cannot apply to a function/],
    ['Slice=other.slice', /"Slice=" cannot apply to a function/],
    ['IPAddressDeny=any', /^"IPAddressDeny=" is not a directive a function's processes can be given; allowed/],
    ['Bogus=1', /is not a directive a function's processes can be given/],
    ['memorymax=1G', /^"memorymax=": unknown directive; did you mean "MemoryMax="\?$/],
    ['MemoryMax', /expected "Key=Value"/],
    ['=1', /expected "Key=Value"/],
    ['MemoryMax=', /a value is required/],
    ['MemoryMax=lots', /MemoryMax=lots: expected bytes/],
    ['TasksMax=-1', /TasksMax=-1: expected a number of tasks/],
    ['CPUQuota=1.5', /CPUQuota=1.5: expected a percentage/],
    ['CPUWeight=0', /expected a weight from 1 to 10000/],
    ['MemoryAccounting=maybe', /expected yes or no/],
    ['LimitNOFILE=10:5', /LimitNOFILE=10:5: the soft limit is above the hard limit/],
    ['LimitNOFILE=infinity:5', /the soft limit is above the hard limit/],
    ['LimitNOFILE=1K', /"1K": expected a whole number, or infinity/],
    ['LimitNOFILE=1:2:3', /expected a value, or "soft:hard"/],
    ['LimitCPU=1min', /expected a number of seconds/],
    ['LimitNICE=+30', /nice value \+30 outside -20\.\.19/],
    ['LimitFSIZE=99999999999E', /too large \(use infinity\)/]
  ]
  for (const [entry, message] of cases) {
    const { problems, limits } = parseFunctionDirectives(['TasksMax=8', entry])
    t.equal(problems.length, 1, entry)
    t.equal(problems[0]?.index, 1, `${entry}: its index`)
    t.match(problems[0]?.message, message, entry)
    t.same(limits.properties, ['TasksMax=8'], `${entry}: the valid entry is kept, the refused one is not`)
  }
})
