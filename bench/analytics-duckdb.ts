/**
 * The analytics benchmark's yardstick: the same log loaded into DuckDB (in memory, all cores) and
 * the same funnel written the way an analyst would, with ASOF joins finding the earliest next
 * step after each start. (An ASOF join matches a row whose key is NULL too, so a step after a
 * missed one is set to NULL explicitly.)
 */
import {
  BIGINT,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBValue,
  INTEGER,
  VARCHAR,
} from '@duckdb/node-api';
import type { World } from './analytics-world.ts';
import { CATEGORIES } from './retail-world.ts';

export interface Duck {
  readonly connection: DuckDBConnection;
  close(): void;
}

/** Loads the log into a DuckDB table `events(profile, name, ts, category, price, revenue)`. */
export async function loadDuck(w: World): Promise<Duck> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(
    'CREATE TABLE events (profile INTEGER, name VARCHAR, ts BIGINT, category VARCHAR, price DOUBLE, revenue DOUBLE)',
  );
  const appender = await connection.createAppender('events');
  const types = [INTEGER, VARCHAR, BIGINT, VARCHAR, DOUBLE, DOUBLE];
  const CHUNK = 2048;
  const cols: DuckDBValue[][] = types.map(() => new Array<DuckDBValue>(CHUNK));
  for (let start = 0; start < w.length; start += CHUNK) {
    const n = Math.min(CHUNK, w.length - start);
    for (const c of cols) c.length = n;
    for (let k = 0; k < n; k++) {
      const i = start + k;
      cols[0]![k] = w.profile[i]!;
      cols[1]![k] = w.names[w.name[i]!]!;
      cols[2]![k] = BigInt(w.ts[i]!);
      const cat = w.category[i]!;
      cols[3]![k] = cat < 0 ? null : CATEGORIES[cat]!;
      const price = w.price[i]!;
      cols[4]![k] = Number.isNaN(price) ? null : price;
      const revenue = w.revenue[i]!;
      cols[5]![k] = Number.isNaN(revenue) ? null : revenue;
    }
    const chunk = DuckDBDataChunk.create(types, n);
    chunk.setColumns(cols);
    appender.appendDataChunk(chunk);
  }
  appender.closeSync();
  return { connection, close: () => connection.closeSync() };
}

/** One group's answer: counts per step and median times from step 1, in ms. */
export interface FunnelRow {
  readonly group: string | null | undefined;
  readonly counts: number[];
  readonly medians: (number | null)[];
}

/**
 * The 4-step funnel of the benchmark in SQL. `group` is `undefined` for the overall row and the
 * category (or null) for the breakdown rows.
 */
export async function duckFunnel(duck: Duck, windowMs: number): Promise<FunnelRow[]> {
  const sql = `
    WITH
      s1 AS (SELECT profile, ts AS t1, category AS bd FROM events
             WHERE name = 'Product Viewed' AND price >= 20),
      e2 AS (SELECT profile, ts FROM events WHERE name = 'Product Added'),
      e3 AS (SELECT profile, ts FROM events WHERE name = 'Checkout Started'),
      e4 AS (SELECT profile, ts FROM events WHERE name = 'Order Completed' AND revenue > 20),
      a2 AS (SELECT s1.*, CASE WHEN e2.ts <= s1.t1 + ${windowMs} THEN e2.ts END AS t2
             FROM s1 ASOF LEFT JOIN e2 ON s1.profile = e2.profile AND s1.t1 < e2.ts),
      a3 AS (SELECT a2.*, CASE WHEN a2.t2 IS NOT NULL AND e3.ts <= a2.t1 + ${windowMs} THEN e3.ts END AS t3
             FROM a2 ASOF LEFT JOIN e3 ON a2.profile = e3.profile AND a2.t2 < e3.ts),
      a4 AS (SELECT a3.*, CASE WHEN a3.t3 IS NOT NULL AND e4.ts <= a3.t1 + ${windowMs} THEN e4.ts END AS t4
             FROM a3 ASOF LEFT JOIN e4 ON a3.profile = e4.profile AND a3.t3 < e4.ts),
      best AS (
        SELECT *, 1 + (t2 IS NOT NULL)::INT + (t3 IS NOT NULL)::INT + (t4 IS NOT NULL)::INT AS depth
        FROM a4
        QUALIFY row_number() OVER (
          PARTITION BY profile
          ORDER BY (t2 IS NOT NULL)::INT + (t3 IS NOT NULL)::INT + (t4 IS NOT NULL)::INT DESC, t1
        ) = 1)
    SELECT GROUPING(bd) AS overall, bd,
      count(*) AS c1,
      count(*) FILTER (WHERE depth >= 2) AS c2,
      count(*) FILTER (WHERE depth >= 3) AS c3,
      count(*) FILTER (WHERE depth >= 4) AS c4,
      median(t2 - t1) AS m2, median(t3 - t1) AS m3, median(t4 - t1) AS m4
    FROM best
    GROUP BY GROUPING SETS ((), (bd))`;
  const reader = await duck.connection.runAndReadAll(sql);
  return reader.getRowObjects().map((row) => ({
    group: Number(row.overall) === 1 ? undefined : (row.bd as string | null),
    counts: [row.c1, row.c2, row.c3, row.c4].map(Number),
    medians: [null, row.m2, row.m3, row.m4].map((m) => (m === null ? null : Number(m))),
  }));
}
