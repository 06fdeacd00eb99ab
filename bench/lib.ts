import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789';
export const WRITE_KEY = 'wk_bench_0123456789';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export interface Server {
  readonly url: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `concierge start` as its own process, as a user would, and waits for /healthz. */
export async function startServer(extraEnv: Record<string, string> = {}, dataDir?: string): Promise<Server> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'concierge-bench-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['bin/concierge.mjs', 'start', '--port', String(port), '--host', '127.0.0.1', '--data', dir],
    {
      env: {
        ...process.env,
        CONCIERGE_ADMIN_TOKEN: ADMIN_TOKEN,
        CONCIERGE_WRITE_KEY: WRITE_KEY,
        LOG_LEVEL: 'warn',
        ...extraEnv,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error('server did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir: dir,
    child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/**
 * Synthetic retail events in Segment's shape: a mix of page, track (e-commerce spec) and identify
 * calls over `users` people, a third of them still anonymous. Cheap to make, so the load generator
 * does not compete with the server for the CPU.
 */
export class EventFactory {
  private n = 0;
  constructor(private readonly users: number) {}

  /** The next event, made a track call (for the single-event /v1/track endpoint). */
  nextTrack(): Record<string, unknown> {
    const m = this.next();
    if (m.type === 'track') return m;
    return {
      ...m,
      type: 'track',
      event: 'Product Viewed',
      properties: { product_id: 'sku-1', price: 19.99 },
      traits: undefined,
      name: undefined,
    };
  }

  next(): Record<string, unknown> {
    const i = this.n++;
    const u = (i * 2654435761) % this.users;
    const known = u % 3 !== 0;
    const ids = known ? { userId: `user-${u}`, anonymousId: `anon-${u}` } : { anonymousId: `anon-${u}` };
    const messageId = randomUUID();
    const timestamp = new Date(Date.UTC(2026, 9, 1) + i * 37).toISOString();
    const context = {
      ip: '203.0.113.7',
      library: { name: 'analytics-node', version: '3.1.0' },
      timezone: 'Europe/Berlin',
    };
    switch (i % 10) {
      case 0:
        return {
          type: 'identify',
          messageId,
          timestamp,
          context,
          ...ids,
          traits: { email: `user-${u}@example.com`, plan: u % 2 ? 'pro' : 'free', city: 'Berlin' },
        };
      case 1:
      case 2:
      case 3:
        return {
          type: 'page',
          messageId,
          timestamp,
          context,
          ...ids,
          name: 'Product',
          properties: { path: `/p/${u % 500}`, referrer: 'https://search.example/' },
        };
      case 9:
        return {
          type: 'track',
          messageId,
          timestamp,
          context,
          ...ids,
          event: 'Order Completed',
          properties: {
            order_id: `o-${i}`,
            revenue: (u % 97) + 0.99,
            currency: 'EUR',
            products: [{ product_id: `sku-${u % 500}`, price: 19.99, quantity: 1 }],
          },
        };
      default:
        return {
          type: 'track',
          messageId,
          timestamp,
          context,
          ...ids,
          event: 'Product Viewed',
          properties: { product_id: `sku-${u % 500}`, price: 19.99, category: 'Running' },
        };
    }
  }
}
