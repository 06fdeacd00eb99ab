/**
 * `concierge attribution` run as a user runs it, on the ChannelAttribution example data: the
 * JSON of the contract, the table, every model, and one clear line for each kind of bad input.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ATTRIBUTION_MODELS } from '../../src/measure/attribution.ts';
import { runCli } from '../cli/cli.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DATA_FILE = resolve(ROOT, '../shared/data/channelattribution_Data.csv');
const TOTAL_CONVERSIONS = 19_785;

const dir = mkdtempSync(join(tmpdir(), 'concierge-attribution-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface JsonOutput {
  model: string;
  channels: { channel: string; conversions: number; value: number; removalEffect?: number }[];
}

describe('concierge attribution', () => {
  it('prints the contract JSON for every model, credits adding up to the conversions', async () => {
    const results = await Promise.all(
      ATTRIBUTION_MODELS.map((model) =>
        runCli(['attribution', '--paths', DATA_FILE, '--model', model, '--json']),
      ),
    );
    for (const [i, r] of results.entries()) {
      const model = ATTRIBUTION_MODELS[i]!;
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as JsonOutput;
      assert.equal(out.model, model);
      assert.equal(out.channels.length, 12);
      const sum = out.channels.reduce((s, c) => s + c.conversions, 0);
      assert.ok(Math.abs(sum - TOTAL_CONVERSIONS) < 1e-6, `${model}: ${sum}`);
      for (const c of out.channels) {
        assert.equal(typeof c.channel, 'string');
        assert.ok(c.conversions >= 0 && c.value >= 0);
        assert.equal('removalEffect' in c, model === 'markov', `${model} removalEffect`);
      }
    }
  });

  it('takes the order of the Markov chain', async () => {
    const r = await runCli([
      'attribution',
      '--paths',
      DATA_FILE,
      '--model',
      'markov',
      '--order',
      '3',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as JsonOutput & { order: number };
    assert.equal(out.order, 3);
    assert.ok(Math.abs(out.channels.reduce((s, c) => s + c.conversions, 0) - TOTAL_CONVERSIONS) < 1e-6);
  });

  it('prints a readable table by default', async () => {
    const r = await runCli(['attribution', '--paths', DATA_FILE, '--model', 'markov']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^Markov chain removal effect, order 1: 10,000 paths, 19,785 conversions/);
    assert.match(r.stdout, /^channel +conversions +share +value +removal effect$/m);
    assert.match(r.stdout, /^alpha +[\d,]+\.\d\d +[\d.]+% +[\d,]+\.\d\d +0\.\d{4}$/m);
    assert.match(r.stdout, /^total +19,785\.00 +100\.0% +[\d,.]+$/m);
  });

  it('reads comma-separated files too', async () => {
    const file = join(dir, 'comma.csv');
    writeFileSync(file, 'path,total_conversions,total_conversion_value,total_null\nA > B,2,20,1\nB,1,5,3\n');
    const r = await runCli(['attribution', '--paths', file, '--model', 'first_touch', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as JsonOutput).channels, [
      { channel: 'A', conversions: 2, value: 20 },
      { channel: 'B', conversions: 1, value: 5 },
    ]);
  });

  it('reports a bad cell as one line naming the file, line and column, with a non-zero exit', async () => {
    const file = join(dir, 'bad.csv');
    writeFileSync(
      file,
      'path;total_conversions;total_conversion_value;total_null\nA > B;2;20;1\nB;one;5;3\n',
    );
    const r = await runCli(['attribution', '--paths', file, '--model', 'linear']);
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.errLines, [
      `concierge: ${file}, line 3, column 'total_conversions': 'one' is not a number`,
    ]);
  });

  it('reports missing columns, a missing file and misused options in one line each', async () => {
    const noColumns = join(dir, 'columns.csv');
    writeFileSync(noColumns, 'path,conversions\nA,1\n');
    const cases: [string[], RegExp][] = [
      [['--paths', noColumns, '--model', 'linear'], /line 1: missing columns 'total_conversions'/],
      [['--paths', join(dir, 'nope.csv'), '--model', 'linear'], /cannot read .*nope\.csv: no such file/],
      [['--paths', DATA_FILE, '--model', 'linear', '--order', '2'], /--order only applies to --model markov/],
      [
        ['--paths', DATA_FILE, '--model', 'markov', '--half-life', '2'],
        /--half-life only applies to --model time_decay/,
      ],
      [
        ['--paths', DATA_FILE, '--model', 'markov', '--order', '0'],
        /--order must be an integer from 1 to 10/,
      ],
      [['--paths', DATA_FILE, '--model', 'shapley'], /argument 'shapley' is invalid/],
      [['--paths', DATA_FILE], /required option '--model <model>' not specified/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['attribution', ...args])));
    for (const [i, r] of results.entries()) {
      assert.notEqual(r.code, 0, cases[i]![0].join(' '));
      assert.equal(r.errLines.length, 1, r.stderr);
      assert.match(r.errLines[0]!, cases[i]![1]);
    }
  });

  it('explains itself with --help', async () => {
    const r = await runCli(['attribution', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--paths <file>/);
    assert.match(r.stdout, /first_touch.*last_touch.*linear.*time_decay.*position_based.*markov/s);
  });
});
