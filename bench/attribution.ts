/**
 * Attribution benchmark: Markov chain removal-effect attribution over a million customer paths,
 * made by resampling the rows of the ChannelAttribution example data (10,000 paths, 12
 * channels) with a fixed seed. Measures reading the path file (streamed, as the CLI does), the
 * Markov model at orders 1 to 3, a rule-based model for comparison, and the CLI end to end.
 *
 *   npm run bench:attribution [-- --paths 1000000 --orders 1,2,3 --seed 1]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readPathFile } from '../src/cli/attribution-command.ts';
import { attribute } from '../src/measure/attribution.ts';
import { markovAttribution } from '../src/measure/markov-attribution.ts';
import { fmt } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    paths: { type: 'string', default: '1000000' },
    orders: { type: 'string', default: '1,2,3' },
    seed: { type: 'string', default: '1' },
  },
});
const PATHS = Number(args.paths);
const ORDERS = args.orders.split(',').map(Number);
const SOURCE = resolve(import.meta.dirname, '../../shared/data/channelattribution_Data.csv');

/** mulberry32: a small, fast, seeded generator, so every run benchmarks the same file. */
function random(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

const lines = readFileSync(SOURCE, 'utf8').split('\n');
const header = lines[0]!;
const rows = lines.slice(1).filter((l) => l.trim() !== '');
const next = random(Number(args.seed));
const dir = mkdtempSync(join(tmpdir(), 'concierge-bench-attribution-'));
const file = join(dir, 'paths.csv');
try {
  const out: string[] = [header];
  for (let i = 0; i < PATHS; i++) out.push(rows[Math.floor(next() * rows.length)]!);
  writeFileSync(file, `${out.join('\n')}\n`);
  const mb = statSync(file).size / 1e6;
  console.log(
    `${fmt(PATHS)} paths resampled from ${fmt(rows.length)} rows of ${relative(process.cwd(), SOURCE)} (${fmt(mb, 1)} MB)\n`,
  );

  const results: { step: string; seconds: number; detail: string }[] = [];
  let t0 = performance.now();
  const paths = await readPathFile(file);
  results.push({
    step: 'read path file (streamed)',
    seconds: seconds(t0),
    detail: `${fmt(paths.rows)} paths`,
  });

  t0 = performance.now();
  attribute(paths, { model: 'linear' });
  results.push({ step: 'linear model', seconds: seconds(t0), detail: '' });

  for (const order of ORDERS) {
    t0 = performance.now();
    const m = markovAttribution(paths, { order });
    results.push({
      step: `markov order ${order}`,
      seconds: seconds(t0),
      detail: `${fmt(m.states)} states, P(conversion) ${m.conversionProbability.toFixed(4)}`,
    });
  }

  t0 = performance.now();
  const cli = spawnSync(
    process.execPath,
    ['bin/concierge.mjs', 'attribution', '--paths', file, '--model', 'markov', '--json'],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  if (cli.status !== 0) throw new Error(`concierge attribution failed: ${cli.stderr}`);
  results.push({
    step: 'concierge attribution --model markov (process)',
    seconds: seconds(t0),
    detail: 'read + model + JSON',
  });

  const width = Math.max(...results.map((r) => r.step.length));
  for (const r of results) {
    const rate = `${fmt(PATHS / r.seconds)} paths/s`;
    console.log(
      `${r.step.padEnd(width)}  ${fmt(r.seconds, 2).padStart(7)} s  ${rate.padStart(18)}  ${r.detail}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
