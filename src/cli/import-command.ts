import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import { parse as parseCsv } from 'csv-parse';
import { loadConfig } from '../config/config.ts';
import type { JsonObject, NormalizedEvent } from '../core/event.ts';
import { asSourceId, DEFAULT_WORKSPACE, type SourceId } from '../core/ids.ts';
import { IdentitySettings } from '../ingest/identity-settings.ts';
import { IngestService } from '../ingest/ingest-service.ts';
import type { NormalizeContext } from '../ingest/normalize.ts';
import { prepareMessages } from '../ingest/prepare.ts';
import { hashSecret } from '../ingest/sources.ts';
import { DEFAULT_LIMITS, type FieldError } from '../ingest/validate.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/port.ts';
import { Progress } from './progress.ts';
import { runningServer } from './server-lock.ts';
import { storeOptions } from './store-options.ts';

/** One line (NDJSON) or row (CSV) of the input, already turned into a Segment message. */
interface Item {
  readonly line: number;
  readonly message: unknown;
  readonly parseError?: string;
}

const CHUNK = 2000;
const IMPORT_SOURCE_SETTING = 'import_source_id';

/** Reads NDJSON: one Segment message per line; blank lines are skipped. */
async function* ndjsonItems(path: string, onBytes: (n: number) => void): AsyncGenerator<Item> {
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  for await (const text of rl) {
    line++;
    onBytes(Buffer.byteLength(text) + 1);
    if (text.trim() === '') continue;
    try {
      const message = JSON.parse(text) as unknown;
      if (typeof message === 'object' && message !== null && !Array.isArray(message)) {
        const m = message as JsonObject;
        // A stable id per line makes a re-run of the same file store nothing twice.
        if (m.messageId === undefined)
          m.messageId = `import-${createHash('sha1').update(text).digest('hex')}`;
      }
      yield { line, message };
    } catch (err) {
      yield { line, message: null, parseError: `not valid JSON: ${(err as Error).message}` };
    }
  }
}

/** A CSV cell as a trait value: numbers and booleans that round-trip exactly, otherwise the text. */
function cell(v: string): unknown {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v !== '' && String(Number(v)) === v) return Number(v);
  return v;
}

/** The separator of a CSV file, from its header line: the most frequent of `,` `;` and tab. */
function detectSeparator(path: string): string {
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(64 * 1024);
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  const header = buf.subarray(0, n).toString('utf8').split(/\r?\n/)[0] ?? '';
  const unquoted = header.replace(/"[^"]*"/g, '');
  const counts = [',', ';', '\t'].map((c) => [c, unquoted.split(c).length - 1] as const);
  return counts.reduce((best, c) => (c[1] > best[1] ? c : best))[0];
}

/** Reads a CSV of profiles (header row; `userId`/`user_id`, `anonymousId`, other columns are traits). */
async function* csvProfiles(path: string, onBytes: (n: number) => void): AsyncGenerator<Item> {
  const input = createReadStream(path);
  input.on('data', (chunk) => onBytes(chunk.length));
  // A bad row is reported by its line and the rest of the file is still read.
  const skipped: Item[] = [];
  const parser = input.pipe(
    parseCsv({
      columns: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      delimiter: detectSeparator(path),
      info: true,
      skip_records_with_error: true,
      on_skip: (err) => {
        const line = typeof err?.lines === 'number' ? err.lines : 0;
        skipped.push({ line, message: null, parseError: `CSV error: ${err?.message ?? 'unreadable row'}` });
        return undefined;
      },
    }),
  );
  let line = 1;
  try {
    for await (const { info, record: row } of parser as AsyncIterable<{
      info: { lines: number };
      record: Record<string, string>;
    }>) {
      yield* skipped.splice(0);
      line = info.lines;
      const traits: JsonObject = {};
      let userId: string | undefined;
      let anonymousId: string | undefined;
      let timestamp: string | undefined;
      for (const [k, v] of Object.entries(row)) {
        if (v === '') continue;
        const key = k.trim();
        if (key === 'userId' || key === 'user_id') userId = v;
        else if (key === 'anonymousId' || key === 'anonymous_id') anonymousId = v;
        else if (key === 'timestamp') timestamp = v;
        else traits[key] = cell(v);
      }
      const message: JsonObject = { type: 'identify', traits };
      if (userId !== undefined) message.userId = userId;
      if (anonymousId !== undefined) message.anonymousId = anonymousId;
      if (timestamp !== undefined) message.timestamp = timestamp;
      message.messageId = `import-${createHash('sha1').update(JSON.stringify(row)).digest('hex')}`;
      yield { line, message };
    }
    yield* skipped.splice(0);
  } catch (err) {
    yield { line: line + 1, message: null, parseError: `CSV error: ${(err as Error).message}` };
  }
}

async function importSource(store: Store, writeKey: string | undefined): Promise<SourceId> {
  const ws = DEFAULT_WORKSPACE;
  await store.ensureWorkspace(ws, 'Default workspace');
  if (writeKey !== undefined) {
    const s = await store.findSourceByWriteKeyHash(hashSecret(writeKey));
    if (!s) throw new Error('unknown --write-key');
    return s.id;
  }
  const id = await store.getSetting(ws, IMPORT_SOURCE_SETTING);
  if (id !== null) return asSourceId(id);
  const s = await store.createSource(ws, 'Import', hashSecret(randomBytes(24).toString('hex')));
  await store.setSetting(ws, IMPORT_SOURCE_SETTING, s.id);
  return s.id;
}

interface Rejection {
  line: number;
  errors: FieldError[];
}

