import type { StoreConfig } from '../config/config.ts';
import type { JourneyStore } from './store/port.ts';
import { SqliteJourneyStore } from './store/sqlite-journey-store.ts';

/**
 * The journey store beside the event log: on SQLite a file of its own next to the log's
 * (`concierge.db` → `concierge-journeys.db`), on Postgres the same database.
 */
export async function openJourneyStore(config: StoreConfig, schema?: string): Promise<JourneyStore> {
  if (config.kind === 'sqlite') {
    const path = config.path === ':memory:' ? ':memory:' : journeyPath(config.path);
    const store = new SqliteJourneyStore(path);
    await store.checkpointInBackground();
    return store;
  }
  const { PostgresJourneyStore } = await import('./store/postgres-journey-store.ts');
  return new PostgresJourneyStore({ url: config.url, ...(schema ? { schema } : {}) });
}

export function journeyPath(logPath: string): string {
  return /\.db$/.test(logPath) ? logPath.replace(/\.db$/, '-journeys.db') : `${logPath}-journeys`;
}
