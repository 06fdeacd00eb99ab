import type { StoreConfig } from '../config/config.ts';
import type { RefusalSink } from './apply-events.ts';
import type { Store } from './port.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

/** Opens the store the configuration names and brings its schema up to date. */
export async function openStore(config: StoreConfig, onRefused?: RefusalSink): Promise<Store> {
  if (config.kind === 'sqlite') {
    const store = new SqliteStore({ path: config.path, ...(onRefused ? { onRefused } : {}) });
    await store.migrate();
    return store;
  }
  const { PostgresStore } = await import('./postgres/postgres-store.ts');
  const store = new PostgresStore({ url: config.url, ...(onRefused ? { onRefused } : {}) });
  await store.migrate();
  return store;
}
