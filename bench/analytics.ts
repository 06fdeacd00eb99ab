/**
 * Analytics benchmark: a 4-step funnel (with property filters and a breakdown) and a path query
 * over ten million events, the same funnel in DuckDB over the same data in the same run (results
 * must be identical), and Markov attribution over a million customer paths derived from the log.
 *
 *   npm run bench:analytics [-- --events 10000000 --profiles 1000000 --runs 5 --seed 1]
 *
 * Both engines are timed on data already loaded: ours in its event table (columns grouped by
 * profile), DuckDB in an in-memory table. Load times are printed too. DuckDB uses every core;
 * our query runs on one thread.
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { type EventTable, groupByProfile, type PropertyColumn } from '../src/measure/event-table.ts';
import { checkFunnel, type FunnelResult, funnel } from '../src/measure/funnel.ts';
import { markovAttribution } from '../src/measure/markov-attribution.ts';
import { PathTableBuilder } from '../src/measure/path-table.ts';
import { checkPaths, paths } from '../src/measure/paths.ts';
import { duckFunnel, type FunnelRow, loadDuck } from './analytics-duckdb.ts';
import { CHANNELS, generateWorld, type World } from './analytics-world.ts';
import { fmt, median } from './lib.ts';
import { CATEGORIES } from './retail-world.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    profiles: { type: 'string' },
    runs: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
  },
});
const EVENTS = Number(args.events);
const PROFILES = Number(args.profiles ?? Math.max(1, Math.round(EVENTS / 10)));
const RUNS = Math.max(1, Number(args.runs));
const WINDOW_MS = 7 * 86_400_000;

const FUNNEL = {
  steps: [
    { event: 'Product Viewed', where: [{ property: 'price', op: 'gte', value: 20 }] },
    { event: 'Product Added' },
    { event: 'Checkout Started' },
    { event: 'Order Completed', where: [{ property: 'revenue', op: 'gt', value: 20 }] },
  ],
  window: '7d',
  breakdown: 'category',
};
const PATHS = { from: { event: 'Search Performed' }, steps: 5 };

const now = () => performance.now();

/** A numeric column as a dictionary-coded property column (NaN: missing). */
function numericColumn(values: Float64Array): PropertyColumn {
  const codes = new Int32Array(values.length);
  const dict: unknown[] = [undefined];
  const index = new Map<number, number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    let c = index.get(v);
    if (c === undefined) {
      c = dict.length;
      dict.push(v);
      index.set(v, c);
    }
    codes[i] = c;
  }
  return { codes, values: dict };
}

function tableOf(w: World): EventTable {
  const category = new Int32Array(w.length);
  for (let i = 0; i < w.length; i++) category[i] = w.category[i]! + 1;
  return groupByProfile({
    length: w.length,
    profileIds: Array.from({ length: w.profiles }, (_, p) => `p${p}`),
    profile: w.profile,
    names: w.names,
    name: w.name,
    ts: w.ts,
    columns: new Map([
      ['properties.category', { codes: category, values: [undefined, ...CATEGORIES] }],
      ['properties.price', numericColumn(w.price)],
      ['properties.revenue', numericColumn(w.revenue)],
    ]),
  });
}

/** Our funnel in the shape of the DuckDB rows, for an exact comparison. */
function rowsOf(r: FunnelResult): FunnelRow[] {
  const rows: FunnelRow[] = [
    {
      group: undefined,
      counts: r.steps.map((s) => s.count),
      medians: r.steps.map((s) => s.medianTimeToConvertMs),
    },
  ];
  for (const g of r.breakdown?.groups ?? [])
    rows.push({
      group: g.value as string | null,
      counts: g.steps.map((s) => s.count),
      medians: g.steps.map((s) => s.medianTimeToConvertMs),
    });
  return rows;
}

const byGroup = (rows: FunnelRow[]) =>
  [...rows].sort((a, b) =>
    String(a.group ?? (a.group === null ? '~null' : '')).localeCompare(
      String(b.group ?? (b.group === null ? '~null' : '')),
    ),
  );

