/**
 * A small Redis client (RESP2 over one TCP connection, pipelined) implementing the client
 * interface BullMQ accepts in place of ioredis, so the journeys benchmark can run BullMQ without
 * adding a Redis driver to the project. It covers what BullMQ's Queue and Worker use: Lua
 * scripts (EVALSHA, falling back to EVAL; loaded once per connection before a pipeline uses them), pipelines and MULTI, the blocking BZPOPMIN on a
 * duplicated connection, and the plain commands. Replies keep ioredis' shapes: bulk strings as
 * strings, integers as numbers, `exec` as `[error, result]` pairs.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';

type Arg = string | number | Buffer | null | undefined;
type Reply = string | number | null | Reply[] | Error;

const CLOSED = 'Connection is closed.';

function encode(args: readonly Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a === null || a === undefined ? '' : String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply from `buf` at `pos`; null when more bytes are needed. */
function parse(buf: Buffer, pos: number): [Reply, number] | null {
  if (pos >= buf.length) return null;
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const type = buf[pos];
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case 0x2b: // +
      return [line, next];
    case 0x2d: // -
      return [new Error(line), next];
    case 0x3a: // :
      return [Number(line), next];
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return [null, next];
      const out: Reply[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (r === null) return null;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    default:
      throw new Error(`unexpected RESP type ${String.fromCharCode(type!)}`);
  }
}

const flat = (args: readonly unknown[]): Arg[] =>
  args.flatMap((a) => (Array.isArray(a) ? flat(a) : [a as Arg]));

interface Pending {
  resolve(r: Reply): void;
  reject(e: Error): void;
}

export interface RespOptions {
  readonly host: string;
  readonly port: number;
}

export class RespClient extends EventEmitter {
  status: 'wait' | 'connecting' | 'ready' | 'end' = 'wait';
  readonly isCluster = false;
  options: Record<string, unknown>;
  private socket: Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending: Pending[] = [];
  private connecting: Promise<void> | null = null;
  private readonly scripts = new Map<string, { keys: number; lua: string; sha: string }>();

  constructor(private readonly opts: RespOptions) {
    super();
    this.options = { host: opts.host, port: opts.port, maxRetriesPerRequest: null };
  }

  connect(): Promise<void> {
    if (this.status === 'ready') return Promise.resolve();
    this.connecting ??= new Promise<void>((resolve, reject) => {
      this.status = 'connecting';
      const s = connect(this.opts.port, this.opts.host);
      s.setNoDelay(true);
      s.on('data', (d: Buffer) => this.onData(d));
      s.once('connect', () => {
        this.socket = s;
        this.status = 'ready';
        this.emit('connect');
        this.emit('ready');
        resolve();
      });
      s.once('error', (err) => {
        this.emit('error', err);
        reject(err);
      });
      s.once('close', () => this.onClose());
    });
    return this.connecting;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let pos = 0;
    for (;;) {
      const r = parse(this.buf, pos);
      if (r === null) break;
      pos = r[1];
      const p = this.pending.shift();
      if (r[0] instanceof Error) p?.reject(r[0]);
      else p?.resolve(r[0]);
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  private onClose(): void {
    this.status = 'end';
    this.socket = null;
    for (const p of this.pending.splice(0)) p.reject(new Error(CLOSED));
    this.emit('close');
    this.emit('end');
  }

  /** Sends one command; resolves with its reply (rejects with a Redis error). */
  async call(...args: Arg[]): Promise<Reply> {
    if (this.status === 'end') throw new Error(CLOSED);
    if (this.status !== 'ready') await this.connect();
    return new Promise<Reply>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket!.write(encode(args));
    });
  }

  /** Sends several commands in one write; one settled result each, in order. */
  async callMany(cmds: readonly Arg[][]): Promise<PromiseSettledResult<Reply>[]> {
    if (this.status === 'end') throw new Error(CLOSED);
    if (this.status !== 'ready') await this.connect();
    const ps = cmds.map(
      () =>
        new Promise<Reply>((resolve, reject) => {
          this.pending.push({ resolve, reject });
        }),
    );
    this.socket!.write(Buffer.concat(cmds.map(encode)));
    return Promise.allSettled(ps);
  }

  disconnect(): void {
    this.status = 'end';
    this.socket?.destroy();
  }

  async quit(): Promise<string> {
    if (this.status !== 'ready') {
      this.disconnect();
      return 'OK';
    }
    const r = await this.call('QUIT').catch(() => 'OK');
    this.socket?.end();
    return String(r);
  }

