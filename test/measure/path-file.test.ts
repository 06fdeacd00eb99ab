/**
 * Reading aggregated path files: both separators, quoting, line endings, and one clear error
 * naming the file, line and column for each kind of bad input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectSeparator, PathFileError, parsePathFile } from '../../src/measure/path-file.ts';
import type { PathTable } from '../../src/measure/path-table.ts';

function paths(table: PathTable): string[] {
  const out: string[] = [];
  for (let r = 0; r < table.rows; r++) {
    const channels = [...table.touches.slice(table.offsets[r], table.offsets[r + 1])].map(
      (id) => table.channels[id],
    );
    out.push(`${channels.join('>')}|${table.conversions[r]}|${table.values[r]}|${table.nulls[r]}`);
  }
  return out;
}

function rejects(text: string, message: string | RegExp, line: number, column: string | null = null): void {
  assert.throws(
    () => parsePathFile(text, 'paths.csv'),
    (err: unknown) => {
      assert.ok(err instanceof PathFileError, String(err));
      assert.equal(err.line, line);
      assert.equal(err.column, column);
      if (typeof message === 'string') assert.equal(err.problem, message);
      else assert.match(err.message, message);
      assert.ok(err.message.startsWith(`paths.csv, line ${line}`), err.message);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    },
  );
}

const HEADER = 'path,total_conversions,total_conversion_value,total_null';

describe('path files', () => {
  it('reads comma-separated files', () => {
    const t = parsePathFile(`${HEADER}\na > b,1,2.5,3\nb,0,0,4\n`);
    assert.deepEqual(paths(t), ['a>b|1|2.5|3', 'b|0|0|4']);
    assert.deepEqual(t.channels, ['a', 'b']);
  });

  it('reads semicolon-separated files such as the ChannelAttribution data', () => {
    const t = parsePathFile(
      'path;total_conversions;total_conversion_value;total_null\neta > iota;1;0.244;3\n',
    );
    assert.deepEqual(paths(t), ['eta>iota|1|0.244|3']);
  });

  it('takes the columns in any order, ignores case, extra columns, blank lines, CRLF and a BOM', () => {
    const text =
      '\ufeffTotal_Null,Path,extra,Total_Conversions,Total_Conversion_Value\r\n' +
      '2,"paid search > e-mail, weekly",x,1,9\r\n\r\n' +
      '0,"say ""hi"" > shop",y,3,1e2\r\n';
    assert.deepEqual(paths(parsePathFile(text)), [
      'paid search>e-mail, weekly|1|9|2',
      'say "hi">shop|3|100|0',
    ]);
  });

  it('detects the separator from the header', () => {
    assert.equal(detectSeparator('a;b;c'), ';');
    assert.equal(detectSeparator('a,b,c'), ',');
    assert.equal(detectSeparator('a\tb\tc'), '\t');
    assert.equal(detectSeparator('"x;y",b,c'), ',');
  });

  it('names the missing columns', () => {
    rejects('path,total_conversions\na,1\n', /missing columns 'total_conversion_value', 'total_null'/, 1);
  });

  it('names the line, column and problem of a bad cell', () => {
    rejects(`${HEADER}\na,1,2,3\na,x,2,3\n`, "'x' is not a number", 3, 'total_conversions');
    rejects(`${HEADER}\na,1,,3\n`, 'the cell is empty; expected a number', 2, 'total_conversion_value');
    rejects(`${HEADER}\na,1,2,-3\n`, "'-3' is negative; expected a count of 0 or more", 2, 'total_null');
    rejects(`${HEADER}\na,1,2,1e999\n`, "'1e999' is out of range", 2, 'total_null');
    rejects(`${HEADER}\n,1,2,3\n`, 'the path is empty', 2, 'path');
    rejects(`${HEADER}\na >  > b,1,2,3\n`, "empty channel name in 'a >  > b'", 2, 'path');
  });

  it('names a line with the wrong number of columns or an open quote', () => {
    rejects(`${HEADER}\na,1,2\n`, "expected 4 columns separated by ',', found 3", 2);
    rejects(`${HEADER}\n"a > b,1,2,3\n`, 'a quoted field is not closed on this line', 2);
  });

  it('refuses an empty file', () => {
    rejects('', /the file is empty/, 1);
    rejects('\n\n', /the file is empty/, 2);
  });

  it('accepts a header with no paths', () => {
    assert.equal(parsePathFile(`${HEADER}\n`).rows, 0);
  });
});