/** Per profile: the channels of its sessions up to its first order; converts if it ordered. */
function attributionPaths(w: World) {
  const b = new PathTableBuilder();
  const ids = CHANNELS.map((c) => b.channelId(c));
  const ORDER = w.names.indexOf('Order Completed');
  const touches: number[] = [];
  let i = 0;
  for (let p = 0; p < w.profiles; p++) {
    touches.length = 0;
    let converted = false;
    let value = 0;
    for (; i < w.length && w.profile[i] === p; i++) {
      if (converted) continue;
      const c = w.channel[i]!;
      if (c >= 0) touches.push(ids[c]!);
      if (w.name[i] === ORDER) {
        converted = true;
        value = w.revenue[i]!;
      }
    }
    if (touches.length > 0) b.addIds(touches, converted ? 1 : 0, converted ? value : 0, converted ? 0 : 1);
  }
  return b.build();
}

const results: { step: string; ms: number; detail: string }[] = [];
const record = (step: string, ms: number, detail = '') => {
  results.push({ step, ms, detail });
  console.log(`  ${step}: ${fmt(ms / 1000, 3)} s ${detail}`);
};

console.log(
  `analytics benchmark: ${fmt(EVENTS)} events, ${fmt(PROFILES)} profiles, ${RUNS} runs per query, ${availableParallelism()} cores\n`,
);
let t = now();
const world = generateWorld(EVENTS, PROFILES, Number(args.seed));
record('generate events', now() - t);

t = now();
const table = tableOf(world);
record('load: event table (ours)', now() - t);

t = now();
const duck = await loadDuck(world);
record('load: DuckDB table (appender)', now() - t);

try {
  const checked = checkFunnel(FUNNEL);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  const def = checked.value;

  const oursMs: number[] = [];
  let ours: FunnelResult | null = null;
  for (let r = 0; r < RUNS; r++) {
    t = now();
    ours = funnel(table, def);
    oursMs.push(now() - t);
  }
  const duckMs: number[] = [];
  let theirs: FunnelRow[] = [];
  for (let r = 0; r < RUNS; r++) {
    t = now();
    theirs = await duckFunnel(duck, WINDOW_MS);
    duckMs.push(now() - t);
  }
  const mine = rowsOf(ours!);
  assert.deepEqual(byGroup(mine), byGroup(theirs), 'the funnel differs from DuckDB');
  const overall = ours!.steps;
  record(
    '4-step funnel, ours (median)',
    median(oursMs),
    `runs ${oursMs.map((m) => fmt(m / 1000, 2)).join(' ')} s; ${overall.map((s) => fmt(s.count)).join(' → ')} profiles`,
  );
  record(
    '4-step funnel, DuckDB (median)',
    median(duckMs),
    `runs ${duckMs.map((m) => fmt(m / 1000, 2)).join(' ')} s`,
  );
  console.log(
    `  results identical: ${mine.length} rows (overall + ${mine.length - 1} categories), counts and median times; ours / DuckDB = ${fmt(median(oursMs) / median(duckMs), 2)}`,
  );

  const pathsDef = checkPaths(PATHS);
  if (!pathsDef.ok) throw new Error(JSON.stringify(pathsDef.errors));
  const pathMs: number[] = [];
  let pathResult: ReturnType<typeof paths> | null = null;
  for (let r = 0; r < RUNS; r++) {
    t = now();
    pathResult = paths(table, pathsDef.value);
    pathMs.push(now() - t);
  }
  record(
    'paths from Search Performed, 5 steps (median)',
    median(pathMs),
    `${fmt(pathResult!.profiles)} profiles, ${fmt(pathResult!.distinctPaths)} distinct paths, ${pathResult!.nodes.length} nodes, ${pathResult!.links.length} links`,
  );

  t = now();
  const pathTable = attributionPaths(world);
  record('attribution paths from the log', now() - t, `${fmt(pathTable.rows)} paths`);
  const markovMs: number[] = [];
  let states = 0;
  for (let r = 0; r < RUNS; r++) {
    t = now();
    states = markovAttribution(pathTable, { order: 1 }).states;
    markovMs.push(now() - t);
  }
  record(
    `Markov removal effect, order 1, ${fmt(pathTable.rows)} paths (median)`,
    median(markovMs),
    `${states} states`,
  );
  t = now();
  const order2 = markovAttribution(pathTable, { order: 2 });
  record('Markov removal effect, order 2', now() - t, `${order2.states} states`);
} finally {
  duck.close();
}

console.log('\nsummary');
const width = Math.max(...results.map((r) => r.step.length));
for (const r of results)
  console.log(`${r.step.padEnd(width)}  ${fmt(r.ms / 1000, 3).padStart(8)} s  ${r.detail}`);
