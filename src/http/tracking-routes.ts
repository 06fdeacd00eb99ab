import { randomUUID } from 'node:crypto';
import { gunzipSync, inflateSync } from 'node:zlib';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { EVENT_TYPES, type EventType, type JsonObject, type NormalizedEvent } from '../core/event.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { NormalizeContext } from '../ingest/normalize.ts';
import { prepareMessages } from '../ingest/prepare.ts';
import {
  BatchEnvelope,
  BatchRequest,
  MESSAGE_SCHEMAS,
  TrackingError,
  TrackingSuccess,
} from '../ingest/schemas.ts';
import type { SourceDirectory } from '../ingest/sources.ts';
import { describeError, type Limits, validateEnvelope } from '../ingest/validate.ts';
import type { SourceRecord } from '../store/port.ts';
import type { ApiDocs } from './api-docs.ts';
import { trackingError } from './errors.ts';
import type { Metrics } from './metrics.ts';

export interface TrackingLimits extends Limits {
  readonly maxRequestBytes: number;
}

export interface TrackingDeps {
  readonly ingest: IngestService;
  readonly sources: SourceDirectory;
  readonly metrics: Metrics;
  readonly docs: ApiDocs;
  readonly limits: TrackingLimits;
  readonly now: () => number;
}

const checkBatch = TypeCompiler.Compile(BatchEnvelope);
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads the write key from HTTP Basic auth (user name, or password when the user is empty). */
function basicWriteKey(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h || !/^basic /i.test(h)) return null;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const pass = colon < 0 ? '' : decoded.slice(colon + 1);
  return user || pass || null;
}

function decodeBody(req: FastifyRequest, limit: number): string {
  const raw = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0)
    throw trackingError(400, [{ path: '', message: 'body is empty' }]);
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  let buf = raw;
  try {
    if (encoding === 'gzip') buf = gunzipSync(raw, { maxOutputLength: limit + 1 });
    else if (encoding === 'deflate') buf = inflateSync(raw, { maxOutputLength: limit + 1 });
    else if (encoding !== 'identity') {
      throw trackingError(415, [{ path: '', message: `unsupported content-encoding '${encoding}'` }]);
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw trackingError(413, [{ path: '', message: `decompressed body is larger than ${limit} bytes` }]);
    }
    if (err instanceof Error && err.name === 'HttpError') throw err;
    throw trackingError(400, [{ path: '', message: `body is not valid ${encoding} data` }]);
  }
  if (buf.length > limit) {
    throw trackingError(413, [
      { path: '', message: `request body is ${buf.length} bytes; the limit is ${limit}` },
    ]);
  }
  return buf.toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw trackingError(400, [{ path: '', message: `body is not valid JSON: ${(err as Error).message}` }]);
  }
}

function prepare(
  items: readonly unknown[],
  forcedType: EventType | null,
  ctx: NormalizeContext,
  limits: Limits,
): NormalizedEvent[] {
  const { events, errors } = prepareMessages(items, forcedType, ctx, limits);
  if (errors.length > 0) throw trackingError(400, errors);
  return events;
}

/** Counts a request's events by type: one counter update per type, not per event. */
function countByType(events: readonly NormalizedEvent[], metrics: Metrics): void {
  const counts = new Map<EventType, number>();
  for (const ev of events) counts.set(ev.type, (counts.get(ev.type) ?? 0) + 1);
  for (const [type, n] of counts) metrics.eventsReceived.inc({ type }, n);
}

