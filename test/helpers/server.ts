/**
 * Starting the product for HTTP and end-to-end tests: in this process through `createApp`, or as
 * its own process through the CLI, the way a user runs it. Plus small clients for the tracking
 * and admin APIs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { Clock } from '../../src/core/clock.ts';
import type { Deliverer } from '../../src/journeys/dispatcher.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const WRITE_KEY = 'wk_test_0123456789abcdef';

const ROOT = resolve(import.meta.dirname, '../..');

export function tempDir(prefix = 'concierge-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface InProcessServer {
  readonly url: string;
  readonly app: App;
  readonly dataDir: string;
  /** Closes the app and removes its data directory. */
  close(): Promise<void>;
}

/** Starts the whole product inside this process on a free loopback port. */
export async function startApp(
  options: {
    now?: () => number;
    clock?: Clock;
    dataDir?: string;
    keepData?: boolean;
    /** Null: nothing delivers messages (they wait in the outbox). */
    deliverer?: Deliverer | null;
  } = {},
): Promise<InProcessServer> {
  const dataDir = options.dataDir ?? tempDir();
  const config = loadConfig(
    { data: dataDir, port: '0' },
    { CONCIERGE_ADMIN_TOKEN: ADMIN_TOKEN, CONCIERGE_WRITE_KEY: WRITE_KEY },
  );
  const app = await createApp(config, {
    logger: false,
    ...(options.now ? { now: options.now } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.deliverer !== undefined ? { deliverer: options.deliverer } : {}),
  });
  await app.http.listen({ port: 0, host: '127.0.0.1' });
  const address = app.http.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('server has no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    app,
    dataDir,
    async close() {
      await app.close();
      if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The first port the system hands out for port 0 (Linux's range; 32768 where it cannot be read). */
function firstEphemeralPort(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * A port that is free now, for a test that must name the port it starts a server on. It is picked
 * below the range the system hands out for port 0, so that no other test's server or peer, which
 * all listen on port 0, can take it before the server binds it.
 */
export async function freePort(): Promise<number> {
  const top = firstEphemeralPort();
  for (let attempt = 0; ; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (top - 10_000));
    const free = await new Promise<boolean>((done) => {
      const s = createServer();
      s.once('error', () => done(false));
      s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
    });
    if (free) return port;
    if (attempt === 100) throw new Error('no free port below the ephemeral range');
  }
}

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process wrote to stderr so far (for failure messages). */
  stderr(): string;
  /** Ends the process with the signal and waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Runs `concierge start` on `dataDir` as its own process, on a port the system picks, and waits
 * until it has announced that port and /healthz answers 200 there. (A port found free beforehand
 * can be taken by another test's process before the server binds it; a peer listening there then
 * answered for the server.)
 */
export async function spawnServer(dataDir: string, timeoutMs = 20_000): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/concierge.mjs'), 'start', '--port', '0', '--host', '127.0.0.1', '--data', dataDir],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        CONCIERGE_ADMIN_TOKEN: ADMIN_TOKEN,
        CONCIERGE_WRITE_KEY: WRITE_KEY,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let url = '';
  const server: ServerProcess = {
    get url() {
      return url;
    },
    child,
    stderr: () => err,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${err}`);
    url ||= /Concierge listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)?.[1] ?? '';
    try {
      if (url !== '' && (await fetch(`${url}/healthz`)).status === 200) return server;
    } catch {}
    if (Date.now() > deadline) {
      await server.kill('SIGKILL');
      throw new Error(`server did not become ready: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const basicAuth = (writeKey: string): string =>
  `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;

export interface JsonResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

async function readJson<T>(res: Response): Promise<JsonResponse<T>> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

export interface TrackOptions {
  /** Write key sent with HTTP Basic auth; null sends no Authorization header. */
  readonly writeKey?: string | null;
  readonly headers?: Record<string, string>;
  /** Aborts the request (e.g. `AbortSignal.timeout(ms)`), so a hanging server fails the test. */
  readonly signal?: AbortSignal;
}

/** POSTs a JSON body (or raw bytes/text, sent as is) to a tracking route. */
export async function postTracking<T = unknown>(
  baseUrl: string,
  path: string,
  body: unknown,
  options: TrackOptions = {},
): Promise<JsonResponse<T>> {
  const writeKey = options.writeKey === undefined ? WRITE_KEY : options.writeKey;
  const raw = typeof body === 'string' || body instanceof Uint8Array;
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(writeKey !== null ? { authorization: basicAuth(writeKey) } : {}),
      ...options.headers,
    },
    body: raw ? (body as string | Uint8Array) : JSON.stringify(body),
    signal: options.signal ?? AbortSignal.timeout(30_000),
  });
  return readJson<T>(res);
}

/** Calls the admin API with the admin token. */
export async function admin<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<JsonResponse<T>> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return readJson<T>(res);
}

export interface ProfileBody {
  id: string;
  userIds: string[];
  anonymousIds: string[];
  traits: Record<string, unknown>;
  computed: Record<string, unknown>;
  segments: string[];
  consent: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  [key: string]: unknown;
}

export type StoredEventBody = Record<string, unknown> & {
  type: string;
  messageId: string;
  timestamp: string;
  context: Record<string, unknown>;
};

/** The profile holding an identifier, or null on 404. */
export async function findProfile(
  baseUrl: string,
  kind: 'userId' | 'anonymousId' | 'email',
  value: string,
): Promise<ProfileBody | null> {
  const r = await admin<ProfileBody>(baseUrl, 'GET', `/api/profiles?${kind}=${encodeURIComponent(value)}`);
  if (r.status === 404) return null;
  if (r.status !== 200)
    throw new Error(`profile lookup ${kind}=${value}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Every event on a profile's timeline, newest first (follows the cursor). */
export async function timeline(baseUrl: string, profileId: string): Promise<StoredEventBody[]> {
  const out: StoredEventBody[] = [];
  let before: string | null = null;
  for (;;) {
    const q: string = before === null ? '' : `&before=${encodeURIComponent(before)}`;
    const r = await admin<{ events: StoredEventBody[]; cursor: string | null }>(
      baseUrl,
      'GET',
      `/api/profiles/${encodeURIComponent(profileId)}/events?limit=1000${q}`,
    );
    if (r.status !== 200) throw new Error(`timeline of ${profileId}: ${r.status} ${JSON.stringify(r.body)}`);
    out.push(...r.body.events);
    if (r.body.cursor === null || r.body.events.length === 0) return out;
    before = r.body.cursor;
  }
}

export async function status(baseUrl: string): Promise<{ store: string; events: number; profiles: number }> {
  const r = await admin<{ store: string; events: number; profiles: number }>(baseUrl, 'GET', '/api/status');
  if (r.status !== 200) throw new Error(`status: ${r.status}`);
  // What is stored; the rest of the status (segment engine state) moves on its own.
  return { store: r.body.store, events: r.body.events, profiles: r.body.profiles };
}

/** A unique id for this test run, so ids from different tests never collide. */
let counter = 0;
export const uid = (prefix: string): string =>
  `${prefix}-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
