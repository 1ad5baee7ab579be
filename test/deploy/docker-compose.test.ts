/**
 * docker-compose.yml cannot run here (no Docker engine), so it is checked as data: the services a
 * deployment needs, their images and ports, and worker commands that the real worker accepts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { parseWorkerConfig } from '../../src/workers/worker-config';
import { CONTROL_PLANE_DYNAMIC_CONFIG } from '../../scripts/lib/dev-server';

const ROOT = resolve(__dirname, '..', '..');

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, unknown>;
}

const compose = parse(readFileSync(resolve(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const workers = Object.entries(services).filter(([name]) => name.startsWith('worker-'));
const deps = (s: Service) => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));

describe('docker-compose.yml', () => {
  it('names PostgreSQL, Temporal, the Web UI and three workers', () => {
    expect(Object.keys(services).sort()).toEqual([
      'postgresql',
      'temporal',
      'temporal-ui',
      'worker-1',
      'worker-2',
      'worker-3',
    ]);
  });

  it('uses the right images and ports', () => {
    expect(services.postgresql?.image).toMatch(/^postgres:\d+/);
    expect(services.temporal?.image).toMatch(/^temporalio\/auto-setup:\d+\.\d+\.\d+$/);
    expect(services.temporal?.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
    expect(services.temporal?.ports).toContain('7233:7233');
    expect(deps(services.temporal as Service)).toContain('postgresql');
    expect(services['temporal-ui']?.image).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);
    expect(services['temporal-ui']?.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(services['temporal-ui']?.ports).toContain('8233:8080');
  });

  it("gives the server the control plane's dynamic config (timer precision), same as the dev server", () => {
    const t = services.temporal as Service;
    const mount = (t.volumes ?? []).find((v) => v.startsWith('./deploy/dynamicconfig.yaml:')) as string;
    expect(mount).toBeDefined();
    const inContainer = mount.split(':')[1] as string;
    expect(`/etc/temporal/${t.environment?.DYNAMIC_CONFIG_FILE_PATH}`).toBe(inContainer);
    const file = parse(readFileSync(resolve(ROOT, 'deploy/dynamicconfig.yaml'), 'utf8')) as Record<
      string,
      { value: unknown }[]
    >;
    for (const [key, value] of Object.entries(CONTROL_PLANE_DYNAMIC_CONFIG)) expect(file[key]?.[0]?.value).toBe(value);
  });

  it('builds each worker from the repo Dockerfile with its own node id and the server wired', () => {
    expect(existsSync(resolve(ROOT, 'Dockerfile'))).toBe(true);
    const dockerfile = readFileSync(resolve(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/ENTRYPOINT \["node", "--import", "tsx", "src\/workers\/host-worker\.ts"\]/);
    expect(existsSync(resolve(ROOT, 'src/workers/host-worker.ts'))).toBe(true);
    const ids = new Set<string>();
    const hostPorts = new Set<string>();
    expect(workers).toHaveLength(3);
    for (const [name, w] of workers) {
      expect(w.build).toBe('.');
      expect(w.environment?.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(deps(w)).toContain('temporal');
      // The command must be one the real worker accepts.
      const cfg = parseWorkerConfig(w.command ?? [], { ...w.environment });
      expect(cfg.address).toBe(name); // peers reach it by its service name
      ids.add(cfg.nodeId);
      for (const p of w.ports ?? []) {
        const [host, container] = p.split(':');
        expect(Number(container)).toBe(cfg.healthPort);
        hostPorts.add(host as string);
      }
    }
    expect(ids.size).toBe(3);
    expect(hostPorts.size).toBe(3);
  });
});
