/**
 * `concierge start` and the command line as a whole: bad configuration stops it with one clear
 * line, the first start prints a generated admin token and write key exactly once, and every
 * command has --help.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { basicAuth, freePort } from '../helpers/server.ts';
import { CLI, cleanEnv, DataDirs, exited, runCli } from './cli.ts';

const dirs = new DataDirs();
after(() => dirs.removeAll());

/** Runs async jobs at most `limit` at a time, keeping the order of the results. */
async function limited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

interface BadConfig {
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  /** What the error line must mention (the setting's name and, unless secret, the bad value). */
  readonly mentions: readonly (string | RegExp)[];
  /** Text that must not appear (a secret). */
  readonly hides?: string;
}

const BAD_CONFIGS: readonly BadConfig[] = [
  { args: ['--port', 'abc'], mentions: ['--port', "'abc'"] },
  { args: ['--port', '70000'], mentions: ['--port', '70000'] },
  { args: [], env: { PORT: '-1' }, mentions: [/\bPORT\b/, '-1'] },
  { args: ['--store', 'mysql://x'], mentions: ['--store', 'mysql://x'] },
  { args: ['--log-level', 'loud'], mentions: [/log.level/i, 'loud'] },
  {
    args: [],
    env: { CONCIERGE_ADMIN_TOKEN: 'short' },
    mentions: ['CONCIERGE_ADMIN_TOKEN', '16'],
    hides: 'short',
  },
  { args: ['--max-user-ids', '0'], mentions: [/max.user.ids/i, '0'] },
  { args: [], env: { CONCIERGE_WRITE_KEY: 'has a space' }, mentions: ['CONCIERGE_WRITE_KEY'] },
];

