import type { StoreConfig } from '../config/config.ts';
import type { RefusalSink } from './apply-events.ts';
import type { Store } from './port.ts';
import { ThreadedSqliteStore } from './sqlite/threaded-sqlite-store.ts';

/** Opens the store the configuration names and brings its schema up to date. */
export async function openStore(config: StoreConfig, onRefused?: RefusalSink): Promise<Store> {
  if (config.kind === 'sqlite') {
    return ThreadedSqliteStore.open({ path: config.path, ...(onRefused ? { onRefused } : {}) });
  }
  const { PostgresStore } = await import('./postgres/postgres-store.ts');
  const store = new PostgresStore({ url: config.url, ...(onRefused ? { onRefused } : {}) });
  await store.migrate();
  return store;
}
