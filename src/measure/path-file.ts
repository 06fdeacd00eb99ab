/**
 * Reading aggregated path files, the format of the ChannelAttribution package: a header row
 * with `path,total_conversions,total_conversion_value,total_null` (comma-, semicolon- or
 * tab-separated, detected from the header), one row per distinct path, the path being channel
 * names joined by ` > `. Fed line by line, so the caller can stream a large file; pure
 * otherwise.
 */

import { PathError, type PathTable, PathTableBuilder } from './path-table.ts';

/** The columns a path file must have. */
export const PATH_FILE_COLUMNS = [
  'path',
  'total_conversions',
  'total_conversion_value',
  'total_null',
] as const;

/** Thrown for a malformed path file; the message names the file, the line and the column. */
export class PathFileError extends Error {
  override name = 'PathFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: string | null,
    readonly problem: string,
  ) {
    super(`${file}, line ${line}${column === null ? '' : `, column '${column}'`}: ${problem}`);
  }
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Splits one CSV line; quoted fields may contain the separator and doubled quotes. */
function splitLine(line: string, sep: string): string[] | 'unterminated' {
  if (!line.includes('"')) return line.split(sep);
  const out: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < line.length) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) {
      out.push(field);
      field = '';
    } else field += ch;
    i++;
  }
  if (quoted) return 'unterminated';
  out.push(field);
  return out;
}

/** The separator of a header line: the most frequent of `,` `;` and tab outside quotes. */
export function detectSeparator(header: string): string {
  const unquoted = header.replace(/"[^"]*"/g, '');
  let best = ',';
  let bestCount = 0;
  for (const sep of [',', ';', '\t']) {
    const count = unquoted.split(sep).length - 1;
    if (count > bestCount) {
      best = sep;
      bestCount = count;
    }
  }
  return best;
}

/**
 * Parses a path file fed one line at a time. Blank lines are skipped; every other problem
 * throws a {@link PathFileError} naming the line and column.
 */
export class PathFileParser {
  private readonly builder = new PathTableBuilder();
  private sep: string | null = null;
  private columnIndex: number[] = [];
  private width = 0;
  private lineNo = 0;
  private readonly ids: number[] = [];

  constructor(private readonly file: string) {}

  /** Feeds the next physical line (without its line break; a trailing `\r` is ignored). */
  push(raw: string): void {
    this.lineNo++;
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.trim() === '') return;
    if (this.sep === null) {
      this.header(line);
      return;
    }
    const fields = splitLine(line, this.sep);
    if (fields === 'unterminated') throw this.error(null, 'a quoted field is not closed on this line');
    if (fields.length !== this.width)
      throw this.error(
        null,
        `expected ${this.width} columns separated by '${printable(this.sep)}', found ${fields.length}`,
      );
    const [pathAt, convAt, valueAt, nullAt] = this.columnIndex as [number, number, number, number];
    const path = fields[pathAt]!;
    this.ids.length = 0;
    let start = 0;
    for (;;) {
      const end = path.indexOf('>', start);
      const channel = (end < 0 ? path.slice(start) : path.slice(start, end)).trim();
      if (channel === '')
        throw this.error(
          'path',
          path.trim() === '' ? 'the path is empty' : `empty channel name in '${path}'`,
        );
      this.ids.push(this.builder.channelId(channel));
      if (end < 0) break;
      start = end + 1;
    }
    const conversions = this.count(fields[convAt]!, PATH_FILE_COLUMNS[1]);
    const value = this.number(fields[valueAt]!, PATH_FILE_COLUMNS[2]);
    const nulls = this.count(fields[nullAt]!, PATH_FILE_COLUMNS[3]);
    try {
      this.builder.addIds(this.ids, conversions, value, nulls);
    } catch (err) {
      if (err instanceof PathError) throw this.error(null, err.message);
      throw err;
    }
  }

  /** The paths read; throws when the file had no header. */
  finish(): PathTable {
    if (this.sep === null)
      throw new PathFileError(
        this.file,
        Math.max(1, this.lineNo),
        null,
        `the file is empty; expected a header row ${PATH_FILE_COLUMNS.join(',')}`,
      );
    return this.builder.build();
  }

  private header(line: string): void {
    const sep = detectSeparator(line);
    const fields = splitLine(line, sep);
    if (fields === 'unterminated') throw this.error(null, 'a quoted field is not closed in the header');
    const names = fields.map((f) => f.trim().toLowerCase());
    const missing = PATH_FILE_COLUMNS.filter((c) => !names.includes(c));
    if (missing.length > 0) {
      throw this.error(
        null,
        `missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} in the header ` +
          `(found ${names.map((n) => `'${n}'`).join(', ')}; separator '${printable(sep)}')`,
      );
    }
    this.sep = sep;
    this.width = fields.length;
    this.columnIndex = PATH_FILE_COLUMNS.map((c) => names.indexOf(c));
  }

  private number(text: string, column: string): number {
    const t = text.trim();
    if (t === '') throw this.error(column, 'the cell is empty; expected a number');
    if (!NUMBER.test(t)) throw this.error(column, `'${t}' is not a number`);
    const n = Number(t);
    if (!Number.isFinite(n)) throw this.error(column, `'${t}' is out of range`);
    return n;
  }

  private count(text: string, column: string): number {
    const n = this.number(text, column);
    if (n < 0) throw this.error(column, `'${text.trim()}' is negative; expected a count of 0 or more`);
    return n;
  }

  private error(column: string | null, problem: string): PathFileError {
    return new PathFileError(this.file, this.lineNo, column, problem);
  }
}

function printable(sep: string): string {
  return sep === '\t' ? '\\t' : sep;
}

/** Parses a whole path file held in memory. */
export function parsePathFile(text: string, file = 'input'): PathTable {
  const parser = new PathFileParser(file);
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if (end < 0) {
      if (start < text.length) parser.push(text.slice(start));
      break;
    }
    parser.push(text.slice(start, end));
    start = end + 1;
  }
  return parser.finish();
}
