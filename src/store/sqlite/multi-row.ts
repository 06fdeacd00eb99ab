import type { Database, Statement } from 'better-sqlite3';

/** `(?, ?), (?, ?), …`: `rows` groups of `width` parameters. */
export const placeholders = (width: number, rows: number): string =>
  Array(rows)
    .fill(`(${Array(width).fill('?').join(', ')})`)
    .join(', ');

/**
 * Multi-row `INSERT`s of one shape, prepared once per row count: `head` is the statement up to
 * `VALUES`, and the parameters are `width` per row. Pass them spread (`run(...values)`), not as
 * one array: the driver reads an array's elements one by one through the engine's property API,
 * which made binding a 10-column row about a quarter dearer than binding the same values as
 * arguments.
 */
export function multiRowInsert(
  db: Database,
  head: string,
  width: number,
): (rows: number) => Statement<unknown[]> {
  const byRows: Statement<unknown[]>[] = [];
  return (rows) => (byRows[rows] ??= db.prepare<unknown[]>(`${head} VALUES ${placeholders(width, rows)}`));
}
