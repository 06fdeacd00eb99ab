import { createHmac } from 'node:crypto';
import type { WorkspaceId } from '../core/ids.ts';
import type { Store } from '../store/port.ts';
import { AddressRefused, AllowList, resolveTarget } from './address-rules.ts';
import type { WebhookSettings } from './channel-settings.ts';
import { httpRequest, retryAfterMs, TransportError } from './outbound-http.ts';
import {
  classifyStatus,
  delivered,
  permanent,
  type RenderedMessage,
  retryable,
  type Sender,
  type SendResult,
} from './sender.ts';

/** The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'x-concierge-signature';

/** Signs a body as the receiver should check it (compare in constant time, reject old `t`). */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Full-jitter exponential backoff: a uniform wait in [0, min(max, base·2^attempt)). */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** attempt));
}

/** A webhook that could not be delivered after every attempt, kept for inspection and replay. */
export interface DeadLetter {
  readonly id: string;
  readonly url: string;
  readonly body: string;
  readonly profileId: string;
  readonly template: string;
  readonly attempts: number;
  readonly reason: string;
  readonly at: string;
}

/** The settings key of each workspace's dead letters. */
export const DEAD_LETTERS_SETTING = 'webhook_dead_letters';
const MAX_DEAD_LETTERS = 1000;

/**
 * The newest dead letters of each workspace (at most 1,000; older ones fall off), in a setting:
 * a failing endpoint is an operator's problem to see, not a data set to keep forever.
 */
export class DeadLetters {
  private writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: Store) {}

  async list(ws: WorkspaceId): Promise<DeadLetter[]> {
    const raw = await this.store.getSetting(ws, DEAD_LETTERS_SETTING);
    return raw === null ? [] : (JSON.parse(raw) as DeadLetter[]);
  }

  add(ws: WorkspaceId, letter: DeadLetter): Promise<void> {
    return this.change(ws, (all) =>
      [letter, ...all.filter((l) => l.id !== letter.id)].slice(0, MAX_DEAD_LETTERS),
    );
  }

  remove(ws: WorkspaceId, id: string): Promise<void> {
    return this.change(ws, (all) => all.filter((l) => l.id !== id));
  }

  private change(ws: WorkspaceId, f: (all: DeadLetter[]) => DeadLetter[]): Promise<void> {
    const run = this.writes.then(async () => {
      await this.store.setSetting(ws, DEAD_LETTERS_SETTING, JSON.stringify(f(await this.list(ws))));
    });
    this.writes = run.catch(() => undefined);
    return run;
  }
}

export interface WebhookSenderDeps {
  readonly deadLetters: DeadLetters;
  readonly now: () => number;
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * POSTs the rendered JSON body, signed, to the workspace's URL (or the template's), after the
 * outbound address rules. Timeouts, resets, 408/425/429 and 5xx are retried within the send with
 * full-jitter exponential backoff (honouring `Retry-After`); a message that still fails, or fails
 * with another 4xx, goes to the dead-letter list and is reported permanent.
 */
export class WebhookSender implements Sender<'webhook'> {
  readonly channel = 'webhook' as const;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: WebhookSenderDeps) {
    this.random = deps.random ?? Math.random;
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async send(
    rendered: RenderedMessage,
    idempotencyKey: string,
    settings: WebhookSettings,
  ): Promise<SendResult> {
    if (rendered.content.channel !== 'webhook') return permanent('content is not a webhook body');
    const url = rendered.content.url?.trim() || settings.url;
    const body = JSON.stringify(rendered.content.body ?? null);
    const allow = new AllowList(settings.allow);
    let last: SendResult = retryable('not attempted');
    let attempts = 0;
    for (let attempt = 0; attempt < settings.maxAttempts; attempt++) {
      attempts = attempt + 1;
      last = await this.attempt(url, body, idempotencyKey, rendered, settings, allow);
      if (last.kind !== 'retryable') break;
      if (attempt + 1 < settings.maxAttempts) {
        const wait = Math.max(
          backoffMs(attempt, settings.backoffBaseMs, settings.backoffMaxMs, this.random),
          Math.min(last.retryAfterMs ?? 0, settings.backoffMaxMs),
        );
        await this.sleep(wait);
      }
    }
    if (last.kind === 'delivered') return last;
    const reason = last.kind === 'retryable' ? `${last.reason} (after ${attempts} attempts)` : last.reason;
    await this.deps.deadLetters.add(rendered.workspaceId as WorkspaceId, {
      id: rendered.id,
      url,
      body,
      profileId: rendered.profileId,
      template: rendered.template,
      attempts,
      reason,
      at: new Date(this.deps.now()).toISOString(),
    });
    return permanent(`dead-lettered: ${reason}`);
  }

  private async attempt(
    url: string,
    body: string,
    idempotencyKey: string,
    rendered: RenderedMessage,
    settings: WebhookSettings,
    allow: AllowList,
  ): Promise<SendResult> {
    let target: Awaited<ReturnType<typeof resolveTarget>>;
    try {
      target = await resolveTarget(url, allow);
    } catch (e) {
      if (e instanceof AddressRefused) return permanent(`address refused: ${e.message}`);
      throw e;
    }
    try {
      const answer = await httpRequest(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'Concierge-Webhook/1',
          'idempotency-key': idempotencyKey,
          'x-concierge-message-id': rendered.id,
          [SIGNATURE_HEADER]: signWebhook(settings.secret, body, Math.floor(this.deps.now() / 1000)),
        },
        body,
        timeoutMs: settings.timeoutMs,
        pinned: target,
      });
      const verdict = classifyStatus(answer.status);
      if (verdict === 'ok') {
        const id = answer.headers['x-request-id'];
        return delivered(typeof id === 'string' ? id : `http-${answer.status}`);
      }
      const why = `HTTP ${answer.status}: ${answer.body.slice(0, 200)}`;
      if (verdict === 'retry')
        return retryable(why, retryAfterMs(answer.headers, this.deps.now()) ?? undefined);
      return permanent(why);
    } catch (e) {
      if (e instanceof TransportError) return retryable(e.message);
      throw e;
    }
  }
}
