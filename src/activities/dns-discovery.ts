/** DNS discovery strategy: A records (probed on a configured port) and SRV records (target + port). */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Candidate } from '../contracts/node-discovery';

export interface DnsDiscoveryInput {
  names: string[];
  srvNames: string[];
  servers: string[];
  healthPort: number;
  timeoutMs: number;
}

export interface StrategyResult {
  candidates: Candidate[];
  /** Lookups that failed while others succeeded; the strategy still contributes what it found. */
  errors: string[];
}

export async function dnsDiscover(input: DnsDiscoveryInput): Promise<StrategyResult> {
  const resolver = new Resolver({ timeout: input.timeoutMs, tries: 1 });
  if (input.servers.length) resolver.setServers(input.servers);
  const candidates: Candidate[] = [];
  const errors: string[] = [];
  const addressesOf = async (host: string): Promise<string[]> => (isIP(host) ? [host] : resolver.resolve4(host));
  await Promise.all([
    ...input.names.map(async (name) => {
      try {
        for (const address of await addressesOf(name)) {
          candidates.push({ address, healthPort: input.healthPort, sources: ['dns'] });
        }
      } catch (err) {
        errors.push(`A ${name}: ${(err as Error).message}`);
      }
    }),
    ...input.srvNames.map(async (name) => {
      try {
        const records = await resolver.resolveSrv(name);
        await Promise.all(
          records.map(async (rec) => {
            for (const address of await addressesOf(rec.name)) {
              candidates.push({ address, healthPort: rec.port, sources: ['dns'] });
            }
          }),
        );
      } catch (err) {
        errors.push(`SRV ${name}: ${(err as Error).message}`);
      }
    }),
  ]);
  const lookups = input.names.length + input.srvNames.length;
  if (lookups > 0 && errors.length === lookups) throw new Error(`every DNS lookup failed: ${errors.join('; ')}`);
  return { candidates, errors };
}
