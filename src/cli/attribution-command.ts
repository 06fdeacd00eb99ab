/**
 * `concierge attribution --paths FILE.csv --model …`: multi-touch attribution of a
 * pre-aggregated path file (the ChannelAttribution format), printed as a table or as JSON.
 */

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  ATTRIBUTION_MODELS,
  type AttributionModel,
  type AttributionResult,
  attribute,
} from '../measure/attribution.ts';
import { PATH_FILE_COLUMNS, PathFileParser } from '../measure/path-file.ts';
import type { PathTable } from '../measure/path-table.ts';

interface AttributionCommandOptions {
  paths: string;
  model: AttributionModel;
  order?: number;
  halfLife?: number;
  json?: boolean;
}

const MAX_ORDER = 10;

function positiveInteger(flag: string, max: number) {
  return (value: string): number => {
    const n = /^\d+$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(`${flag} must be an integer from 1 to ${max}, got '${value}'`);
    return n;
  };
}

function positiveNumber(flag: string) {
  return (value: string): number => {
    const n = /^(\d+(\.\d*)?|\.\d+)$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
    if (!(n > 0) || !Number.isFinite(n))
      throw new InvalidArgumentError(`${flag} must be a positive number, got '${value}'`);
    return n;
  };
}

/** Reads a path file line by line, so a large file never has to fit in one string. */
export async function readPathFile(file: string): Promise<PathTable> {
  const parser = new PathFileParser(file);
  const input = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) parser.push(line);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`cannot read ${file}: no such file`);
    if (code === 'EISDIR') throw new Error(`cannot read ${file}: it is a directory`);
    if (code === 'EACCES') throw new Error(`cannot read ${file}: permission denied`);
    throw err;
  } finally {
    lines.close();
    input.destroy();
  }
  return parser.finish();
}

const MODEL_TITLES: Record<AttributionModel, string> = {
  first_touch: 'First touch',
  last_touch: 'Last touch',
  linear: 'Linear',
  time_decay: 'Time decay',
  position_based: 'Position based (40/20/40)',
  markov: 'Markov chain removal effect',
};

const fmt = (n: number, digits: number): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The result as an aligned text table. */
export function formatAttributionTable(result: AttributionResult): string {
  const markov = result.model === 'markov';
  let title = MODEL_TITLES[result.model];
  if (markov) title += `, order ${result.order}`;
  if (result.halfLife) title += `, half-life ${result.halfLife.value} ${result.halfLife.unit}`;
  const header = ['channel', 'conversions', 'share', 'value', ...(markov ? ['removal effect'] : [])];
  const total = result.total;
  const share = (c: number) => (total.conversions > 0 ? `${fmt((100 * c) / total.conversions, 1)}%` : '–');
  const rows = result.channels.map((c) => [
    c.channel,
    fmt(c.conversions, 2),
    share(c.conversions),
    fmt(c.value, 2),
    ...(markov ? [fmt(c.removalEffect ?? 0, 4)] : []),
  ]);
  const sum = result.channels.reduce((s, c) => s + c.conversions, 0);
  const sumValue = result.channels.reduce((s, c) => s + c.value, 0);
  const footer = ['total', fmt(sum, 2), share(sum), fmt(sumValue, 2), ...(markov ? [''] : [])];
  const all = [header, ...rows, footer];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const intro =
    `${title}: ${fmt(total.paths, 0)} paths, ${fmt(total.conversions, 0)} conversions, value ${fmt(total.value, 2)}` +
    (result.conversionProbability !== undefined
      ? `; conversion probability ${fmt(result.conversionProbability, 4)}`
      : '');
  return [intro, '', line(header), rule, ...rows.map(line), rule, line(footer), ''].join('\n');
}

/** The result as the JSON document of the contract: `{ model, channels: [{ channel, conversions, value }] }`. */
export function attributionJson(result: AttributionResult): Record<string, unknown> {
  return {
    model: result.model,
    ...(result.order !== undefined ? { order: result.order } : {}),
    ...(result.halfLife !== undefined ? { halfLife: result.halfLife } : {}),
    ...(result.conversionProbability !== undefined
      ? { conversionProbability: result.conversionProbability }
      : {}),
    channels: result.channels.map((c) => ({
      channel: c.channel,
      conversions: c.conversions,
      value: c.value,
      ...(c.removalEffect !== undefined ? { removalEffect: c.removalEffect } : {}),
    })),
    total: result.total,
  };
}

export function attributionCommand(): Command {
  return new Command('attribution')
    .description(
      'Attribute the conversions and value of aggregated customer paths to their channels. FILE has columns ' +
        `${PATH_FILE_COLUMNS.join(',')} (comma- or semicolon-separated), the path being channels joined by ' > '.`,
    )
    .requiredOption('--paths <file>', 'CSV file of aggregated paths')
    .addOption(
      new Option('--model <model>', 'attribution model')
        .choices([...ATTRIBUTION_MODELS])
        .makeOptionMandatory(),
    )
    .option(
      '--order <n>',
      'markov: order of the chain (states are n consecutive channels; default 1)',
      positiveInteger('--order', MAX_ORDER),
    )
    .option(
      '--half-life <n>',
      'time_decay: a touch n touches before the last gets half its weight (default 1)',
      positiveNumber('--half-life'),
    )
    .option('--json', 'print JSON instead of a table')
    .action(async (options: AttributionCommandOptions, command: Command) => {
      if (options.order !== undefined && options.model !== 'markov')
        command.error('error: --order only applies to --model markov');
      if (options.halfLife !== undefined && options.model !== 'time_decay')
        command.error('error: --half-life only applies to --model time_decay');
      const paths = await readPathFile(options.paths);
      const result = attribute(paths, {
        model: options.model,
        ...(options.order !== undefined ? { order: options.order } : {}),
        ...(options.halfLife !== undefined ? { halfLifeTouches: options.halfLife } : {}),
      });
      const text = options.json
        ? `${JSON.stringify(attributionJson(result), null, 2)}\n`
        : formatAttributionTable(result);
      await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
    });
}
