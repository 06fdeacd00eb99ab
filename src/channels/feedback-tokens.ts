import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { WorkspaceId } from '../core/ids.ts';
import type { Store } from '../store/port.ts';
import { CHANNELS, type Channel } from './outbound.ts';

/** What a feedback link does. */
export const FEEDBACK_ACTIONS = ['open', 'click', 'unsubscribe', 'receipt'] as const;
export type FeedbackAction = (typeof FEEDBACK_ACTIONS)[number];

/**
 * What a signed link carries: enough to turn a request into an event on the right profile without
 * a lookup table, and the action, so an open-pixel token can never serve as an unsubscribe token.
 * A click token carries its target URL: only URLs we signed ever redirect.
 */
export interface FeedbackClaims {
  readonly action: FeedbackAction;
  readonly workspaceId: string;
  readonly messageId: string;
  readonly profileId: string;
  readonly channel: Channel;
  readonly template: string;
  readonly topic?: string;
  readonly journeyKey?: string;
  readonly url?: string;
}

const SHORT: Record<FeedbackAction, string> = { open: 'o', click: 'c', unsubscribe: 'u', receipt: 'r' };
const LONG = Object.fromEntries(Object.entries(SHORT).map(([k, v]) => [v, k])) as Record<
  string,
  FeedbackAction
>;
const MAC_BYTES = 16;

function signWith(key: Buffer, claims: FeedbackClaims): string {
  const payload: Record<string, string> = {
    a: SHORT[claims.action],
    w: claims.workspaceId,
    m: claims.messageId,
    p: claims.profileId,
    c: claims.channel,
    k: claims.template,
  };
  if (claims.topic !== undefined) payload.t = claims.topic;
  if (claims.journeyKey !== undefined) payload.j = claims.journeyKey;
  if (claims.url !== undefined) payload.u = claims.url;
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  const mac = createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);
  return `${body}.${mac.toString('base64url')}`;
}

/** The settings key of each workspace's signing key. */
export const SIGNING_KEY_SETTING = 'channels_signing_key';

/** Thrown for a token that is malformed or whose signature does not match. */
export class BadToken extends Error {
  override name = 'BadToken';
}

/**
 * Signs and verifies feedback tokens with HMAC-SHA256 under a random key per workspace, made on
 * first use and kept in the workspace's settings.
 */
export class FeedbackTokens {
  private readonly keys = new Map<string, Promise<Buffer>>();

  constructor(private readonly store: Store) {}

  private key(ws: string): Promise<Buffer> {
    let k = this.keys.get(ws);
    if (k === undefined) {
      k = (async () => {
        const w = ws as WorkspaceId;
        const stored = await this.store.getSetting(w, SIGNING_KEY_SETTING);
        if (stored !== null) return Buffer.from(stored, 'base64url');
        const fresh = randomBytes(32).toString('base64url');
        await this.store.setSetting(w, SIGNING_KEY_SETTING, fresh);
        return Buffer.from(fresh, 'base64url');
      })();
      k.catch(() => this.keys.delete(ws));
      this.keys.set(ws, k);
    }
    return k;
  }

  private async existingKey(ws: string): Promise<Buffer | null> {
    if (this.keys.has(ws)) return this.keys.get(ws)!;
    const stored = await this.store.getSetting(ws as WorkspaceId, SIGNING_KEY_SETTING).catch(() => null);
    return stored === null ? null : this.key(ws);
  }

  async sign(claims: FeedbackClaims): Promise<string> {
    return (await this.signer(claims.workspaceId))(claims);
  }

  /** A synchronous signer for one workspace (for signing every link of a message at once). */
  async signer(ws: string): Promise<(claims: FeedbackClaims) => string> {
    const key = await this.key(ws);
    return (claims) => signWith(key, claims);
  }

  /** The claims of a valid token for the action; throws `BadToken` otherwise. */
  async verify(token: string, action: FeedbackAction): Promise<FeedbackClaims> {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 8192) throw new BadToken('malformed token');
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    let p: Record<string, unknown>;
    try {
      p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new BadToken('malformed token');
    }
    if (typeof p !== 'object' || p === null || typeof p.w !== 'string') throw new BadToken('malformed token');
    // Only workspaces that already signed something have a key: a forged workspace id makes none.
    const key = await this.existingKey(p.w);
    if (key === null) throw new BadToken('the token signature does not match');
    const expected = createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new BadToken('the token signature does not match');
    }
    if (LONG[p.a as string] !== action) throw new BadToken(`the token is not a ${action} token`);
    if (!(CHANNELS as readonly unknown[]).includes(p.c)) throw new BadToken('malformed token');
    return {
      action,
      workspaceId: p.w,
      messageId: String(p.m),
      profileId: String(p.p),
      channel: p.c as Channel,
      template: String(p.k),
      ...(typeof p.t === 'string' ? { topic: p.t } : {}),
      ...(typeof p.j === 'string' ? { journeyKey: p.j } : {}),
      ...(typeof p.u === 'string' ? { url: p.u } : {}),
    };
  }
}
