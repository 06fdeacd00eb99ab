/**
 * Running the real `concierge` command as a child process, the way a user does, and reading what
 * it left in a data directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { spawnServer, tempDir } from '../helpers/server.ts';

const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'bin/concierge.mjs');

/** Variables that configure the product; removed from the inherited environment so tests start clean. */
const PRODUCT_ENV = [
  'PORT',
  'HOST',
  'CONCIERGE_DATA',
  'CONCIERGE_STORE',
  'LOG_LEVEL',
  'CONCIERGE_ADMIN_TOKEN',
  'CONCIERGE_WRITE_KEY',
  'CONCIERGE_MAX_USER_IDS',
  'CONCIERGE_IDENTIFIER_TRAITS',
  'CONCIERGE_DEBUG',
];

export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of PRODUCT_ENV) delete env[k];
  return { ...env, ...extra };
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The non-empty lines of stderr. */
  readonly errLines: string[];
}

/** Runs `concierge <args>` to completion (killed after `timeoutMs`). */
export function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? ROOT,
      env: cleanEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      done({
        code,
        signal,
        stdout,
        stderr,
        errLines: stderr.split('\n').filter((l) => l.trim() !== ''),
      });
    });
  });
}

/** The summary line of `concierge import`, parsed. */
export interface ImportSummary {
  readonly imported: number;
  readonly alreadyStored: number;
  readonly invalid: number;
}

export function importSummary(stderr: string): ImportSummary {
  const line = stderr.split('\n').find((l) => l.startsWith('imported'));
  if (line === undefined) throw new Error(`no summary line in:\n${stderr}`);
  const m = /^imported (\d+) events \((\d+) already stored, (\d+) invalid/.exec(line);
  if (!m) throw new Error(`unexpected summary line: ${line}`);
  return { imported: Number(m[1]), alreadyStored: Number(m[2]), invalid: Number(m[3]) };
}

/**
 * A data directory that a server has already started on once (and been stopped cleanly), so tests
 * of later commands do not depend on what the first start sets up. Made once per test file and
 * copied for each test.
 */
export class DataDirs {
  private template: string | null = null;
  private readonly made: string[] = [];

  async initialized(): Promise<string> {
    if (this.template === null) {
      const dir = tempDir('concierge-cli-template-');
      this.made.push(dir);
      const server = await spawnServer(dir);
      await server.kill('SIGTERM');
      if (server.child.exitCode !== 0)
        throw new Error(`template server exited with ${server.child.exitCode}`);
      this.template = dir;
    }
    const dir = this.empty();
    cpSync(this.template, dir, { recursive: true });
    return dir;
  }

  empty(): string {
    const dir = tempDir('concierge-cli-');
    this.made.push(dir);
    return dir;
  }

  removeAll(): void {
    for (const d of this.made.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** Opens the embedded store of a data directory read-only and runs `fn` on it. */
export function withDb<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const file = join(dataDir, 'concierge.db');
  if (!existsSync(file)) throw new Error(`no store file at ${file}`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export function eventCount(dataDir: string): number {
  return withDb(dataDir, (db) => (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n);
}

/** The traits of the profile holding a user id, or null if none does. */
export function traitsOfUser(dataDir: string, userId: string): Record<string, unknown> | null {
  return withDb(dataDir, (db) => {
    const row = db
      .prepare(
        `SELECT p.traits FROM identifiers i JOIN profiles p ON p.id = i.profile_id
         WHERE i.kind = 'user_id' AND i.value = ?`,
      )
      .get(userId) as { traits: string } | undefined;
    return row ? (JSON.parse(row.traits) as Record<string, unknown>) : null;
  });
}

/** Waits for a child process to exit; resolves with its exit code and signal. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
}
