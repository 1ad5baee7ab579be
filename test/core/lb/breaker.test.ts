import { BreakerConfig, type Breaker } from '../../../src/contracts/load-balancer';
import { closedBreaker, ejectionMs, maxEjected, recordOutcomes, tickBreaker } from '../../../src/core/lb/breaker';

const cfg = BreakerConfig.parse({
  baseEjectionMs: 1_000,
  maxEjectionMs: 5_000,
  windowMs: 10_000,
  minRequests: 10,
  halfOpenSuccesses: 2,
});
type Step = ['ok' | 'fail', number, number] | ['tick', number] | ['fail-no-room', number, number];

describe('circuit breaker', () => {
  const cases: [string, Step[], Partial<Breaker>][] = [
    ['stays closed on successes', [['ok', 100, 0]], { state: 'closed', consecutiveFailures: 0 }],
    ['4 consecutive failures: still closed', [['fail', 4, 0]], { state: 'closed', consecutiveFailures: 4 }],
    [
      '5 consecutive failures open it for the base ejection',
      [['fail', 5, 0]],
      { state: 'open', ejections: 1, openUntil: 1_000 },
    ],
    [
      'a success resets the count',
      [
        ['fail', 4, 0],
        ['ok', 1, 1],
        ['fail', 4, 2],
      ],
      { state: 'closed', consecutiveFailures: 4 },
    ],
    [
      'error rate over 5 % with enough requests opens it',
      [
        ['ok', 18, 0],
        ['fail', 1, 1],
      ],
      { state: 'open', lastReason: 'error rate 5.3 % over 19 requests' },
    ],
    [
      'few requests: a high error rate does not count',
      [
        ['ok', 2, 0],
        ['fail', 1, 1],
        ['ok', 1, 2],
      ],
      { state: 'closed' },
    ],
    [
      'half-open once the ejection is over',
      [
        ['fail', 5, 0],
        ['tick', 999],
        ['tick', 1_000],
      ],
      { state: 'half_open' },
    ],
    [
      'outcomes while open change nothing',
      [
        ['fail', 5, 0],
        ['ok', 50, 10],
      ],
      { state: 'open' },
    ],
    [
      'closed again after 2 successes in half-open',
      [
        ['fail', 5, 0],
        ['tick', 1_000],
        ['ok', 1, 1_001],
        ['ok', 1, 1_002],
      ],
      { state: 'closed', ejections: 1 },
    ],
    [
      'a failure in half-open opens it again, for longer',
      [
        ['fail', 5, 0],
        ['tick', 1_000],
        ['fail', 1, 1_001],
      ],
      { state: 'open', ejections: 2, openUntil: 3_001 },
    ],
    [
      'the ejection time is capped',
      [
        ['fail', 5, 0],
        ...Array.from({ length: 8 }, (_, i): Step[] => [
          ['tick', 100_000 * (i + 1)],
          ['fail', 1, 100_000 * (i + 1) + 1],
        ]).flat(),
      ],
      { state: 'open', ejections: 9, openUntil: 800_001 + 5_000 },
    ],
    [
      'no room to eject: stays closed and says why',
      [['fail-no-room', 5, 0]],
      { state: 'closed', lastReason: '5 consecutive failures (not ejected: ejection limit reached)' },
    ],
  ];
  it.each(cases)('%s', (_name, steps, expected) => {
    const b = closedBreaker(0);
    for (const step of steps) {
      if (step[0] === 'tick') tickBreaker(b, step[1]);
      else {
        const [kind, n, now] = step;
        const o = kind === 'ok' ? { successes: n, failures: 0 } : { successes: 0, failures: n };
        recordOutcomes(b, o, now, cfg, 0.05, kind !== 'fail-no-room');
      }
    }
    expect(b).toMatchObject(expected);
  });

  it.each([
    [1, 1_000],
    [2, 2_000],
    [7, 5_000],
  ])('ejection %d lasts %d ms', (n, ms) => expect(ejectionMs(n, cfg)).toBe(ms));

  it.each([
    [3, 1],
    [10, 1],
    [25, 2],
    [100, 10],
  ])('at most %d targets → %d ejected (10 %, at least one)', (n, max) => expect(maxEjected(n, cfg)).toBe(max));
});
