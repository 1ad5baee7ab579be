/**
 * An indirect probe (SWIM): run on a peer's own queue, it checks the suspect's health endpoint
 * from that peer and classifies what it saw for the FailureDetector (src/core/fd/judge.ts).
 */
import type { ProbeEvidenceKind } from '../contracts/failure-detector';
import { checkEndpoint } from './connectivity';

export interface ProbeInput {
  nodeId: string;
  address: string;
  healthPort: number;
  /** The boot the suspicion is about; another boot answering means that one is gone. */
  bootId?: string;
  timeoutMs: number;
}

export interface ProbeResult {
  observer: string;
  evidence: ProbeEvidenceKind;
  latencyMs: number;
  httpStatus?: number;
  bootId?: string;
  error?: string;
}

/** Errors that prove nothing listens at the endpoint: the process is gone (strong evidence). */
const REFUSED = ['ECONNREFUSED'];

export async function probeNode(observer: string, input: ProbeInput): Promise<ProbeResult> {
  const r = await checkEndpoint(
    { address: input.address, healthPort: input.healthPort, nodeId: input.nodeId },
    input.timeoutMs,
    observer,
  );
  const base = { observer, latencyMs: r.latencyMs };
  if (r.ok) {
    const rebooted = input.bootId !== undefined && r.bootId !== undefined && r.bootId !== input.bootId;
    return { ...base, evidence: rebooted ? 'rebooted' : 'answered', httpStatus: r.httpStatus, bootId: r.bootId };
  }
  if (r.errorCode && REFUSED.includes(r.errorCode)) return { ...base, evidence: 'refused', error: r.error };
  if (r.errorCode === 'TIMEOUT') return { ...base, evidence: 'timeout', error: r.error };
  return { ...base, evidence: 'error', error: r.error };
}
