/**
 * Graceful shutdown of `concierge start`: SIGTERM under a steady stream of /v1/batch requests.
 * Requests the server has already received are finished (200, and their events are on disk after
 * a restart); later ones are refused; nothing is acknowledged that was not stored; exit code 0.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, describe, it } from 'node:test';
import { basicAuth, spawnServer, status, WRITE_KEY } from '../helpers/server.ts';
import { DataDirs, withDb } from './cli.ts';

const dirs = new DataDirs();
after(() => dirs.removeAll());

const CLIENTS = 6;
const EVENTS_PER_REQUEST = 20;
/** Send SIGTERM once this many requests were acknowledged. */
const SIGNAL_AFTER_ACKS = 30;
const SLOW_REQUESTS = 3;

type Outcome = { kind: 'status'; status: number } | { kind: 'connection'; code: string };

interface Sent {
  readonly id: string;
  readonly messageIds: readonly string[];
  readonly startedBeforeSignal: boolean;
  outcome?: Outcome;
  endedAfterSignal?: boolean;
}

const run = Math.random().toString(36).slice(2, 8);

function batchBody(id: string): { body: string; messageIds: string[] } {
  const batch = Array.from({ length: EVENTS_PER_REQUEST }, (_, k) => ({
    type: 'track',
    messageId: `${id}-e${k}`,
    userId: `shutdown-user-${k % 7}`,
    event: 'Product Viewed',
    properties: { k },
    timestamp: new Date(Date.UTC(2026, 1, 1) + k).toISOString(),
  }));
  return { body: JSON.stringify({ batch }), messageIds: batch.map((e) => e.messageId) };
}

function connectionCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? String(err);
}

/**
 * A batch whose headers and first half reach the server now and whose second half is sent once
 * `release` resolves: a request that is certainly in flight while the signal arrives.
 */
function slowBatch(
  url: string,
  body: string,
  release: Promise<void>,
): { headersSent: Promise<void>; done: Promise<Outcome> } {
  let markSent = () => {};
  const headersSent = new Promise<void>((r) => {
    markSent = r;
  });
  const done = new Promise<Outcome>((resolveOutcome) => {
    const req = request(`${url}/v1/batch`, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        authorization: basicAuth(WRITE_KEY),
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolveOutcome({ kind: 'status', status: res.statusCode ?? 0 }));
    });
    req.on('error', (err) => resolveOutcome({ kind: 'connection', code: connectionCode(err) }));
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half), () => markSent());
    void release.then(() => req.end(body.slice(half)));
  });
  return { headersSent, done };
}