/** A `concierge start` running in the background, with everything it printed so far. */
interface Started {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `concierge start` without CONCIERGE_ADMIN_TOKEN / CONCIERGE_WRITE_KEY and waits until it has said where it listens. */
async function startPlain(dataDir: string): Promise<Started> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, 'start', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir, '--log-level', 'warn'],
    { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const started: Started = {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited(child);
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`start exited with ${child.exitCode}: ${out}`);
    if (/listening on/i.test(out)) {
      try {
        if ((await fetch(`${started.url}/healthz`)).status === 200) return started;
      } catch {}
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited(child);
      throw new Error(`start did not become ready: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

const adminStatus = async (url: string, token: string): Promise<number> =>
  (await fetch(`${url}/api/status`, { headers: { authorization: `Bearer ${token}` } })).status;

const track = async (url: string, writeKey: string, messageId: string): Promise<number> =>
  (
    await fetch(`${url}/v1/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basicAuth(writeKey) },
      body: JSON.stringify({ userId: 'first-start-user', event: 'Signed Up', messageId }),
    })
  ).status;

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe('concierge start', () => {
  it('stops with one clear line and a non-zero exit, without starting, on each bad configuration value', async () => {
    const results = await limited(BAD_CONFIGS, 3, async (bad) => {
      const data = join(dirs.empty(), 'data');
      const r = await runCli(['start', '--host', '127.0.0.1', '--data', data, ...bad.args], {
        env: bad.env ?? {},
        timeoutMs: 20_000,
      });
      return { bad, data, r };
    });
    for (const { bad, data, r } of results) {
      const what = `${bad.args.join(' ')} ${JSON.stringify(bad.env ?? {})}`;
      assert.equal(r.signal, null, `${what}: exited on its own instead of serving`);
      assert.notEqual(r.code, 0, `${what}: non-zero exit`);
      assert.equal(r.errLines.length, 1, `${what}: exactly one line:\n${r.stderr}`);
      const line = r.errLines[0] ?? '';
      assert.match(line, /^concierge: /, what);
      for (const m of bad.mentions) {
        if (typeof m === 'string') assert.ok(line.includes(m), `${what}: '${line}' mentions ${m}`);
        else assert.match(line, m, what);
      }
      if (bad.hides) assert.ok(!line.includes(bad.hides), `${what}: the secret is not echoed`);
      assert.equal(r.stdout, '', `${what}: nothing on stdout`);
      assert.ok(!existsSync(data), `${what}: no data directory was created`);
    }
  });

  it('prints a generated admin token and write key on the first start only, and both keep working after a restart', async () => {
    const data = join(dirs.empty(), 'data');
    const first = await startPlain(data);
    let token: string;
    let writeKey: string;
    try {
      const out = first.output();
      const tokenMatch = /admin token[^\n]*?:\s*(\S+)\s*$/im.exec(out);
      const keyMatch = /write key[^\n]*?:\s*(\S+)\s*$/im.exec(out);
      assert.ok(tokenMatch?.[1], `prints an admin token:\n${out}`);
      assert.ok(keyMatch?.[1], `prints a write key:\n${out}`);
      token = tokenMatch[1];
      writeKey = keyMatch[1];
      assert.equal(occurrences(out, token), 1, 'the token is printed once');
      assert.equal(occurrences(out, writeKey), 1, 'the write key is printed once');

      assert.equal(await adminStatus(first.url, token), 200, 'the printed token opens the admin API');
      assert.equal(await adminStatus(first.url, 'not-the-token-0123456789'), 401);
      assert.equal(
        await track(first.url, writeKey, 'first-start-1'),
        200,
        'the printed write key is accepted',
      );
      assert.equal(await track(first.url, 'wk_wrong_0123456789', 'first-start-2'), 401);
    } finally {
      const ended = await first.stop();
      assert.equal(ended.code, 0, `first start exits 0 on SIGTERM:\n${first.output()}`);
    }

    const second = await startPlain(data);
    try {
      // The banner is written in one piece right after listening; give it a moment to be read.
      await new Promise((r) => setTimeout(r, 200));
      const out = second.output();
      assert.doesNotMatch(out, /admin token/i, `no token on the second start:\n${out}`);
      assert.doesNotMatch(out, /write key/i, `no write key on the second start:\n${out}`);
      assert.ok(!out.includes(token) && !out.includes(writeKey), 'the secrets are not printed again');
      assert.equal(await adminStatus(second.url, token), 200, 'the first token still works');
      assert.equal(
        await track(second.url, writeKey, 'second-start-1'),
        200,
        'the first write key still works',
      );
      const s = (await (
        await fetch(`${second.url}/api/status`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as { events: number };
      assert.equal(s.events, 2, 'events from both runs are kept');
    } finally {
      const ended = await second.stop();
      assert.equal(ended.code, 0, second.output());
    }
  });

  it('refuses to start a second server on a data directory already in use, with one clear line', async () => {
    const data = join(dirs.empty(), 'data');
    const first = await startPlain(data);
    try {
      const port = await freePort();
      const r = await runCli(['start', '--port', String(port), '--host', '127.0.0.1', '--data', data], {
        timeoutMs: 20_000,
      });
      assert.equal(r.signal, null, 'exited on its own');
      assert.notEqual(r.code, 0);
      assert.equal(r.errLines.length, 1, r.stderr);
      assert.match(r.errLines[0] ?? '', /^concierge: .*(already|running|in use)/i);
      assert.equal((await fetch(`${first.url}/healthz`)).status, 200, 'the first server keeps running');
    } finally {
      await first.stop();
    }
  });

  it('stops with one clear line when the port is already taken', async () => {
    const data = join(dirs.empty(), 'data');
    const first = await startPlain(data);
    try {
      const port = new URL(first.url).port;
      const r = await runCli(
        ['start', '--port', port, '--host', '127.0.0.1', '--data', join(dirs.empty(), 'other')],
        { timeoutMs: 20_000 },
      );
      assert.equal(r.signal, null, 'exited on its own');
      assert.notEqual(r.code, 0);
      assert.equal(r.errLines.length, 1, r.stderr);
      assert.match(r.errLines[0] ?? '', new RegExp(`^concierge: .*${port}`));
    } finally {
      await first.stop();
    }
  });

  it('fails with a line saying what is wrong when the database file is not a SQLite database', async () => {
    const data = dirs.empty();
    writeFileSync(join(data, 'concierge.db'), 'this is not a database, just some text\n'.repeat(200));
    const events = join(dirs.empty(), 'one.ndjson');
    writeFileSync(events, '{"type":"track","userId":"u","event":"e","messageId":"m"}\n');
    const port = await freePort();
    const [start, imp] = await Promise.all([
      runCli(['start', '--port', String(port), '--host', '127.0.0.1', '--data', data], { timeoutMs: 20_000 }),
      runCli(['import', events, '--data', data], { timeoutMs: 20_000 }),
    ]);
    for (const [name, r] of [
      ['start', start],
      ['import', imp],
    ] as const) {
      assert.equal(r.signal, null, `${name} exited on its own`);
      assert.notEqual(r.code, 0, `${name} exits non-zero`);
      const last = r.errLines.at(-1) ?? '';
      assert.match(last, /^concierge: /, `${name}: ${r.stderr}`);
      assert.doesNotMatch(last, /\[object Object\]/, `${name} names the problem: '${last}'`);
      assert.match(last, /not a database|concierge\.db/i, `${name} names the problem: '${last}'`);
    }
  });

  it('shows help listing its options for every command, exiting 0', async () => {
    const expected: Record<string, readonly string[]> = {
      start: [
        '--port',
        '--host',
        '--data',
        '--store',
        '--log-level',
        '--max-user-ids',
        '--identifier-traits',
      ],
      import: ['--type', '--skip-invalid', '--write-key', '--data', '--store'],
      simulate: ['--customers', '--seed', '--days', '--start', '--out', '--send', '--write-key'],
    };
    const commands = Object.keys(expected);
    const [top, ...each] = await limited([[], ...commands.map((c) => [c])], 2, (c) =>
      runCli([...c, '--help']),
    );
    assert.ok(top);
    assert.equal(top.code, 0, top.stderr);
    for (const c of commands)
      assert.match(top.stdout, new RegExp(`^\\s+${c}\\b`, 'm'), `top help lists ${c}`);
    commands.forEach((c, i) => {
      const r = each[i];
      assert.ok(r);
      assert.equal(r.code, 0, `${c} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Usage: concierge ${c}`));
      for (const opt of expected[c] ?? []) assert.ok(r.stdout.includes(opt), `${c} --help lists ${opt}`);
    });
  });

  it('exits non-zero naming the command when the command is unknown', async () => {
    const r = await runCli(['frobnicate']);
    assert.notEqual(r.code, 0);
    assert.match(r.errLines[0] ?? '', /unknown command 'frobnicate'/);
    assert.doesNotMatch(r.stderr, /\bat .+:\d+:\d+/, 'no stack trace');
  });

  it('exits non-zero with a clear line when import is given no file', async () => {
    const r = await runCli(['import']);
    assert.notEqual(r.code, 0);
    assert.match(r.errLines[0] ?? '', /missing.*argument.*file/i);
  });
});
