import type { WorkspaceId } from '../core/ids.ts';
import type { Store } from '../store/port.ts';
import { checkAllowEntry } from './address-rules.ts';
import { parseMailbox } from './mime.ts';
import type { Channel } from './outbound.ts';

/** SMTP connection and tracking for e-mail. */
export interface EmailSettings {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  readonly secure: boolean;
  readonly ignoreTLS: boolean;
  readonly rejectUnauthorized: boolean;
  readonly user?: string;
  readonly password?: string;
  readonly from: string;
  readonly replyTo?: string;
  /** The public base URL of this server, for unsubscribe links, the open pixel and click redirects. */
  readonly publicUrl: string;
  readonly trackOpens: boolean;
  readonly trackClicks: boolean;
  /** Pooled SMTP connections kept open. */
  readonly maxConnections: number;
  /** Messages sent on one connection before it is recycled. */
  readonly maxMessages: number;
}

/** Twilio's Messages API (or anything speaking its shape). */
export interface SmsSettings {
  readonly accountSid: string;
  readonly authToken: string;
  readonly from?: string;
  readonly messagingServiceSid?: string;
  readonly baseUrl: string;
  /**
   * The public base URL of this server: delivery status is asked for at `{publicUrl}/t/sms/status`,
   * and Twilio's signatures on inbound requests are checked against URLs under it.
   */
  readonly publicUrl?: string;
  readonly timeoutMs: number;
}

/** FCM HTTP v1. */
export interface PushSettings {
  readonly projectId: string;
  /** An OAuth 2 access token for the FCM scope. */
  readonly accessToken: string;
  readonly baseUrl: string;
  readonly timeoutMs: number;
}

/** Web push with VAPID. */
export interface WebPushSettings {
  readonly vapidPublicKey: string;
  readonly vapidPrivateKey: string;
  /** `mailto:` or `https:` contact for push services. */
  readonly subject: string;
  readonly ttlSeconds: number;
  readonly timeoutMs: number;
  /** Push endpoints come from browsers: they obey the outbound address rules; this widens them. */
  readonly allow: readonly string[];
}

/** Signed HTTP callbacks. */
export interface WebhookSettings {
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs: number;
  /** Attempts within one send before the message is dead-lettered. */
  readonly maxAttempts: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** CIDRs, addresses or host names allowed although private or loopback. */
  readonly allow: readonly string[];
}

/** The in-app inbox. */
export interface InAppSettings {
  /** Messages an inbox returns at most. */
  readonly maxMessages: number;
}

export interface ChannelSettingsMap {
  email: EmailSettings;
  sms: SmsSettings;
  push: PushSettings;
  webpush: WebPushSettings;
  webhook: WebhookSettings;
  inapp: InAppSettings;
}

type FieldType = 'string' | 'url' | 'integer' | 'boolean' | 'strings';
interface Field {
  readonly type: FieldType;
  readonly required?: boolean;
  readonly secret?: boolean;
  readonly default?: unknown;
  readonly min?: number;
  readonly max?: number;
  readonly description: string;
}

const timeout = (d: number): Field => ({
  type: 'integer',
  default: d,
  min: 100,
  max: 120_000,
  description: 'ms for the whole request',
});