describe('graceful shutdown of concierge start', () => {
  it('finishes the requests in flight at SIGTERM, stores what it acknowledged, refuses later requests and exits 0', async (t) => {
    const data = dirs.empty();
    const server = await spawnServer(data);
    const { url } = server;
    const sent: Sent[] = [];
    let signalled = false;
    let signalAt = 0;
    let acks = 0;
    let releaseSlow = () => {};
    const slowRelease = new Promise<void>((r) => {
      releaseSlow = r;
    });
    const slow: { sent: Sent; done: Promise<Outcome> }[] = [];

    const exit = new Promise<{ code: number | null; at: number }>((r) =>
      server.child.once('exit', (code) => r({ code, at: Date.now() })),
    );

    const signal = async (): Promise<void> => {
      // Three requests whose bodies are only half sent when the signal arrives.
      for (let i = 0; i < SLOW_REQUESTS; i++) {
        const id = `${run}-slow${i}`;
        const { body, messageIds } = batchBody(id);
        const s: Sent = { id, messageIds, startedBeforeSignal: true };
        const req = slowBatch(url, body, slowRelease);
        sent.push(s);
        slow.push({ sent: s, done: req.done });
        await req.headersSent;
      }
      await new Promise((r) => setTimeout(r, 100));
      signalled = true;
      signalAt = Date.now();
      server.child.kill('SIGTERM');
      // The rest of their bodies arrives while the server is draining.
      setTimeout(releaseSlow, 300);
    };

    let signalling: Promise<void> | null = null;
    let ended: { code: number | null; at: number } = { code: null, at: Number.NaN };
    const client = async (c: number): Promise<void> => {
      for (let n = 0; Date.now() - (signalAt || Date.now()) < 10_000; n++) {
        const id = `${run}-c${c}-r${n}`;
        const { body, messageIds } = batchBody(id);
        const s: Sent = { id, messageIds, startedBeforeSignal: !signalled };
        sent.push(s);
        try {
          const res = await fetch(`${url}/v1/batch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: basicAuth(WRITE_KEY) },
            body,
            signal: AbortSignal.timeout(15_000),
          });
          await res.arrayBuffer();
          s.outcome = { kind: 'status', status: res.status };
          s.endedAfterSignal = signalled;
          if (res.status === 200 && ++acks >= SIGNAL_AFTER_ACKS && signalling === null) signalling = signal();
          if (res.status !== 200 && !signalled) throw new Error(`unexpected ${res.status} before the signal`);
        } catch (err) {
          if (!signalled) throw err;
          s.outcome = { kind: 'connection', code: connectionCode(err) };
          s.endedAfterSignal = true;
          // Once the server has refused a connection, this client stops.
          return;
        }
      }
    };

    try {
      await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
      await signalling;
      const slowOutcomes = await Promise.all(slow.map((s) => s.done));
      slow.forEach((s, i) => {
        s.sent.outcome = slowOutcomes[i];
        s.sent.endedAfterSignal = true;
      });
      ended = await exit;
    } finally {
      await server.kill('SIGKILL');
    }

    // Restart on the same directory and read what is stored.
    const again = await spawnServer(data);
    let stored: Set<string>;
    try {
      stored = withDb(
        data,
        (db) =>
          new Set(
            (db.prepare('SELECT message_id FROM events').all() as { message_id: string }[]).map(
              (r) => r.message_id,
            ),
          ),
      );
      assert.equal((await status(again.url)).events, stored.size);
    } finally {
      await again.kill('SIGTERM');
    }

    const inFlight = sent.filter((s) => s.startedBeforeSignal && s.endedAfterSignal);
    const outcomes = new Map<string, number>();
    for (const s of sent) {
      assert.ok(s.outcome, `request ${s.id} got an outcome`);
      const key = s.outcome.kind === 'status' ? String(s.outcome.status) : s.outcome.code;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    t.diagnostic(
      `${sent.length} requests, ${inFlight.length} in flight at SIGTERM; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; ${stored.size} events stored; exited ${ended.at - signalAt} ms after SIGTERM with code ${ended.code}`,
    );

    for (const s of slow) {
      assert.deepEqual(
        s.sent.outcome,
        { kind: 'status', status: 200 },
        `half-sent request ${s.sent.id} is finished`,
      );
    }
    assert.ok(inFlight.length >= SLOW_REQUESTS);
    for (const s of sent) {
      const present = s.messageIds.filter((m) => stored.has(m)).length;
      const o = s.outcome;
      assert.ok(o);
      if (o.kind === 'status') {
        assert.ok(o.status === 200 || o.status === 503, `request ${s.id}: unexpected status ${o.status}`);
        if (o.status === 200)
          assert.equal(
            present,
            s.messageIds.length,
            `request ${s.id} was acknowledged, so all its events are stored`,
          );
        else
          assert.equal(present, 0, `request ${s.id} was refused with 503, so none of its events are stored`);
      } else {
        assert.ok(
          present === 0 || present === s.messageIds.length,
          `request ${s.id} is partly stored (${present}/${s.messageIds.length})`,
        );
      }
    }

    // Last, so a slow or failed exit does not hide what was (not) stored.
    const exitMs = ended.at - signalAt;
    assert.ok(exitMs < 5_000, `exited ${exitMs} ms after SIGTERM (expected within 5 s)`);
    assert.equal(ended.code, 0, `exit code 0 after SIGTERM:\n${server.stderr()}`);
  });
});