  duplicate(): RespClient {
    return new RespClient(this.opts);
  }

  // Scripts --------------------------------------------------------------------------------

  defineCommand(name: string, d: { numberOfKeys: number; lua: string }): void {
    const sha = createHash('sha1').update(d.lua).digest('hex');
    this.scripts.set(name, { keys: d.numberOfKeys, lua: d.lua, sha });
  }

  private scriptArgs(name: string, args: readonly unknown[]): { sha: string; lua: string; rest: Arg[] } {
    const s = this.scripts.get(name);
    if (!s) throw new Error(`no script ${name}`);
    return { sha: s.sha, lua: s.lua, rest: [s.keys, ...flat(args)] };
  }

  async runCommand(name: string, args: unknown[]): Promise<Reply> {
    const { sha, lua, rest } = this.scriptArgs(name, args);
    try {
      return await this.call('EVALSHA', sha, ...rest);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return this.call('EVAL', lua, ...rest);
    }
  }

  pipeline(): Transaction {
    return new Transaction(this, false);
  }

  multi(): Transaction {
    return new Transaction(this, true);
  }

  private readonly loaded = new Set<string>();

  /** For a transaction: EVALSHA of a defined script, loaded on this connection first (as ioredis does). */
  async scriptCommand(name: string, args: unknown[]): Promise<Arg[]> {
    const { sha, lua, rest } = this.scriptArgs(name, args);
    if (!this.loaded.has(sha)) {
      await this.call('SCRIPT', 'LOAD', lua);
      this.loaded.add(sha);
    }
    return ['EVALSHA', sha, ...rest];
  }

  // Commands -------------------------------------------------------------------------------

  async hgetall(key: string): Promise<Record<string, string>> {
    const r = (await this.call('HGETALL', key)) as string[];
    const out: Record<string, string> = {};
    for (let i = 0; i < r.length; i += 2) out[r[i]!] = r[i + 1]!;
    return out;
  }
  hget = (key: string, field: string) => this.call('HGET', key, field) as Promise<string | null>;
  hmget = (key: string, ...fields: string[]) =>
    this.call('HMGET', key, ...fields) as Promise<(string | null)[]>;
  hset = (key: string, data: Record<string, string | number>) =>
    this.call('HSET', key, ...Object.entries(data).flat()) as Promise<number>;
  hdel = (key: string, ...fields: string[]) => this.call('HDEL', key, ...fields) as Promise<number>;
  hexists = (key: string, field: string) => this.call('HEXISTS', key, field) as Promise<number>;
  get = (key: string) => this.call('GET', key) as Promise<string | null>;
  set = (key: string, value: string | number, o?: { PX?: number; EX?: number }) =>
    this.call(
      'SET',
      key,
      value,
      ...(o?.PX != null ? ['PX', o.PX] : o?.EX != null ? ['EX', o.EX] : []),
    ) as Promise<string | null>;
  del = (...keys: string[]) => this.call('DEL', ...keys) as Promise<number>;
  zrange = (key: string, a: number, b: number, o?: { WITHSCORES?: boolean }) =>
    this.call('ZRANGE', key, a, b, ...(o?.WITHSCORES ? ['WITHSCORES'] : [])) as Promise<string[]>;
  zrevrange = (key: string, a: number, b: number, o?: { WITHSCORES?: boolean }) =>
    this.call('ZREVRANGE', key, a, b, ...(o?.WITHSCORES ? ['WITHSCORES'] : [])) as Promise<string[]>;
  zcard = (key: string) => this.call('ZCARD', key) as Promise<number>;
  zscore = (key: string, m: string) => this.call('ZSCORE', key, m) as Promise<string | null>;
  lrange = (key: string, a: number, b: number) => this.call('LRANGE', key, a, b) as Promise<string[]>;
  llen = (key: string) => this.call('LLEN', key) as Promise<number>;
  ltrim = (key: string, a: number, b: number) => this.call('LTRIM', key, a, b) as Promise<string>;
  lpos = (key: string, v: string) => this.call('LPOS', key, v) as Promise<number | null>;
  smembers = (key: string) => this.call('SMEMBERS', key) as Promise<string[]>;
  xadd = (
    key: string,
    id: string,
    fields: Record<string, string | number>,
    o?: { MAXLEN?: number; approximate?: boolean },
  ) =>
    this.call(
      'XADD',
      key,
      ...(o?.MAXLEN != null ? ['MAXLEN', ...(o.approximate !== false ? ['~'] : []), o.MAXLEN] : []),
      id,
      ...Object.entries(fields).flat(),
    ) as Promise<string>;
  xread = (streams: { key: string; id: string }[], o?: { BLOCK?: number; COUNT?: number }) =>
    this.call(
      'XREAD',
      ...(o?.BLOCK != null ? ['BLOCK', o.BLOCK] : []),
      ...(o?.COUNT != null ? ['COUNT', o.COUNT] : []),
      'STREAMS',
      ...streams.map((s) => s.key),
      ...streams.map((s) => s.id),
    );
  xtrim = (key: string, strategy: 'MAXLEN', n: number, o?: { approximate?: boolean }) =>
    this.call('XTRIM', key, strategy, ...(o?.approximate !== false ? ['~'] : []), n) as Promise<number>;
  bzpopmin = (key: string, timeout: number) =>
    this.call('BZPOPMIN', key, timeout) as Promise<[string, string, string] | null>;
  info = () => this.call('INFO') as Promise<string>;
  clientSetName = (name: string) => this.call('CLIENT', 'SETNAME', name);
  clientList = () => this.call('CLIENT', 'LIST') as Promise<string>;
  clientInfo = () => this.call('CLIENT', 'INFO') as Promise<string>;
  scan = (cursor: string | number, o: { MATCH?: string; COUNT?: number }) =>
    this.call(
      'SCAN',
      cursor,
      ...(o.MATCH != null ? ['MATCH', o.MATCH] : []),
      ...(o.COUNT != null ? ['COUNT', o.COUNT] : []),
    ) as Promise<[string, string[]]>;
  scanStream(o: { match: string; count?: number }): Readable {
    let cursor = '0';
    const stream: Readable = new Readable({
      objectMode: true,
      read: () => {
        this.scan(cursor, { MATCH: o.match, COUNT: o.count ?? 10 }).then(
          ([next, keys]) => {
            cursor = next;
            // Like ioredis' scanStream: each page of keys as one array.
            if (keys.length > 0) stream.push(keys);
            if (next === '0') stream.push(null);
            else if (keys.length === 0) stream.push([]);
          },
          (err: Error) => stream.destroy(err),
        );
      },
    });
    return stream;
  }
}