/** Every channel's settings fields: types, defaults and which are secret. */
export const SETTINGS_FIELDS: {
  readonly [C in Channel]: Readonly<Record<keyof ChannelSettingsMap[C], Field>>;
} = {
  email: {
    host: { type: 'string', required: true, description: 'SMTP server host' },
    port: { type: 'integer', default: 587, min: 1, max: 65535, description: 'SMTP port' },
    secure: { type: 'boolean', default: false, description: 'TLS from the start (port 465)' },
    ignoreTLS: { type: 'boolean', default: false, description: 'never upgrade with STARTTLS' },
    rejectUnauthorized: { type: 'boolean', default: true, description: 'refuse invalid server certificates' },
    user: { type: 'string', description: 'SMTP user name' },
    password: { type: 'string', secret: true, description: 'SMTP password' },
    from: { type: 'string', required: true, description: 'From address, e.g. "Shop <news@shop.example>"' },
    replyTo: { type: 'string', description: 'Reply-To address' },
    publicUrl: {
      type: 'url',
      required: true,
      description: 'public base URL of this server for unsubscribe, open and click links',
    },
    trackOpens: { type: 'boolean', default: true, description: 'add an open pixel to HTML' },
    trackClicks: { type: 'boolean', default: true, description: 'rewrite links through the click redirect' },
    maxConnections: { type: 'integer', default: 5, min: 1, max: 100, description: 'pooled SMTP connections' },
    maxMessages: {
      type: 'integer',
      default: 1000,
      min: 1,
      max: 100_000,
      description: 'messages per connection before it is recycled',
    },
  },
  sms: {
    accountSid: { type: 'string', required: true, description: 'Twilio account SID' },
    authToken: { type: 'string', required: true, secret: true, description: 'Twilio auth token' },
    from: { type: 'string', description: 'sender number (E.164) or alphanumeric id' },
    messagingServiceSid: { type: 'string', description: 'Twilio messaging service (instead of from)' },
    baseUrl: { type: 'url', default: 'https://api.twilio.com', description: 'API base URL' },
    publicUrl: { type: 'url', description: 'public base URL of this server, for status callbacks' },
    timeoutMs: timeout(10_000),
  },
  push: {
    projectId: { type: 'string', required: true, description: 'Firebase project id' },
    accessToken: { type: 'string', required: true, secret: true, description: 'OAuth 2 access token' },
    baseUrl: { type: 'url', default: 'https://fcm.googleapis.com', description: 'API base URL' },
    timeoutMs: timeout(10_000),
  },
  webpush: {
    vapidPublicKey: { type: 'string', required: true, description: 'VAPID public key (base64url)' },
    vapidPrivateKey: { type: 'string', required: true, secret: true, description: 'VAPID private key' },
    subject: { type: 'string', required: true, description: 'mailto: or https: contact' },
    ttlSeconds: { type: 'integer', default: 86_400, min: 0, max: 2_419_200, description: 'push TTL' },
    timeoutMs: timeout(10_000),
    allow: { type: 'strings', default: [], description: 'allowed private CIDRs / hosts' },
  },
  webhook: {
    url: { type: 'url', required: true, description: 'where messages are POSTed' },
    secret: { type: 'string', required: true, secret: true, description: 'HMAC-SHA256 signing secret' },
    timeoutMs: timeout(5_000),
    maxAttempts: { type: 'integer', default: 4, min: 1, max: 20, description: 'attempts before dead-letter' },
    backoffBaseMs: { type: 'integer', default: 500, min: 0, max: 60_000, description: 'first backoff cap' },
    backoffMaxMs: {
      type: 'integer',
      default: 30_000,
      min: 0,
      max: 3_600_000,
      description: 'largest backoff',
    },
    allow: { type: 'strings', default: [], description: 'allowed private CIDRs / hosts' },
  },
  inapp: {
    maxMessages: {
      type: 'integer',
      default: 100,
      min: 1,
      max: 1000,
      description: 'messages an inbox returns',
    },
  },
};

/** What a secret looks like in an answer; sent back unchanged in a PUT, it keeps the stored value. */
export const MASK = '********';

export interface SettingsError {
  readonly path: string;
  readonly message: string;
}

/** Thrown with every problem in a settings body, each naming its field. */
export class InvalidSettings extends Error {
  override name = 'InvalidSettings';
  constructor(readonly errors: readonly SettingsError[]) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a settings body for a channel, filling defaults. Secrets left out or sent as the mask
 * keep their stored value (`previous`).
 */
export function parseSettings<C extends Channel>(
  channel: C,
  body: unknown,
  previous: Record<string, unknown> | null,
): ChannelSettingsMap[C] {
  if (!isObject(body)) throw new InvalidSettings([{ path: '', message: 'must be an object' }]);
  const fields = SETTINGS_FIELDS[channel] as Record<string, Field>;
  const errors: SettingsError[] = [];
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(body)) {
    if (!(k in fields))
      errors.push({ path: k, message: `unknown field; expected ${Object.keys(fields).join(', ')}` });
  }
  for (const [name, f] of Object.entries(fields)) {
    let v = body[name];
    if (f.secret && (v === undefined || v === MASK) && previous?.[name] !== undefined) v = previous[name];
    if (v === undefined || v === null || v === '') {
      if (f.required) errors.push({ path: name, message: `is required (${f.description})` });
      else if (f.default !== undefined) out[name] = f.default;
      continue;
    }
    const e = checkField(f, v);
    if (e !== null) errors.push({ path: name, message: e });
    else out[name] = v;
  }
  if (channel === 'sms' && out.from === undefined && out.messagingServiceSid === undefined) {
    errors.push({ path: 'from', message: 'from or messagingServiceSid is required' });
  }
  if (channel === 'email') {
    for (const k of ['from', 'replyTo'] as const) {
      if (typeof out[k] === 'string' && parseMailbox(out[k]) === null)
        errors.push({ path: k, message: 'must be one mailbox, e.g. "Shop <news@shop.example>"' });
    }
  }
  if (channel === 'webpush' && typeof out.subject === 'string' && !/^(mailto:|https:)/.test(out.subject)) {
    errors.push({ path: 'subject', message: 'must be a mailto: or https: URL' });
  }
  if (Array.isArray(out.allow)) {
    out.allow.forEach((entry, i) => {
      const e = checkAllowEntry(entry as string);
      if (e !== null) errors.push({ path: `allow[${i}]`, message: `'${entry}' ${e}` });
    });
  }
  if (errors.length > 0) throw new InvalidSettings(errors);
  return out as unknown as ChannelSettingsMap[C];
}

