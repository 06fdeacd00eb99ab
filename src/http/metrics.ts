import { readFileSync } from 'node:fs';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry, Summary } from 'prom-client';

/** RssAnon of /proc/self/status in KiB, or null where there is none (not Linux). */
function anonymousKiB(): number | null {
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The product's Prometheus metrics, served at /metrics. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'concierge_' });
  const m = {
    registry,
    eventsReceived: new Counter({
      name: 'concierge_events_received_total',
      help: 'Events accepted by the tracking API, by type.',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    eventsStored: new Counter({
      name: 'concierge_events_stored_total',
      help: 'Events appended to the log.',
      registers: [registry],
    }),
    eventsDuplicate: new Counter({
      name: 'concierge_events_duplicate_total',
      help: 'Events dropped because their messageId was already stored for the source.',
      registers: [registry],
    }),
    requestsRejected: new Counter({
      name: 'concierge_tracking_rejected_total',
      help: 'Tracking requests rejected, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    identityRefused: new Counter({
      name: 'concierge_identity_merges_refused_total',
      help: 'Profile merges refused by the user-id limit.',
      registers: [registry],
    }),
    ackSeconds: new Histogram({
      name: 'concierge_tracking_ack_seconds',
      help: 'Time from a tracking request being read to its durable acknowledgement.',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    commitEvents: new Histogram({
      name: 'concierge_commit_events',
      help: 'Events per group commit.',
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000],
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'concierge_commit_seconds',
      help: 'Duration of one group commit.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    segmentAnnounceSeconds: new Summary({
      name: 'concierge_segment_announce_seconds',
      help: 'From an acknowledged commit (or a window timer) to the durable Segment Entered / Exited events it caused.',
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 300,
      ageBuckets: 5,
      registers: [registry],
    }),
    segmentAnnounceHistogram: new Histogram({
      name: 'concierge_segment_announcement_seconds',
      help: 'concierge_segment_announce_seconds as a histogram: its buckets add up across servers, and two readings give the figures between them.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    segmentEvaluateSeconds: new Summary({
      name: 'concierge_segment_evaluate_seconds',
      help: 'The first part of concierge_segment_announce_seconds: until the segment engine answered with the changes.',
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 300,
      ageBuckets: 5,
      registers: [registry],
    }),
    segmentStoreSeconds: new Summary({
      name: 'concierge_segment_store_seconds',
      help: "The rest of concierge_segment_announce_seconds: from the engine's answer to the commit of the events (waiting for the writer, and the commit).",
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 300,
      ageBuckets: 5,
      registers: [registry],
    }),
    segmentChanges: new Counter({
      name: 'concierge_segment_changes_total',
      help: 'Segment membership changes announced, by change.',
      labelNames: ['change'] as const,
      registers: [registry],
    }),
    backlog: new Gauge({
      name: 'concierge_ingest_backlog_events',
      help: 'Events waiting for the next group commit.',
      registers: [registry],
    }),
    httpSeconds: new Histogram({
      name: 'concierge_http_request_seconds',
      help: 'HTTP request duration by route and status.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
  };
  // Only where the system tells (Linux): elsewhere the metric is absent rather than a false 0.
  if (anonymousKiB() !== null) {
    new Gauge({
      name: 'concierge_process_anonymous_memory_bytes',
      help:
        'Resident memory the process holds itself (RssAnon, Linux): the resident size less the pages of ' +
        'files it maps, such as the database file the writer reads through a memory map.',
      registers: [registry],
      collect() {
        this.set((anonymousKiB() ?? 0) * 1024);
      },
    });
  }
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