/** The Segment-compatible tracking API: /v1/identify, track, page, screen, group, alias, batch. */
export async function trackingRoutes(app: FastifyInstance, deps: TrackingDeps): Promise<void> {
  const { limits, metrics } = deps;

  await app.register(async (scope) => {
    // Segment clients send JSON with various content types (text/plain from beacons), maybe gzipped.
    scope.removeAllContentTypeParsers();
    // A body sent without any content type (curl -d, some HTTP clients) is read as JSON too.
    // Browser SDKs post from the site's own origin: the write key is public by design, so any
    // origin may call the tracking API (CORS).
    scope.addHook('onRequest', async (req, reply) => {
      if (req.headers['content-type'] === undefined) req.headers['content-type'] = 'application/json';
      reply.header('access-control-allow-origin', '*');
    });
    scope.options('/v1/*', async (_req, reply) =>
      reply
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'Content-Type, Authorization, Content-Encoding')
        .header('access-control-max-age', '86400')
        .status(204)
        .send(),
    );
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: limits.maxRequestBytes },
      (_req, body, done) => done(null, body),
    );

    const authenticate = async (req: FastifyRequest, body: unknown): Promise<SourceRecord> => {
      const key =
        basicWriteKey(req) ?? (isObject(body) && typeof body.writeKey === 'string' ? body.writeKey : null);
      if (key === null) {
        metrics.requestsRejected.inc({ reason: 'no_write_key' });
        throw trackingError(401, [
          { path: '', message: 'missing write key: use HTTP Basic auth with the write key as user name' },
        ]);
      }
      const source = await deps.sources.byWriteKey(key);
      if (source === null) {
        metrics.requestsRejected.inc({ reason: 'unknown_write_key' });
        throw trackingError(401, [{ path: '', message: 'unknown write key' }]);
      }
      return source;
    };

    const accept = async (req: FastifyRequest, type: EventType | null) => {
      const started = performance.now();
      const receivedAt = deps.now();
      // Authenticate before parsing when the key is in the header, so bad keys cost nothing.
      const headerKey = basicWriteKey(req) !== null;
      let source = headerKey ? await authenticate(req, null) : null;
      let body: unknown;
      try {
        body = parseJson(decodeBody(req, limits.maxRequestBytes));
      } catch (err) {
        metrics.requestsRejected.inc({ reason: 'malformed' });
        throw err;
      }
      source ??= await authenticate(req, body);
      if (!isObject(body)) {
        metrics.requestsRejected.inc({ reason: 'invalid' });
        throw trackingError(400, [{ path: '', message: 'body must be a JSON object' }]);
      }
      let events: NormalizedEvent[];
      try {
        const ctx: NormalizeContext = {
          workspaceId: source.workspaceId,
          sourceId: source.id,
          receivedAt,
          newMessageId: randomUUID,
        };
        if (type !== null) {
          events = prepare([body], type, ctx, limits);
        } else {
          if (!checkBatch.Check(body)) {
            const e = checkBatch.Errors(body).First();
            const path = e ? e.path.split('/').slice(1).join('.') : '';
            const message = !path || path === 'batch' ? 'must be an array of messages' : describeError(e!);
            throw trackingError(400, [{ path: path || 'batch', message }]);
          }
          const b = body as {
            batch: unknown[];
            context?: JsonObject;
            integrations?: JsonObject;
            sentAt?: string;
          };
          if (b.batch.length === 0) throw trackingError(400, [{ path: 'batch', message: 'batch is empty' }]);
          const envelopeErrors = validateEnvelope(body, limits);
          if (envelopeErrors.length > 0) throw trackingError(400, envelopeErrors);
          events = prepare(
            b.batch,
            null,
            { ...ctx, batchContext: b.context, batchIntegrations: b.integrations, batchSentAt: b.sentAt },
            limits,
          );
        }
      } catch (err) {
        metrics.requestsRejected.inc({ reason: 'invalid' });
        throw err;
      }
      const outcome = await deps.ingest.submit(events);
      countByType(events, metrics);
      metrics.eventsStored.inc(outcome.stored);
      if (outcome.duplicates > 0) metrics.eventsDuplicate.inc(outcome.duplicates);
      metrics.ackSeconds.observe((performance.now() - started) / 1000);
      return { success: true as const };
    };

    const responses = {
      200: { description: 'Stored durably.', schema: TrackingSuccess },
      400: { description: 'Invalid input; nothing was stored.', schema: TrackingError },
      401: { description: 'Missing or unknown write key.', schema: TrackingError },
      413: { description: 'Body larger than the limit.', schema: TrackingError },
    };
    for (const type of EVENT_TYPES) {
      scope.post(`/v1/${type}`, (req) => accept(req, type));
      deps.docs.add({
        method: 'POST',
        url: `/v1/${type}`,
        summary: `Record a Segment ${type} call`,
        tag: 'Tracking',
        auth: 'writeKey',
        body: MESSAGE_SCHEMAS[type],
        responses,
      });
    }
    for (const url of ['/v1/batch', '/v1/import']) {
      scope.post(url, (req) => accept(req, null));
    }
    deps.docs.add({
      method: 'POST',
      url: '/v1/batch',
      summary: 'Record many messages at once; all are stored or none (also at /v1/import)',
      tag: 'Tracking',
      auth: 'writeKey',
      body: BatchRequest,
      responses,
    });
  });
}