function checkField(f: Field, v: unknown): string | null {
  switch (f.type) {
    case 'string':
      return typeof v === 'string' && v.length <= 10_000 ? null : 'must be a string';
    case 'url': {
      if (typeof v !== 'string') return 'must be a URL string';
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'must be an http or https URL';
      } catch {
        return 'must be an absolute URL';
      }
    }
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) return 'must be a whole number';
      if (f.min !== undefined && v < f.min) return `must be at least ${f.min}`;
      if (f.max !== undefined && v > f.max) return `must be at most ${f.max}`;
      return null;
    case 'boolean':
      return typeof v === 'boolean' ? null : 'must be true or false';
    case 'strings':
      return Array.isArray(v) && v.every((x) => typeof x === 'string') ? null : 'must be an array of strings';
  }
}

/** Settings as the API shows them: every secret replaced by the mask. */
export function maskSettings(channel: Channel, settings: object): Record<string, unknown> {
  const fields = SETTINGS_FIELDS[channel] as Record<string, Field>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(settings)) out[k] = fields[k]?.secret && v !== undefined ? MASK : v;
  return out;
}

/** The settings key channel settings are stored under, per workspace. */
export const CHANNELS_SETTING = 'channels';

/**
 * Channel settings per workspace, in one JSON setting (`channels`), cached in memory and written
 * through. Writes are serialised.
 */
export class ChannelSettingsStore {
  private readonly cache = new Map<WorkspaceId, Promise<Partial<ChannelSettingsMap>>>();
  private writes: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: Store) {}

  private all(ws: WorkspaceId): Promise<Partial<ChannelSettingsMap>> {
    let p = this.cache.get(ws);
    if (p === undefined) {
      p = this.store
        .getSetting(ws, CHANNELS_SETTING)
        .then((raw) => (raw === null ? {} : (JSON.parse(raw) as Partial<ChannelSettingsMap>)));
      p.catch(() => this.cache.delete(ws));
      this.cache.set(ws, p);
    }
    return p;
  }

  /** A channel's settings, or null when it is not configured (in-app works on its defaults). */
  async get<C extends Channel>(ws: WorkspaceId, channel: C): Promise<ChannelSettingsMap[C] | null> {
    const stored = (await this.all(ws))[channel] as ChannelSettingsMap[C] | undefined;
    if (stored !== undefined) return stored;
    return channel === 'inapp' ? (parseSettings(channel, {}, null) as ChannelSettingsMap[C]) : null;
  }

  /** Checks and stores a channel's settings; throws `InvalidSettings`. */
  put<C extends Channel>(ws: WorkspaceId, channel: C, body: unknown): Promise<ChannelSettingsMap[C]> {
    const run = this.writes.then(async () => {
      const all = await this.all(ws);
      const previous = (all[channel] as Record<string, unknown> | undefined) ?? null;
      const parsed = parseSettings(channel, body, previous);
      const next = { ...all, [channel]: parsed };
      await this.store.setSetting(ws, CHANNELS_SETTING, JSON.stringify(next));
      this.cache.set(ws, Promise.resolve(next));
      return parsed;
    });
    this.writes = run.catch(() => undefined);
    return run;
  }

  delete(ws: WorkspaceId, channel: Channel): Promise<boolean> {
    const run = this.writes.then(async () => {
      const all = { ...(await this.all(ws)) };
      if (all[channel] === undefined) return false;
      delete all[channel];
      await this.store.setSetting(ws, CHANNELS_SETTING, JSON.stringify(all));
      this.cache.set(ws, Promise.resolve(all));
      return true;
    });
    this.writes = run.catch(() => undefined);
    return run;
  }
}
