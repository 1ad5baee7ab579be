/**
 * The client's default gRPC retries, remembering the last status they retried. A call that runs
 * out of its deadline while retrying fails with DEADLINE_EXCEEDED ("after 0.000s": the last try
 * began past the deadline), and the error it kept retrying is lost. Nemesis runs C and D of issue
 * 25 lost every host's reports for ~4 s that way. The reachability loop's log names it now.
 */
import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';

/** gRPC status codes the default policy retries, by name. */
const RETRIED: Record<number, string> = {
  2: 'UNKNOWN',
  8: 'RESOURCE_EXHAUSTED',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
};

const DEFAULTS = defaultGrpcRetryOptions();

/** What the server says when it refuses a signal while the run closes (BUSY_WORKFLOW). */
const CLOSING = /workflow is closing/i;

/**
 * The delay before retry `attempt` (1, 2, …). The default policy waits 1.7 s, then 2.9 s, after a
 * RESOURCE_EXHAUSTED: right for a namespace over its rate limit, wrong for a run that refuses
 * signals while it closes. That lasts one workflow task: the run's continue-as-new raced a signal
 * (UNHANDLED_COMMAND) and a worker replays it before it closes again; then the next run takes
 * signals. Nemesis run F lost every host's reports for up to 4 s that way (the first retry fell
 * past the report's 800 ms deadline, and the next round came 2 s later). Such a refusal is retried
 * after 100 ms, growing by half up to 400 ms.
 */
export function retryDelayMs(attempt: number, status: { code: number; details?: string }): number {
  if (status.code === 8 && CLOSING.test(status.details ?? ''))
    return Math.min(400, 100 * 1.5 ** Math.max(0, attempt - 1)) * (0.9 + Math.random() * 0.2);
  return DEFAULTS.delayFunction(attempt, status as Parameters<typeof DEFAULTS.delayFunction>[1]);
}

export interface RetriedStatus {
  code: string;
  details: string;
  at: number;
}

export function recordingRetries(): {
  interceptor: ReturnType<typeof makeGrpcRetryInterceptor>;
  /** The last status retried at or after `since` (epoch ms), if any. */
  lastRetried(since: number): RetriedStatus | undefined;
} {
  let last: RetriedStatus | undefined;
  const interceptor = makeGrpcRetryInterceptor({
    delayFunction: retryDelayMs,
    retryableDecider: (attempt, status) => {
      const retry = DEFAULTS.retryableDecider(attempt, status);
      if (retry) last = { code: RETRIED[status.code] ?? `code ${status.code}`, details: status.details, at: Date.now() };
      return retry;
    },
  });
  return { interceptor, lastRetried: (since) => (last && last.at >= since ? last : undefined) };
}
