import { EVENT_TYPES, type EventType, type JsonObject, type NormalizedEvent } from '../core/event.ts';
import { type NormalizeContext, normalizeMessage } from './normalize.ts';
import { type FieldError, isEventType, type Limits, validateMessage } from './validate.ts';

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An error of a batch's message carries its index; a single message's does not. */
const at = (batch: boolean, index: number, e: FieldError): FieldError => (batch ? { index, ...e } : e);

/**
 * Validates and normalises the messages of one request or import chunk — the one set of checks
 * every input path shares. With `forcedType` (a single-message endpoint) errors carry no index.
 * Callers treat any error as a rejection of the whole set.
 */
export function prepareMessages(
  items: readonly unknown[],
  forcedType: EventType | null,
  ctx: NormalizeContext,
  limits: Limits,
): { events: NormalizedEvent[]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const events: NormalizedEvent[] = [];
  const batch = forcedType === null;
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    if (!isObject(item)) {
      errors.push(at(batch, index, { path: '', message: 'must be a JSON object' }));
      continue;
    }
    const type = forcedType ?? item.type;
    if (!isEventType(type)) {
      errors.push(at(batch, index, { path: 'type', message: `must be one of ${EVENT_TYPES.join(', ')}` }));
      continue;
    }
    if (forcedType !== null && item.type !== undefined && item.type !== forcedType) {
      errors.push({ path: 'type', message: `must be '${forcedType}' on /v1/${forcedType}` });
      continue;
    }
    const found = validateMessage(item, type, limits);
    if (found.length > 0) {
      for (const e of found) errors.push(at(batch, index, e));
      continue;
    }
    const ev = normalizeMessage(item, type, ctx);
    // The stored JSON is a little larger than the message as sent, so only a large stored event
    // needs the exact size of what was sent.
    const max = limits.maxEventBytes;
    if (ev.bodyJson.length * 3 > max && Buffer.byteLength(ev.bodyJson) > max) {
      const bytes = Buffer.byteLength(JSON.stringify(item));
      if (bytes > max) {
        errors.push(at(batch, index, { path: '', message: `event is ${bytes} bytes; the limit is ${max}` }));
        continue;
      }
    }
    if (errors.length === 0) events.push(ev);
  }
  return { events, errors };
}
