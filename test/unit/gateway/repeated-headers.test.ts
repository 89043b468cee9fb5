import t from 'tap'
import { repeatedDecisionHeader } from '../../../gateway/repeated-headers.js'

// Which repeats make a request malformed for a decision (issue 13), in every spelling of the name.

const cases: Array<[string, string[], string | undefined]> = [
  [
    "Caddy's forward_auth request, nothing repeated",
    [
      'Host',
      'g:2080',
      'Authorization',
      'Bearer a',
      'X-Forwarded-Host',
      'h',
      'X-Forwarded-Method',
      'GET',
      'X-Forwarded-Uri',
      '/',
      'X-Forwarded-For',
      '1',
      'X-Forwarded-For',
      '2',
      'Accept',
      'a',
      'Accept',
      'b'
    ],
    undefined
  ],
  ['Authorization twice', ['Authorization', 'Bearer a', 'Authorization', 'Bearer b'], 'authorization'],
  ['Authorization in two spellings', ['authorization', 'Bearer a', 'AUTHORIZATION', 'Bearer b'], 'authorization'],
  ['Host twice', ['Host', 'a', 'host', 'b'], 'host'],
  ['Origin twice', ['Origin', 'a', 'oRiGiN', 'b'], 'origin'],
  ['X-Forwarded-Uri twice', ['X-Forwarded-Uri', '/a', 'x-forwarded-uri', '/b'], 'x-forwarded-uri'],
  ['X-Forwarded-Host twice', ['X-FORWARDED-HOST', 'a', 'X-Forwarded-Host', 'b'], 'x-forwarded-host'],
  ['X-Forwarded-Method twice', ['x-forwarded-method', 'GET', 'X-Forwarded-Method', 'POST'], 'x-forwarded-method'],
  [
    'same length, other names',
    ['Authorizatioo', 'a', 'Authorization', 'b', 'Origin', 'o', 'Accept', 'x', 'Xost', '1', 'Host', '2'],
    undefined
  ],
  ['empty', [], undefined]
]
for (const [what, raw, want] of cases)
  t.test(what, async t => {
    t.equal(repeatedDecisionHeader(raw), want)
  })
