import type { Store } from '../../src/store/port.ts';

/** Only the settings half of the store port, in memory: what senders and tokens need in unit tests. */
export function settingsOnlyStore(): Store {
  const values = new Map<string, string>();
  const partial = {
    kind: 'sqlite',
    async getSetting(ws: string, key: string) {
      return values.get(`${ws}/${key}`) ?? null;
    },
    async setSetting(ws: string, key: string, value: string) {
      values.set(`${ws}/${key}`, value);
    },
  };
  return partial as unknown as Store;
}
