import { isSignalLimitRefusal, isUpdateTaskFailure, retrySignalRefusals } from '../../src/client/refusals';

/** What the client throws when the server refuses a signal past the run's limit (message, then cause). */
const refusal = () =>
  Object.assign(new Error('Failed to signal Workflow'), {
    cause: new Error('3 INVALID_ARGUMENT: exceeded workflow execution limit for signal events'),
  });

describe('signals refused at the per-run limit', () => {
  it('recognises the refusal in the message or its cause, and nothing else', () => {
    expect(isSignalLimitRefusal(refusal())).toBe(true);
    expect(isSignalLimitRefusal(new Error('exceeded workflow execution limit for signal events'))).toBe(true);
    expect(isSignalLimitRefusal(new Error('workflow not found'))).toBe(false);
    expect(isSignalLimitRefusal(undefined)).toBe(false);
  });

  it('sends a refused signal again until the run rolled over', async () => {
    let calls = 0;
    const out = await retrySignalRefusals(async () => {
      calls += 1;
      if (calls < 3) throw refusal();
      return 'sent';
    });
    expect(out).toBe('sent');
    expect(calls).toBe(3);
  });

  it('does not retry any other failure, and gives up after its deadline', async () => {
    let calls = 0;
    await expect(
      retrySignalRefusals(async () => {
        calls += 1;
        throw new Error('workflow not found');
      }),
    ).rejects.toThrow('workflow not found');
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      retrySignalRefusals(async () => {
        calls += 1;
        throw refusal();
      }, 250),
    ).rejects.toThrow('Failed to signal Workflow');
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});

describe('updates refused because their workflow task failed', () => {
  it('are recognised (and a failed update is not)', () => {
    const refused = Object.assign(new Error('Workflow Update failed'), {
      cause: new Error('unexpected workflow task failure'),
    });
    expect(isUpdateTaskFailure(refused)).toBe(true);
    expect(isUpdateTaskFailure(new Error('invalid configure payload: heartbeatIntervalMs: expected number'))).toBe(
      false,
    );
  });
});
