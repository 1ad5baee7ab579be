/**
 * Connection settings from the standard Temporal environment variables, shared by the CLI, the
 * client library and the host worker.
 */
import { readFileSync } from 'node:fs';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface ConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

function flag(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = raw.toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  throw new ConfigError(`${name}: expected true or false, got ${JSON.stringify(raw)}`);
}

function file(env: NodeJS.ProcessEnv, name: string): Buffer | undefined {
  const path = env[name];
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${name}: cannot read ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
}

/**
 * TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE (default "default"),
 * TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH / _KEY_PATH,
 * TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME. An API key or any TLS file turns TLS on.
 */
export function connectionSettings(env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const address = env.TEMPORAL_ADDRESS || 'localhost:7233';
  if (!/^[^\s:]+:\d{1,5}$/.test(address)) {
    throw new ConfigError(`TEMPORAL_ADDRESS: expected host:port, got ${JSON.stringify(address)}`);
  }
  const namespace = env.TEMPORAL_NAMESPACE || 'default';
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const crt = file(env, 'TEMPORAL_TLS_CLIENT_CERT_PATH');
  const key = file(env, 'TEMPORAL_TLS_CLIENT_KEY_PATH');
  if (!!crt !== !!key) {
    throw new ConfigError('TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH: expected both or neither');
  }
  const ca = file(env, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  const serverName = env.TEMPORAL_TLS_SERVER_NAME || undefined;
  const tlsFlag = flag(env, 'TEMPORAL_TLS');
  const useTls = tlsFlag ?? !!(apiKey || crt || ca || serverName);
  return {
    address,
    namespace,
    apiKey,
    tls: useTls
      ? {
          serverNameOverride: serverName,
          serverRootCACertificate: ca,
          clientCertPair: crt && key ? { crt, key } : undefined,
        }
      : undefined,
  };
}

/** CLUSTER_ID (default "default"). */
export function clusterIdFrom(env: NodeJS.ProcessEnv = process.env): string {
  const id = env.CLUSTER_ID || 'default';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) {
    throw new ConfigError(`CLUSTER_ID: expected 1-64 letters, digits, "-", "_" or ".", got ${JSON.stringify(id)}`);
  }
  return id;
}