export function importCommand(): Command {
  return storeOptions(
    new Command('import')
      .description('Import Segment-format events (NDJSON) or profiles (CSV with --type identify)')
      .argument('<file>', 'NDJSON file of Segment messages, or CSV of profiles')
      .option('--type <type>', "'events' (NDJSON, default) or 'identify' (CSV of profiles)", (v) => {
        if (v !== 'events' && v !== 'identify')
          throw new InvalidArgumentError("must be 'events' or 'identify'");
        return v;
      })
      .option('--write-key <key>', 'store the events under this source (default: a source named Import)')
      .option(
        '--skip-invalid',
        'import the valid lines and report the invalid ones (default: import nothing if any is invalid)',
      ),
  ).action(async (file: string, opts: Record<string, string | boolean | undefined>) => {
    const config = loadConfig(opts as Record<string, string | undefined>, process.env);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new Error(`cannot read ${file}`);
    }
    if (config.store.kind === 'sqlite') {
      const other = runningServer(config.dataDir);
      if (other) {
        throw new Error(
          `a server (pid ${other.pid}) is running on ${config.dataDir}; stop it first, or send the events to it over HTTP (POST /v1/batch)`,
        );
      }
    }
    const kind = opts.type === 'identify' ? 'identify' : 'events';
    const read = (onBytes: (n: number) => void) =>
      kind === 'identify' ? csvProfiles(file, onBytes) : ndjsonItems(file, onBytes);
    const store = await openStore(config.store);
    try {
      const sourceId = await importSource(store, opts.writeKey as string | undefined);
      const ctx = (receivedAt: number): NormalizeContext => ({
        workspaceId: DEFAULT_WORKSPACE,
        sourceId,
        receivedAt,
        newMessageId: () => `import-${randomBytes(12).toString('hex')}`,
      });

      // An archived message keeps its own receive time; without one, its timestamp is taken as
      // is — correcting skew against the time of the import would move history to today.
      const importContext = (message: unknown, at: number): NormalizeContext => {
        const received = (message as { receivedAt?: unknown } | null)?.receivedAt;
        const ms = typeof received === 'string' ? Date.parse(received) : Number.NaN;
        return Number.isFinite(ms) ? ctx(ms) : { ...ctx(at), correctSkew: false };
      };

      const check = (chunk: Item[], rejected: Rejection[]): NormalizedEvent[] => {
        const good: NormalizedEvent[] = [];
        const at = Date.now();
        for (const item of chunk) {
          if (item.parseError !== undefined) {
            rejected.push({ line: item.line, errors: [{ path: '', message: item.parseError }] });
            continue;
          }
          const { events, errors } = prepareMessages(
            [item.message],
            null,
            importContext(item.message, at),
            DEFAULT_LIMITS,
          );
          if (errors.length > 0)
            rejected.push({ line: item.line, errors: errors.map(({ index: _i, ...e }) => e) });
          else good.push(...events);
        }
        return good;
      };

      // Pass 1: check every line, so an invalid file imports nothing.
      const rejected: Rejection[] = [];
      let bytes = 0;
      let lines = 0;
      const checking = new Progress('checking ', size);
      let chunk: Item[] = [];
      for await (const item of read((n) => (bytes += n))) {
        chunk.push(item);
        lines++;
        if (chunk.length >= CHUNK) {
          check(chunk, rejected);
          chunk = [];
          checking.update(bytes, lines, 'lines');
        }
      }
      check(chunk, rejected);
      checking.update(size, lines, 'lines', true);
      checking.finish();

      const report = () => {
        for (const r of rejected.slice(0, 20)) {
          const e = r.errors[0]!;
          process.stderr.write(`  line ${r.line}: ${e.path ? `${e.path} ` : ''}${e.message}\n`);
        }
        if (rejected.length > 20) process.stderr.write(`  … and ${rejected.length - 20} more\n`);
      };
      if (rejected.length > 0 && !opts.skipInvalid) {
        process.stderr.write(`${rejected.length} of ${lines} lines are invalid; nothing was imported:\n`);
        report();
        throw new Error('import rejected (fix the lines above, or pass --skip-invalid)');
      }

      // Pass 2: store, a chunk per commit, several chunks queued so commits stay full.
      const identity = new IdentitySettings(store, config.identity);
      await identity.load(DEFAULT_WORKSPACE, config.identityOverrides);
      const ingest = new IngestService(store, (w) => identity.get(w), { maxCommitEvents: 20_000 });
      const importing = new Progress('importing', size);
      let stored = 0;
      let duplicates = 0;
      let sent = 0;
      bytes = 0;
      const inFlight = new Set<Promise<void>>();
      const started = performance.now();
      const send = async (events: NormalizedEvent[]) => {
        const o = await ingest.submit(events);
        stored += o.stored;
        duplicates += o.duplicates;
      };
      chunk = [];
      const flush = async () => {
        const events = check(chunk, []);
        chunk = [];
        if (events.length === 0) return;
        sent += events.length;
        const p = send(events).finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= 8) await Promise.race(inFlight);
      };
      for await (const item of read((n) => (bytes += n))) {
        chunk.push(item);
        if (chunk.length >= CHUNK) {
          await flush();
          importing.update(bytes, sent, 'events');
        }
      }
      await flush();
      await Promise.all(inFlight);
      importing.update(size, sent, 'events', true);
      importing.finish();
      const secs = (performance.now() - started) / 1000;
      process.stderr.write(
        `imported ${stored} events (${duplicates} already stored, ${rejected.length} invalid lines skipped) in ${secs.toFixed(1)} s · ${Math.round(sent / secs).toLocaleString('en')} events/s\n`,
      );
      if (rejected.length > 0) report();
    } finally {
      await store.close();
    }
  });
}
