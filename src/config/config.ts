import { join, resolve } from 'node:path';
import { isIdentifierTraitName } from '../core/identity.ts';
import type { IdentityConfig } from '../store/port.ts';

/** Thrown when a flag or environment variable has a value the product cannot use. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type StoreConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** Everything the server needs, parsed once at start and passed in. */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly store: StoreConfig;
  readonly adminToken: string | null;
  readonly writeKey: string | null;
  readonly logLevel: LogLevel;
  readonly identity: IdentityConfig;
  /** The identity settings given explicitly by flag or environment; they overwrite stored ones. */
  readonly identityOverrides: Partial<IdentityConfig>;
  /** Largest number of events written in one group commit. */
  readonly maxCommitEvents: number;
}

/** Raw values as given on the command line (flags win over environment variables). */
export interface ConfigInput {
  port?: string | undefined;
  host?: string | undefined;
  data?: string | undefined;
  store?: string | undefined;
  logLevel?: string | undefined;
  maxUserIds?: string | undefined;
  identifierTraits?: string | undefined;
}

function integer(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  return n;
}

function pick(flag: string | undefined, env: string | undefined): string | undefined {
  return flag ?? (env === '' ? undefined : env);
}

/** Parses flags and environment variables into a Config, naming the first bad value. */
export function loadConfig(flags: ConfigInput, env: NodeJS.ProcessEnv): Config {
  const portRaw = pick(flags.port, env.PORT);
  const port = portRaw === undefined ? 8787 : integer(flags.port ? '--port' : 'PORT', portRaw, 0, 65535);
  const host = pick(flags.host, env.HOST) ?? '0.0.0.0';
  const dataDir = resolve(pick(flags.data, env.CONCIERGE_DATA) ?? '.concierge');

  const storeRaw = pick(flags.store, env.CONCIERGE_STORE);
  let store: StoreConfig;
  if (storeRaw === undefined || storeRaw === 'sqlite') {
    store = { kind: 'sqlite', path: join(dataDir, 'concierge.db') };
  } else if (/^postgres(ql)?:\/\//.test(storeRaw)) {
    try {
      new URL(storeRaw);
    } catch {
      throw new ConfigError(
        `${flags.store ? '--store' : 'CONCIERGE_STORE'} is not a valid URL: '${storeRaw}'`,
      );
    }
    store = { kind: 'postgres', url: storeRaw };
  } else if (storeRaw.startsWith('sqlite:')) {
    store = { kind: 'sqlite', path: resolve(storeRaw.slice('sqlite:'.length)) };
  } else {
    throw new ConfigError(
      `${flags.store ? '--store' : 'CONCIERGE_STORE'} must be 'sqlite', 'sqlite:FILE' or 'postgres://…', got '${storeRaw}'`,
    );
  }

  const levelRaw = pick(flags.logLevel, env.LOG_LEVEL) ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(levelRaw)) {
    throw new ConfigError(`log level must be one of ${LOG_LEVELS.join(', ')}, got '${levelRaw}'`);
  }

  const maxRaw = pick(flags.maxUserIds, env.CONCIERGE_MAX_USER_IDS);
  const maxUserIdsPerProfile =
    maxRaw === undefined ? 1 : integer('max user ids per profile', maxRaw, 1, 1000);
  const traitsRaw = pick(flags.identifierTraits, env.CONCIERGE_IDENTIFIER_TRAITS);
  const identifierTraits =
    traitsRaw === undefined
      ? ['email']
      : traitsRaw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
  for (const t of identifierTraits) {
    if (!isIdentifierTraitName(t))
      throw new ConfigError(`identifier trait '${t}' is not a usable trait name`);
  }

  const adminToken = env.CONCIERGE_ADMIN_TOKEN || null;
  if (adminToken !== null && adminToken.length < 16) {
    throw new ConfigError('CONCIERGE_ADMIN_TOKEN must be at least 16 characters');
  }
  const writeKey = env.CONCIERGE_WRITE_KEY || null;
  if (writeKey !== null && !/^[\x21-\x7e]{8,256}$/.test(writeKey)) {
    throw new ConfigError('CONCIERGE_WRITE_KEY must be 8 to 256 printable characters without spaces');
  }

  return {
    port,
    host,
    dataDir,
    store,
    adminToken,
    writeKey,
    logLevel: levelRaw as LogLevel,
    identity: { identifierTraits, maxUserIdsPerProfile },
    identityOverrides: {
      ...(traitsRaw !== undefined ? { identifierTraits } : {}),
      ...(maxRaw !== undefined ? { maxUserIdsPerProfile } : {}),
    },
    maxCommitEvents: 5_000,
  };
}