/** A pipeline (or MULTI … EXEC) of queued commands. */
class Transaction {
  private readonly cmds: (Arg[] | Promise<Arg[]>)[] = [];
  constructor(
    private readonly client: RespClient,
    private readonly atomic: boolean,
  ) {}

  private add(...args: Arg[]): this {
    this.cmds.push(args);
    return this;
  }
  runCommand(name: string, args: unknown[]): this {
    this.cmds.push(this.client.scriptCommand(name, args));
    return this;
  }
  hgetall = (key: string) => this.add('HGETALL', key);
  hset = (key: string, data: Record<string, string | number>) =>
    this.add('HSET', key, ...Object.entries(data).flat());
  hscan = (key: string, cursor: string | number, o?: { COUNT?: number }) =>
    this.add('HSCAN', key, cursor, ...(o?.COUNT != null ? ['COUNT', o.COUNT] : []));
  smembers = (key: string) => this.add('SMEMBERS', key);
  sscan = (key: string, cursor: string | number, o?: { COUNT?: number }) =>
    this.add('SSCAN', key, cursor, ...(o?.COUNT != null ? ['COUNT', o.COUNT] : []));
  zrange = (key: string, a: number, b: number) => this.add('ZRANGE', key, a, b);
  lrange = (key: string, a: number, b: number) => this.add('LRANGE', key, a, b);
  llen = (key: string) => this.add('LLEN', key);
  del = (...keys: string[]) => this.add('DEL', ...keys);

  async exec(): Promise<[Error | null, unknown][] | null> {
    const cmds = await Promise.all(this.cmds);
    if (!this.atomic) {
      const rs = await this.client.callMany(cmds);
      return rs.map((r) => (r.status === 'fulfilled' ? [null, r.value] : [r.reason as Error, null]));
    }
    const rs = await this.client.callMany([['MULTI'], ...cmds, ['EXEC']]);
    const exec = rs.at(-1)!;
    if (exec.status === 'rejected') throw exec.reason;
    const out = exec.value as Reply[] | null;
    if (out === null) return null;
    return out.map((r) => (r instanceof Error ? [r, null] : [null, r]));
  }
}
