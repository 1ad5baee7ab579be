/** A member as NodeDiscovery summarises it, for tests that feed agents their membership. */
import type { MemberSummary } from '../../src/contracts/common';

export function memberSummary(nodeId: string, extra: Partial<MemberSummary> = {}): MemberSummary {
  return {
    nodeId,
    status: 'alive',
    health: 'healthy',
    address: '127.0.0.1',
    healthPort: 1,
    zone: 'z',
    incarnation: 1,
    ...extra,
  };
}
