import type { WorkspaceId } from '../core/ids.ts';
import type { ScannedEvent, Store } from './port.ts';

/**
 * Every event of the workspace with one of these names, oldest first, read in pages up to the
 * last event stored when the scan began.
 */
export async function* scanLog(
  store: Store,
  ws: WorkspaceId,
  names: readonly string[],
  page = 10_000,
): AsyncGenerator<ScannedEvent> {
  const upToSeq = await store.maxSeq(ws);
  let afterSeq = 0;
  while (afterSeq < upToSeq) {
    const batch = await store.scanEvents(ws, { afterSeq, upToSeq, limit: page, names });
    yield* batch;
    if (batch.length < page) return;
    afterSeq = batch[batch.length - 1]!.seq;
  }
}
