import { createHash, randomBytes } from 'node:crypto';
import type { WorkspaceId } from '../core/ids.ts';
import type { SourceRecord, Store } from '../store/port.ts';

/** Write keys are long random strings, so one SHA-256 is enough to store them safely. */
export const hashSecret = (key: string): string => createHash('sha256').update(key).digest('hex');

export const newWriteKey = (): string => `wk_${randomBytes(24).toString('base64url')}`;

/** Finds the source of a write key, remembering answers so the hot path does not query the store. */
export class SourceDirectory {
  private readonly known = new Map<string, SourceRecord | null>();

  constructor(private readonly store: Store) {}

  async byWriteKey(key: string): Promise<SourceRecord | null> {
    const hash = hashSecret(key);
    const hit = this.known.get(hash);
    if (hit !== undefined) return hit;
    const found = await this.store.findSourceByWriteKeyHash(hash);
    if (this.known.size > 10_000) this.known.clear();
    this.known.set(hash, found);
    return found;
  }

  /** Creates a source; the write key is returned here and never again. */
  async create(
    ws: WorkspaceId,
    name: string,
    writeKey = newWriteKey(),
  ): Promise<{ source: SourceRecord; writeKey: string }> {
    const source = await this.store.createSource(ws, name, hashSecret(writeKey));
    this.known.delete(hashSecret(writeKey));
    return { source, writeKey };
  }

  /** Keeps a source for a fixed write key (from configuration), creating it once. */
  async ensure(ws: WorkspaceId, name: string, writeKey: string): Promise<SourceRecord> {
    return (await this.byWriteKey(writeKey)) ?? (await this.create(ws, name, writeKey)).source;
  }
}
