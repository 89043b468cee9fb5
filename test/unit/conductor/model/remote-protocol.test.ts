import t from 'tap'
import {
  DEFAULT_TERM,
  MAX_TERMINAL_SIZE,
  encodeControl,
  exitStatusFor,
  parseClientControl,
  parseServerControl,
  terminalSize
} from '../../../../conductor/model/remote-protocol.js'

// The interactive WebSocket protocol's control frames (conductor/model/remote-protocol.ts).

t.test('client control frames: accepted', async t => {
  const cases: Array<[string, string, object]> = [
    [
      'start with everything',
      '{"type":"start","args":["a","b c"],"cols":120,"rows":40,"term":"screen-256color"}',
      { type: 'start', args: ['a', 'b c'], cols: 120, rows: 40, term: 'screen-256color' }
    ],
    [
      'start: args and term default',
      '{"type":"start","cols":80,"rows":24}',
      { type: 'start', args: [], cols: 80, rows: 24, term: DEFAULT_TERM }
    ],
    ['resize', '{"type":"resize","cols":1,"rows":4096}', { type: 'resize', cols: 1, rows: 4096 }]
  ]
  for (const [what, text, want] of cases) t.same(parseClientControl(text), want, what)
})

t.test('client control frames: refused with a reason', async t => {
  const limits = { maxArgs: 2, maxArgChars: 3 }
  const cases: Array<[string, string, RegExp]> = [
    ['not JSON', 'hello', /one JSON object/],
    ['an array', '[1]', /one JSON object/],
    ['unknown type', '{"type":"signal","name":"KILL"}', /unknown control frame/],
    ['zero columns', '{"type":"resize","cols":0,"rows":24}', /cols and rows/],
    ['too many rows', `{"type":"resize","cols":80,"rows":${MAX_TERMINAL_SIZE + 1}}`, /cols and rows/],
    ['fractional size', '{"type":"resize","cols":80.5,"rows":24}', /cols and rows/],
    ['start without size', '{"type":"start"}', /cols and rows/],
    ['args not an array', '{"type":"start","cols":80,"rows":24,"args":"rm -rf /"}', /array of strings/],
    ['args not strings', '{"type":"start","cols":80,"rows":24,"args":[1]}', /array of strings/],
    ['too many args', '{"type":"start","cols":80,"rows":24,"args":["a","b","c"]}', /at most 2 arguments/],
    ['arg too long', '{"type":"start","cols":80,"rows":24,"args":["abcd"]}', /at most 3 characters/],
    ['term with a newline', '{"type":"start","cols":80,"rows":24,"term":"xterm\\nX=1"}', /plain terminal name/],
    ['term not a string', '{"type":"start","cols":80,"rows":24,"term":5}', /plain terminal name/]
  ]
  for (const [what, text, reason] of cases) {
    const r = parseClientControl(text, limits)
    t.ok('invalid' in r, what)
    t.match((r as { invalid: string }).invalid, reason, what)
  }
})

t.test('server control frames round-trip; unknown ones are ignored', async t => {
  const controls = [
    { type: 'exit', code: 0 },
    { type: 'exit', code: 124, reason: 'timeout' },
    { type: 'exit', code: 141, reason: 'output-limit' },
    { type: 'exit', code: 143, reason: 'gateway-stopping' },
    { type: 'error', error: 'CND_BAD_FRAME', message: 'x' },
    { type: 'error', error: 'CND_NO_START' }
  ] as const
  for (const c of controls) {
    t.same(parseServerControl(encodeControl(c)), c, JSON.stringify(c))
  }
  t.same(
    parseServerControl('{"type":"exit","code":1,"reason":"bogus"}'),
    { type: 'exit', code: 1 },
    'an unknown reason is dropped'
  )
  t.equal(parseServerControl('{"type":"exit","code":"1"}'), undefined)
  t.equal(parseServerControl('{"type":"hello"}'), undefined)
  t.equal(parseServerControl('not json'), undefined)
})

t.test('terminal size: a terminal reporting nothing or 0 gets 80x24, huge values are clamped', async t => {
  t.same(terminalSize(undefined, undefined), { cols: 80, rows: 24 })
  t.same(terminalSize(0, 0), { cols: 80, rows: 24 })
  t.same(terminalSize(132, 50), { cols: 132, rows: 50 })
  t.same(terminalSize(100_000, 7), { cols: MAX_TERMINAL_SIZE, rows: 7 })
})

t.test("the exit status a client gets: 124 for a timeout, 141 for the output limit, else the command's", async t => {
  t.equal(exitStatusFor('timeout', 143), 124)
  t.equal(exitStatusFor('output-limit', 143), 141)
  t.equal(exitStatusFor('gateway-stopping', 143), 143)
  t.equal(exitStatusFor(undefined, 3), 3)
})
