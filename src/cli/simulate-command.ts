/**
 * `concierge simulate`: synthetic retail customers as Segment-spec messages, written as NDJSON
 * (a file or stdout) or sent to a running Concierge server's batch endpoint.
 */

import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { SimulatedMessage } from '../simulate/generator.ts';
import { simulate } from '../simulate/generator.ts';

const DAY = 86_400_000;
const MAX_CUSTOMERS = 10_000_000;
const MAX_DAYS = 3650;
const BATCH_SIZE = 100;
const MAX_IN_FLIGHT = 8;
const WRITE_CHUNK = 256 * 1024;

interface SimulateCommandOptions {
  customers: number;
  seed: number;
  days: number;
  start?: Date;
  out?: string;
  send?: URL;
  writeKey?: string;
}

function integerParser(flag: string, min: number, max: number, what: string) {
  return (value: string): number => {
    const text = value.trim();
    const n = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`${flag} must be ${what}, got '${value}'`);
    if (n > max)
      throw new InvalidArgumentError(
        `${flag} must be at most ${max.toLocaleString('en-US')}, got '${value}'`,
      );
    return n;
  };
}

function parseStart(value: string): Date {
  const text = value.trim();
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new InvalidArgumentError(`--start must be an ISO 8601 date such as 2025-01-01, got '${value}'`);
  }
  return new Date(ms);
}

function parseUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(
      `--send must be an http(s) URL such as http://localhost:3000, got '${value}'`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(
      `--send must be an http(s) URL such as http://localhost:3000, got '${value}'`,
    );
  }
  return url;
}

function parseWriteKey(value: string): string {
  if (value.length === 0 || value.includes(':')) {
    throw new InvalidArgumentError(`--write-key must be a non-empty key without ':', got '${value}'`);
  }
  return value;
}

/** Midnight UTC `days` days before `now`: the period then ends at midnight today. */
export function defaultStart(days: number, now: Date): Date {
  return new Date(Math.floor(now.getTime() / DAY) * DAY - days * DAY);
}

