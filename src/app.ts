import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Config } from './config/config.ts';
import { type Clock, systemClock } from './core/clock.ts';
import { asSourceId, DEFAULT_WORKSPACE, type WorkspaceId } from './core/ids.ts';
import { DeliveryPipeline } from './delivery/delivery-pipeline.ts';
import { adminRoutes } from './http/admin-routes.ts';
import { ApiDocs } from './http/api-docs.ts';
import { channelRoutes } from './http/channel-routes.ts';
import { consoleRoutes } from './http/console-routes.ts';
import { installErrorHandler } from './http/errors.ts';
import { feedbackRoutes } from './http/feedback-routes.ts';
import { guardrailRoutes } from './http/guardrail-routes.ts';
import { homePage } from './http/home-page.ts';
import { journeyRoutes } from './http/journey-routes.ts';
import { measureRoutes } from './http/measure-routes.ts';
import { createMetrics, type Metrics } from './http/metrics.ts';
import { segmentRoutes } from './http/segment-routes.ts';
import { templateRoutes } from './http/template-routes.ts';
import { trackingRoutes } from './http/tracking-routes.ts';
import { IdentitySettings } from './ingest/identity-settings.ts';
import { IngestService } from './ingest/ingest-service.ts';
import { hashSecret, SourceDirectory } from './ingest/sources.ts';
import { DEFAULT_LIMITS } from './ingest/validate.ts';
import { type Deliverer, Dispatcher } from './journeys/dispatcher.ts';
import { JourneyService } from './journeys/journey-service.ts';
import { openJourneyStore } from './journeys/open-journey-store.ts';
import type { OutboxRow } from './journeys/store/port.ts';
import type { Assignment } from './measure/experiment-report.ts';
import { WorkerEngineHost } from './segments/engine-host.ts';
import { SegmentService } from './segments/segment-service.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/port.ts';
import { scanLog } from './store/scan.ts';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** A running Concierge: the HTTP server and the services behind it. */
export interface App {
  readonly http: FastifyInstance;
  readonly store: Store;
  readonly ingest: IngestService;
  readonly sources: SourceDirectory;
  readonly metrics: Metrics;
  readonly workspace: WorkspaceId;
  readonly segments: SegmentService;
  readonly journeys: JourneyService;
  readonly dispatcher: Dispatcher;
  /** Set when this start generated the admin token (print it once). */
  readonly generatedAdminToken: string | null;
  /** Set when this start created the default source (print its write key once). */
  readonly generatedWriteKey: string | null;
  /** Stops accepting requests, finishes in-flight ones, commits what was accepted, closes the store. */
  close(): Promise<void>;
}

export interface AppOptions {
  /** The clock; tests pass a `VirtualClock` to move time at will. */
  readonly clock?: Clock;
  /** Only the time of the clock (timers still run on real time). */
  readonly now?: () => number;
  /** Pino logger options, or false for none. */
  readonly logger?: boolean | Record<string, unknown>;
  /** Performs outbox messages (templates, guardrails, channels); tests may pass their own. */
  readonly deliverer?: Deliverer | null;
  /** Told about every journey batch committed with outbox rows (benchmarks measure latency with it). */
  readonly onJourneyCommitted?: (outbox: readonly OutboxRow[]) => void;
}

const ADMIN_TOKEN_SETTING = 'admin_token_sha256';
const DEFAULT_SOURCE_SETTING = 'default_source_created';
const SEGMENTS_SOURCE_SETTING = 'segments_source_id';
const JOURNEYS_SOURCE_SETTING = 'journeys_source_id';

