/**
 * `concierge simulate`: its NDJSON passes the same validation as the tracking API (it imports with
 * zero invalid lines), the same seed gives the same bytes, and --send delivers every message to a
 * running server.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnServer, status, WRITE_KEY } from '../helpers/server.ts';
import { DataDirs, eventCount, importSummary, runCli } from './cli.ts';

const dirs = new DataDirs();
after(() => dirs.removeAll());

const lineCount = (file: string): number =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '').length;

/** The message count from simulate's summary line ("simulated N customers: M messages …"). */
function reportedMessages(stderr: string): number {
  const m = /simulated [\d,]+ customers: ([\d,]+) messages/.exec(stderr);
  if (!m?.[1]) throw new Error(`no summary in:\n${stderr}`);
  return Number(m[1].replaceAll(',', ''));
}

describe('concierge simulate', () => {
  it('writes NDJSON that imports with zero invalid lines, and the same seed gives a byte-identical file', async () => {
    const data = await dirs.initialized();
    const first = join(data, 'first.ndjson');
    const second = join(data, 'second.ndjson');
    const args = ['simulate', '--customers', '50', '--days', '10', '--seed', '7', '--start', '2026-01-01'];
    const [a, b] = await Promise.all([runCli([...args, '--out', first]), runCli([...args, '--out', second])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.stdout, '', 'nothing on stdout when writing to a file');
    const lines = lineCount(first);
    assert.ok(lines > 100, `50 customers over 10 days make more than 100 messages (got ${lines})`);
    assert.equal(reportedMessages(a.stderr), lines, 'the summary counts the lines written');
    assert.ok(readFileSync(first).equals(readFileSync(second)), 'same seed, same bytes');

    const imported = await runCli(['import', first, '--data', data]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.deepEqual(importSummary(imported.stderr), { imported: lines, alreadyStored: 0, invalid: 0 });
    assert.equal(eventCount(data), lines);
  });

  it('gives a different file for a different seed', async () => {
    const args = ['simulate', '--customers', '5', '--days', '3', '--start', '2026-01-01'];
    const [a, b] = await Promise.all([runCli([...args, '--seed', '1']), runCli([...args, '--seed', '2'])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.ok(a.stdout.length > 0, 'NDJSON goes to stdout without --out');
    assert.notEqual(a.stdout, b.stdout);
    for (const line of a.stdout.split('\n').filter((l) => l !== '')) {
      const m = JSON.parse(line) as { type?: unknown; messageId?: unknown };
      assert.equal(typeof m.type, 'string');
      assert.equal(typeof m.messageId, 'string');
    }
  });

  it('sends every simulated message to a running server with --send, which stores them all', async () => {
    const data = dirs.empty();
    const server = await spawnServer(data);
    try {
      const r = await runCli([
        'simulate',
        '--customers',
        '20',
        '--days',
        '5',
        '--seed',
        '3',
        '--start',
        '2026-02-01',
        '--send',
        server.url,
        '--write-key',
        WRITE_KEY,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const reported = reportedMessages(r.stderr);
      assert.ok(reported > 0);

      // The same simulation written to a file has exactly as many lines.
      const file = join(data, 'same.ndjson');
      const w = await runCli([
        'simulate',
        '--customers',
        '20',
        '--days',
        '5',
        '--seed',
        '3',
        '--start',
        '2026-02-01',
        '--out',
        file,
      ]);
      assert.equal(w.code, 0, w.stderr);
      assert.equal(lineCount(file), reported);

      assert.equal((await status(server.url)).events, reported, 'every message is stored once');
    } finally {
      await server.kill('SIGTERM');
    }
  });

  it('fails with one clear line when --send is given a wrong write key', async () => {
    const data = dirs.empty();
    const server = await spawnServer(data);
    try {
      const r = await runCli([
        'simulate',
        '--customers',
        '2',
        '--days',
        '1',
        '--send',
        server.url,
        '--write-key',
        'wk_not_a_real_key_123',
      ]);
      assert.notEqual(r.code, 0);
      assert.equal(r.errLines.length, 1, r.stderr);
      assert.match(r.errLines[0] ?? '', /401/);
      assert.equal((await status(server.url)).events, 0);
    } finally {
      await server.kill('SIGTERM');
    }
  });
});