export function simulateCommand(): Command {
  return new Command('simulate')
    .description(
      'Generate synthetic retail customers (browsing, sign-ups, orders, deliveries, reviews, tickets, e-mail, push, ' +
        'store visits, workouts) as Segment-spec messages: NDJSON to a file or stdout, or sent to a server.',
    )
    .option(
      '--customers <n>',
      'number of customers to simulate',
      integerParser('--customers', 1, MAX_CUSTOMERS, 'a positive integer'),
      1000,
    )
    .option(
      '--seed <n>',
      'random seed; the same options give the same output',
      integerParser('--seed', 0, Number.MAX_SAFE_INTEGER, 'a non-negative integer'),
      1,
    )
    .option(
      '--days <n>',
      'length of the simulated period in days',
      integerParser('--days', 1, MAX_DAYS, 'a positive integer'),
      90,
    )
    .option(
      '--start <iso date>',
      'start of the period (default: --days days before today, midnight UTC)',
      parseStart,
    )
    .addOption(new Option('--out <file>', 'write NDJSON to this file (default: stdout)').conflicts('send'))
    .addOption(
      new Option(
        '--send <url>',
        'POST the messages to a Concierge server at <url>/v1/batch instead of writing them',
      )
        .argParser(parseUrl)
        .conflicts('out'),
    )
    .addOption(
      new Option('--write-key <key>', 'write key for --send (HTTP Basic user)').argParser(parseWriteKey),
    )
    .action(async (options: SimulateCommandOptions, command: Command) => {
      if (options.send && !options.writeKey) command.error('error: --send needs --write-key <key>');
      if (options.writeKey && !options.send)
        command.error('error: --write-key is only used with --send <url>');
      const start = options.start ?? defaultStart(options.days, new Date());
      const messages = simulate({
        customers: options.customers,
        seed: options.seed,
        start,
        days: options.days,
      });
      const stats = new Stats();
      const counted = stats.count(messages);
      try {
        if (options.send && options.writeKey) {
          const endpoint = batchEndpoint(options.send);
          const batches = await sendMessages(counted, endpoint, options.writeKey);
          process.stderr.write(
            `${stats.describe(options.customers)} in ${fmt(batches)} batches to ${endpoint.href} in ${stats.elapsed()} ` +
              `(${stats.rate()} events/s)\n`,
          );
        } else {
          const target = options.out && options.out !== '-' ? options.out : undefined;
          const finished = await writeNdjson(counted, target);
          if (!finished) return; // stdout was closed by its reader (e.g. `| head`)
          process.stderr.write(
            `${stats.describe(options.customers)} in ${stats.elapsed()} (${stats.rate()} messages/s)` +
              `${target ? ` to ${target}` : ''}\n`,
          );
        }
      } catch (error) {
        command.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
}

/** Counts messages and remembers the first and last timestamp as they stream past. */
class Stats {
  messages = 0;
  first = '';
  last = '';
  private readonly started = performance.now();

  *count(messages: Iterable<SimulatedMessage>): Generator<SimulatedMessage, void, undefined> {
    for (const message of messages) {
      if (this.messages === 0) this.first = message.timestamp;
      this.last = message.timestamp;
      this.messages++;
      yield message;
    }
  }

  describe(customers: number): string {
    const span = this.messages > 0 ? ` from ${this.first} to ${this.last}` : '';
    return `simulated ${fmt(customers)} customers: ${fmt(this.messages)} messages${span}`;
  }

  elapsed(): string {
    return `${((performance.now() - this.started) / 1000).toFixed(1)} s`;
  }

  rate(): string {
    const seconds = (performance.now() - this.started) / 1000;
    return fmt(Math.round(this.messages / Math.max(seconds, 1e-3)));
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * Writes NDJSON in large chunks, waiting for 'drain' whenever the stream asks to. Resolves false if
 * stdout was closed early by its reader, true once everything was written.
 */
async function writeNdjson(messages: Iterable<SimulatedMessage>, file: string | undefined): Promise<boolean> {
  const out: Writable = file ? createWriteStream(file) : process.stdout;
  let failure: (Error & { code?: string }) | undefined;
  const onError = (error: Error) => {
    failure ??= error;
  };
  out.on('error', onError);
  const check = (): boolean => {
    if (!failure) return true;
    if (!file && failure.code === 'EPIPE') return false;
    throw new Error(
      file ? `cannot write ${file}: ${failure.message}` : `cannot write to stdout: ${failure.message}`,
    );
  };
  const drain = async (): Promise<void> => {
    await new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('error', done);
        out.off('close', done);
        resolve();
      };
      out.on('drain', done);
      out.on('error', done);
      out.on('close', done);
    });
  };
  try {
    let chunk = '';
    for (const message of messages) {
      chunk += `${JSON.stringify(message)}\n`;
      if (chunk.length < WRITE_CHUNK) continue;
      if (!check()) return false;
      const ok = out.write(chunk);
      chunk = '';
      if (!ok) await drain();
    }
    if (!check()) return false;
    if (file) {
      out.end(chunk);
      await once(out, 'close');
    } else if (chunk.length > 0) {
      await new Promise<void>((resolve) => out.write(chunk, () => resolve()));
    }
    return check();
  } finally {
    if (!file) out.off('error', onError);
    else out.destroy();
  }
}

function batchEndpoint(base: URL): URL {
  const url = new URL(base.href);
  if (!url.pathname.endsWith('/v1/batch')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/batch`;
  url.search = '';
  url.hash = '';
  return url;
}

/** POSTs `{"batch": [...]}` bodies of up to 100 messages, up to 8 at a time; returns the number of batches. */
async function sendMessages(
  messages: Iterable<SimulatedMessage>,
  endpoint: URL,
  writeKey: string,
): Promise<number> {
  const authorization = `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined;
  let batches = 0;

  const post = async (body: string): Promise<void> => {
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body,
      });
    } catch (error) {
      throw new Error(`cannot reach ${endpoint.href}: ${describeFetchError(error)}`);
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) {
      const detail = text.replace(/\s+/g, ' ').trim().slice(0, 200);
      throw new Error(
        `${endpoint.href} answered ${response.status} ${response.statusText}${detail ? `: ${detail}` : ''}`,
      );
    }
  };

  const launch = (batch: SimulatedMessage[]): void => {
    batches++;
    const request: Promise<void> = post(JSON.stringify({ batch }))
      .catch((error: unknown) => {
        failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };

  let batch: SimulatedMessage[] = [];
  for (const message of messages) {
    batch.push(message);
    if (batch.length < BATCH_SIZE) continue;
    launch(batch);
    batch = [];
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    if (failure) break;
  }
  if (!failure && batch.length > 0) launch(batch);
  await Promise.all(inFlight);
  if (failure) throw failure;
  return batches;
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: string }).code;
      return code ? `${code} (${cause.message})` : cause.message;
    }
    return error.message;
  }
  return String(error);
}
