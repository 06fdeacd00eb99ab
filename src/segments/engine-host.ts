import { Worker } from 'node:worker_threads';
import type { JsonObject } from '../core/event.ts';
import type { ProfileId } from '../core/ids.ts';
import type { CompactCommit, CompactFact } from './compact.ts';
import {
  type ComputedTrait,
  type Condition,
  checkComputedTrait,
  checkSegment,
  type DefinitionError,
} from './definition.ts';
import { SegmentEngine, type Transition } from './engine.ts';
import { Registry } from './registry.ts';

/** Definitions as stored (checked when stored), by key. */
export interface DefinitionSet {
  readonly segments: readonly (readonly [string, unknown])[];
  readonly computed: readonly (readonly [string, unknown])[];
}

/** Compiles a definition set; errors carry paths like `segments.vip.all[0].op`. */
export function compileDefinitions(defs: DefinitionSet): Registry | DefinitionError[] {
  const conditions = new Map<string, Condition>();
  const traits = new Map<string, ComputedTrait>();
  const errors: DefinitionError[] = [];
  const at = (kind: string, key: string, path: string) => `${kind}.${key}${path ? `.${path}` : ''}`;
  for (const [key, d] of defs.segments) {
    const c = checkSegment(d);
    if (c.ok) conditions.set(key, c.value);
    else errors.push(...c.errors.map((e) => ({ ...e, path: at('segments', key, e.path) })));
  }
  for (const [key, d] of defs.computed) {
    const c = checkComputedTrait(d);
    if (c.ok) traits.set(key, c.value);
    else errors.push(...c.errors.map((e) => ({ ...e, path: at('computed', key, e.path) })));
  }
  return errors.length > 0 ? errors : Registry.build(conditions, traits);
}

/** Changes to announce, and when the engine next needs the clock. */
export interface Outcome {
  readonly changes: Changes;
  readonly nextDue: number | null;
}

/**
 * Membership changes as columns, the `i`th change in the `i`th place of each: they cross from the
 * engine's thread to the request thread for about a third of what as many objects cost, on both
 * sides (there are nearly half as many changes as events at full speed). A change's segment is
 * an index into `keys`, which names each segment once.
 */
export interface Changes {
  readonly keys: string[];
  readonly key: number[];
  readonly profiles: ProfileId[];
  readonly entered: boolean[];
  readonly at: number[];
  /** An identity the announcement can carry, when the engine knows one. */
  readonly userIds: (string | null)[];
  readonly anonymousIds: (string | null)[];
}

/** The engine's transitions as `Changes`. */
export function changesOf(transitions: readonly Transition[]): Changes {
  const n = transitions.length;
  const c: Changes = {
    keys: [],
    key: new Array(n),
    profiles: new Array(n),
    entered: new Array(n),
    at: new Array(n),
    userIds: new Array(n),
    anonymousIds: new Array(n),
  };
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const t = transitions[i]!;
    let k = seen.get(t.key);
    if (k === undefined) {
      k = c.keys.length;
      seen.set(t.key, k);
      c.keys.push(t.key);
    }
    c.key[i] = k;
    c.profiles[i] = t.profile;
    c.entered[i] = t.entered;
    c.at[i] = t.at;
    c.userIds[i] = t.userId;
    c.anonymousIds[i] = t.anonymousId;
  }
  return c;
}

export interface EngineStats {
  readonly profiles: number;
  readonly facts: number;
  readonly timers: number;
}

/**
 * The segment engine behind an asynchronous interface, so that it can run in this thread or in a
 * thread of its own. Calls are applied in the order they are made.
 */
export interface EngineHost {
  setDefinitions(defs: DefinitionSet, frozen: readonly string[]): Promise<void>;
  dropFacts(names: readonly string[]): Promise<void>;
  touch(page: readonly (readonly [ProfileId, JsonObject])[]): Promise<void>;
  addFacts(page: readonly CompactFact[], now: number): Promise<void>;
  applyCommit(c: CompactCommit, now: number): Promise<Outcome>;
  /** The silent first evaluation of these segments for every profile; resolves with the count. */
  evaluateAll(keys: readonly string[], now: number): Promise<number>;
  release(keys: readonly string[], now: number): Promise<Outcome>;
  fireDue(now: number): Promise<Outcome>;
  forget(id: ProfileId): Promise<void>;
  members(
    key: string,
    limit: number,
    cursor: string | null,
  ): Promise<{ members: ProfileId[]; cursor: string | null }>;
  size(key: string): Promise<number>;
  sizes(): Promise<Record<string, number>>;
  profileView(id: ProfileId, now: number): Promise<{ segments: string[]; computed: JsonObject }>;
  stats(): Promise<EngineStats>;
  close(): Promise<void>;
}

/** The methods a host forwards, by name: what the worker answers. */
export type HostCall = {
  [K in keyof EngineHost]: EngineHost[K] extends (...args: infer A) => Promise<unknown> ? [K, A] : never;
}[keyof EngineHost];

/** The engine in this thread. */
export class LocalEngineHost implements EngineHost {
  readonly engine = new SegmentEngine(Registry.EMPTY);

  private outcome(transitions: Transition[]): Outcome {
    return { changes: changesOf(transitions), nextDue: this.engine.nextDue() };
  }