/** Builds the whole product from a parsed configuration. Call `http.listen` to serve it. */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const clock: Clock =
    options.clock ?? (options.now ? { now: options.now, at: systemClock.at } : systemClock);
  const now = () => clock.now();
  const metrics = createMetrics();
  let log: { warn(o: object, msg: string): void } | null = null;
  const store = await openStore(config.store, (ws, refused) => {
    metrics.identityRefused.inc(refused.length);
    log?.warn(
      { workspace: ws, refused },
      'identity merge refused: the profile would exceed the user-id limit',
    );
  });
  const ws = DEFAULT_WORKSPACE;
  await store.ensureWorkspace(ws, 'Default workspace');

  let generatedAdminToken: string | null = null;
  let adminTokenHash: string;
  if (config.adminToken !== null) {
    adminTokenHash = hashSecret(config.adminToken);
  } else {
    const stored = await store.getSetting(ws, ADMIN_TOKEN_SETTING);
    if (stored !== null) adminTokenHash = stored;
    else {
      generatedAdminToken = `adm_${randomBytes(24).toString('base64url')}`;
      adminTokenHash = hashSecret(generatedAdminToken);
      await store.setSetting(ws, ADMIN_TOKEN_SETTING, adminTokenHash);
    }
  }

  const sources = new SourceDirectory(store);
  let generatedWriteKey: string | null = null;
  if (config.writeKey !== null) {
    await sources.ensure(ws, 'Default source', config.writeKey);
    await store.setSetting(ws, DEFAULT_SOURCE_SETTING, 'true');
  } else if ((await store.getSetting(ws, DEFAULT_SOURCE_SETTING)) === null) {
    generatedWriteKey = (await sources.create(ws, 'Default source')).writeKey;
    await store.setSetting(ws, DEFAULT_SOURCE_SETTING, 'true');
  }

  const identity = new IdentitySettings(store, config.identity);
  await identity.load(ws, config.identityOverrides);
  const ingest = new IngestService(store, (w) => identity.get(w), {
    maxCommitEvents: config.maxCommitEvents,
    observer: {
      committed(events, _requests, seconds) {
        metrics.commitEvents.observe(events);
        metrics.commitSeconds.observe(seconds);
      },
    },
  });

  // Segment Entered / Exited events are stored under a built-in source of their own.
  let segmentsSource = await store.getSetting(ws, SEGMENTS_SOURCE_SETTING);
  if (segmentsSource === null) {
    segmentsSource = (await sources.create(ws, 'Segments (built in)')).source.id;
    await store.setSetting(ws, SEGMENTS_SOURCE_SETTING, segmentsSource);
  }

  const http = Fastify({
    logger: options.logger ?? { level: config.logLevel },
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    forceCloseConnections: 'idle',
    // Unknown fields are an error, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    return503OnClosing: true,
  });
  log = http.log;
  installErrorHandler(http);
  const segments = await SegmentService.open({
    store,
    ingest,
    workspace: ws,
    clock,
    systemSource: asSourceId(segmentsSource),
    log: http.log,
    host: new WorkerEngineHost(),
    observer: {
      announced(seconds, entered, exited, evaluated) {
        metrics.segmentAnnounceSeconds.observe(seconds);
        metrics.segmentAnnounceHistogram.observe(seconds);
        metrics.segmentEvaluateSeconds.observe(evaluated);
        metrics.segmentStoreSeconds.observe(seconds - evaluated);
        if (entered > 0) metrics.segmentChanges.inc({ change: 'entered' }, entered);
        if (exited > 0) metrics.segmentChanges.inc({ change: 'exited' }, exited);
      },
    },
  });
  let journeysSource = await store.getSetting(ws, JOURNEYS_SOURCE_SETTING);
  if (journeysSource === null) {
    journeysSource = (await sources.create(ws, 'Journeys (built in)')).source.id;
    await store.setSetting(ws, JOURNEYS_SOURCE_SETTING, journeysSource);
  }
  const journeyStore = await openJourneyStore(
    config.store,
    'schema' in store ? (store as { schema: string }).schema : undefined,
  );
  let dispatcher: Dispatcher | null = null;
  const journeys = await JourneyService.open({
    store,
    journeys: journeyStore,
    ingest,
    workspace: ws,
    clock,
    segments,
    log: http.log,
    onCommitted: (outbox) => {
      options.onJourneyCommitted?.(outbox);
      dispatcher?.kick();
    },
  });
  dispatcher = new Dispatcher({
    store,
    journeys: journeyStore,
    ingest,
    workspace: ws,
    clock,
    deliverer: options.deliverer ?? null,
    systemSource: asSourceId(journeysSource),
    log: http.log,
  });
  let shuttingDown = false;
  // While closing, every response ends its connection, so keep-alive clients cannot hold it open.
  http.addHook('onSend', async (_req, reply, payload) => {
    if (shuttingDown) reply.header('connection', 'close');
    return payload;
  });
  http.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpSeconds.observe(
      { method: req.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    if (!route.startsWith('/v1/') || reply.statusCode >= 500) {
      req.log.info(
        { method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
        'request',
      );
    }
  });

  const docs = new ApiDocs();
  let ready = false;
  http.get('/healthz', async (_req, reply) =>
    ready ? { ok: true } : reply.status(503).send({ ok: false, message: 'starting' }),
  );
  http.get('/metrics', async (_req, reply) => {
    metrics.backlog.set(ingest.backlog);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  http.get('/openapi.json', async () => docs.document(VERSION));
  http.get('/', async (_req, reply) => {
    const counts = await store.counts(ws);
    return reply
      .type('text/html; charset=utf-8')
      .send(homePage({ version: VERSION, store: store.kind, ...counts }));
  });
  docs.add({
    method: 'GET',
    url: '/healthz',
    summary: 'Readiness: 200 {"ok":true} once events are accepted',
    tag: 'Operations',
    auth: 'none',
    responses: { 200: { description: 'Ready.' }, 503: { description: 'Starting or shutting down.' } },
  });
  docs.add({
    method: 'GET',
    url: '/metrics',
    summary: 'Prometheus metrics',
    tag: 'Operations',
    auth: 'none',
    responses: { 200: { description: 'Prometheus text format.' } },
  });

  await trackingRoutes(http, {
    ingest,
    sources,
    metrics,
    docs,
    now,
    limits: { ...DEFAULT_LIMITS, maxRequestBytes: 500 * 1024 },
  });
  await adminRoutes(http, {
    store,
    sources,
    identity,
    docs,
    workspace: ws,
    adminTokenHash,
    decorate: (p) => segments.decorate(p),
    erased: async (id) => {
      segments.forget(id);
      await journeyStore.eraseProfile(ws, id);
    },
    status: async () => ({ segments: await segments.stats(), journeys: await journeys.counts() }),
  });
  await segmentRoutes(http, { segments, docs, adminTokenHash });
  const channels = await channelRoutes(http, {
    store,
    ingest,
    sources,
    docs,
    workspace: ws,
    adminTokenHash,
    now,
  });
  await templateRoutes(http, {
    templates: channels.templates,
    store,
    decorate: (p) => segments.decorate(p),
    docs,
    workspace: ws,
    adminTokenHash,
  });
  await feedbackRoutes(http, { channels, store, docs, workspace: ws, adminTokenHash, now });
  const guardrails = await guardrailRoutes(http, { store, docs, workspace: ws, adminTokenHash, now });
  if (options.deliverer === undefined) {
    dispatcher.use(
      await DeliveryPipeline.open({
        store,
        workspace: ws,
        clock,
        channels,
        guardrails,
        decorate: (p) => segments.decorate(p),
      }),
    );
  }
  await dispatcher.start();
  journeys.useTemplates(async () => new Set((await channels.templates.list(ws)).map((t) => t.key)));
  await journeyRoutes(http, { journeys, docs, adminTokenHash });
  await measureRoutes(http, {
    docs,
    workspace: ws,
    adminTokenHash,
    loadEvents: (w, names) => scanLog(store, w, names),
    store,
    // Journeys' control groups: experiment `journey:{key}`, arms `control` and `treatment`.
    loadAssignments: (_w, experimentId) => journeyAssignments(journeys, experimentId),
  });
  await consoleRoutes(http);
  await http.ready();
  ready = true;

  let closing: Promise<void> | null = null;
  return {
    http,
    store,
    ingest,
    sources,
    metrics,
    workspace: ws,
    segments,
    journeys,
    dispatcher,
    generatedAdminToken,
    generatedWriteKey,
    close() {
      closing ??= (async () => {
        ready = false;
        shuttingDown = true;
        const sweep = setInterval(() => http.server.closeIdleConnections(), 50);
        try {
          await http.close();
        } finally {
          clearInterval(sweep);
        }
        // Changes not announced by now are announced on the next start (recomputed from the log).
        await dispatcher.close();
        await channels.close();
        await journeys.close();
        await segments.close();
        await ingest.drain();
        await journeyStore.close();
        await store.close();
      })();
      return closing;
    },
  };
}

async function* journeyAssignments(
  journeys: JourneyService,
  experimentId: string,
): AsyncIterable<Assignment> {
  if (!experimentId.startsWith('journey:')) return;
  const [key = '', node] = experimentId.slice('journey:'.length).split(':');
  if (journeys.record(key) === null) return;
  if (node !== undefined) {
    // A split node's variants: `journey:{key}:{node}`.
    for await (const a of journeys.variantAssignments(key, node)) {
      yield {
        profileId: a.profileId,
        experimentId,
        variation: a.variant,
        variationName: a.variant,
        timestamp: a.at,
      };
    }
    return;
  }
  for await (const a of journeys.assignments(key)) {
    yield {
      profileId: a.profileId,
      experimentId,
      variation: a.group,
      variationName: a.group,
      timestamp: a.at,
    };
  }
}
