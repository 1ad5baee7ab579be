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
  const d = defaultGrpcRetryOptions();
  let last: RetriedStatus | undefined;
  const interceptor = makeGrpcRetryInterceptor({
    delayFunction: d.delayFunction,
    retryableDecider: (attempt, status) => {
      const retry = d.retryableDecider(attempt, status);
      if (retry) last = { code: RETRIED[status.code] ?? `code ${status.code}`, details: status.details, at: Date.now() };
      return retry;
    },
  });
  return { interceptor, lastRetried: (since) => (last && last.at >= since ? last : undefined) };
}