  async setDefinitions(defs: DefinitionSet, frozen: readonly string[]): Promise<void> {
    const reg = compileDefinitions(defs);
    if (!(reg instanceof Registry)) throw new Error(`definitions do not compile: ${JSON.stringify(reg)}`);
    this.engine.setRegistry(reg, frozen);
  }
  async dropFacts(names: readonly string[]): Promise<void> {
    this.engine.dropFacts(new Set(names));
  }
  async touch(page: readonly (readonly [ProfileId, JsonObject])[]): Promise<void> {
    for (const [id, traits] of page) this.engine.touch(id, traits);
  }
  async addFacts(page: readonly CompactFact[], now: number): Promise<void> {
    this.engine.addFacts(page, now);
  }
  async applyCommit(c: CompactCommit, now: number): Promise<Outcome> {
    return this.outcome(this.engine.applyCommit(c, now));
  }
  async evaluateAll(keys: readonly string[], now: number): Promise<number> {
    let n = 0;
    for (const done of this.engine.evaluateAll(new Set(keys), now)) n += done;
    return n;
  }
  async release(keys: readonly string[], now: number): Promise<Outcome> {
    return this.outcome(this.engine.release(new Set(keys), now));
  }
  async fireDue(now: number): Promise<Outcome> {
    return this.outcome(this.engine.fireDue(now));
  }
  async forget(id: ProfileId): Promise<void> {
    this.engine.forget(id);
  }
  async members(key: string, limit: number, cursor: string | null) {
    return this.engine.members(key, limit, cursor);
  }
  async size(key: string): Promise<number> {
    return this.engine.size(key);
  }
  async sizes(): Promise<Record<string, number>> {
    return Object.fromEntries(this.engine.registry.segments.map((s) => [s.key, this.engine.size(s.key)]));
  }
  async profileView(id: ProfileId, now: number) {
    return { segments: this.engine.segmentsOf(id), computed: this.engine.computedOf(id, now) };
  }
  async stats(): Promise<EngineStats> {
    return this.engine.stats();
  }
  async close(): Promise<void> {}

  /** Runs one forwarded call (the worker's side of `WorkerEngineHost`). */
  call([method, args]: HostCall): Promise<unknown> {
    return (this[method] as (...a: unknown[]) => Promise<unknown>).apply(this, args);
  }
}

/**
 * The engine in a thread of its own: evaluation then never competes with request handling on the
 * main thread. Arguments and results cross by structured clone; calls keep their order.
 */
export class WorkerEngineHost implements EngineHost {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void }
  >();
  private nextId = 1;
  private failed: Error | null = null;

  constructor() {
    this.worker = new Worker(new URL('../store/sqlite/worker-entry.mjs', import.meta.url), {
      workerData: {
        entry: new URL('./engine-worker.ts', import.meta.url).href,
        threadName: 'segment-engine',
      },
      // The young generation, a third of V8's default (48 MB). Evaluation makes much short-lived
      // garbage, which dies there whatever its size; but each young collection also copies what
      // survives (new facts, which live on), so its pause grows with the generation. Under the
      // segments benchmark 16 MB gave more throughput and no longer pauses than 64 MB
      // (docs/benchmarks.md).
      resourceLimits: { maxYoungGenerationSizeMb: 16 },
    });
    this.worker.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (code !== 0 || this.pending.size > 0)
        fail(new Error(`the segment engine thread exited with code ${code}`));
    });
    this.worker.unref();
  }

  private send<T>(call: HostCall): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, call });
    });
  }

  setDefinitions(defs: DefinitionSet, frozen: readonly string[]) {
    return this.send<void>(['setDefinitions', [defs, frozen]]);
  }
  dropFacts(names: readonly string[]) {
    return this.send<void>(['dropFacts', [names]]);
  }
  touch(page: readonly (readonly [ProfileId, JsonObject])[]) {
    return this.send<void>(['touch', [page]]);
  }
  addFacts(page: readonly CompactFact[], now: number) {
    return this.send<void>(['addFacts', [page, now]]);
  }
  applyCommit(c: CompactCommit, now: number) {
    return this.send<Outcome>(['applyCommit', [c, now]]);
  }
  evaluateAll(keys: readonly string[], now: number) {
    return this.send<number>(['evaluateAll', [keys, now]]);
  }
  release(keys: readonly string[], now: number) {
    return this.send<Outcome>(['release', [keys, now]]);
  }
  fireDue(now: number) {
    return this.send<Outcome>(['fireDue', [now]]);
  }
  forget(id: ProfileId) {
    return this.send<void>(['forget', [id]]);
  }
  members(key: string, limit: number, cursor: string | null) {
    return this.send<{ members: ProfileId[]; cursor: string | null }>(['members', [key, limit, cursor]]);
  }
  size(key: string) {
    return this.send<number>(['size', [key]]);
  }
  sizes() {
    return this.send<Record<string, number>>(['sizes', []]);
  }
  profileView(id: ProfileId, now: number) {
    return this.send<{ segments: string[]; computed: JsonObject }>(['profileView', [id, now]]);
  }
  stats() {
    return this.send<EngineStats>(['stats', []]);
  }
  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
