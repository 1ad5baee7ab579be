import { dueTimers, nextDue, reschedule, syncTimers } from '../../src/core/timers';

describe('timers', () => {
  it.each([
    [{}, undefined],
    [{ a: 5 }, 5],
    [{ a: 5, b: 3, c: 9 }, 3],
  ])('nextDue(%j) = %s', (table, expected) => expect(nextDue(table)).toBe(expected));

  it.each([
    [{ a: 5, b: 3, c: 9 }, 4, ['b']],
    [{ a: 5, b: 3, c: 9 }, 9, ['b', 'a', 'c']],
    [{ b: 3, a: 3 }, 3, ['a', 'b']],
    [{ a: 5 }, 4, []],
  ])('dueTimers(%j, %d) = %j', (table, now, expected) => expect(dueTimers(table, now)).toEqual(expected));

  it.each([
    ['on time', 100, 10, 100, 110],
    ['a little late', 100, 10, 105, 110],
    ['missed periods are skipped, phase kept', 100, 10, 137, 140],
    ['exactly on a later period', 100, 10, 130, 140],
  ])('reschedule: %s', (_n, due, interval, now, expected) => expect(reschedule(due, interval, now)).toBe(expected));

  it('reschedule rejects a non-positive interval', () => expect(() => reschedule(0, 0, 0)).toThrow(RangeError));

  it.each([
    ['new timers start one interval from now', {}, { a: 10 }, 100, { a: 110 }],
    ['a running timer keeps its due time', { a: 105 }, { a: 10 }, 100, { a: 105 }],
    ['a shortened interval pulls the due time in', { a: 1_000 }, { a: 10 }, 100, { a: 110 }],
    ['a removed timer goes', { a: 105, b: 120 }, { a: 10 }, 100, { a: 105 }],
  ])('syncTimers: %s', (_n, table, intervals, now, expected) =>
    expect(syncTimers(table, intervals, now)).toEqual(expected),
  );
});
