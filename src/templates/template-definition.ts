import { CHANNELS, type Channel, type MessageCategory } from '../channels/outbound.ts';
import { CONTENT_FIELDS, type ContentByChannel } from './content.ts';
import { type LiquidSandbox, liquidMessage } from './liquid-sandbox.ts';
import { normalizeLocale } from './locale.ts';

/**
 * A message template: per-locale content for one channel, Liquid in every text field. `required`
 * names variables (dotted paths such as `profile.traits.first_name`) without which the message is
 * skipped rather than sent half-filled.
 */
export interface TemplateDefinition<C extends Channel = Channel> {
  readonly channel: C;
  readonly category?: MessageCategory;
  readonly topic?: string;
  readonly description?: string;
  readonly defaultLocale: string;
  readonly required: readonly string[];
  readonly locales: Readonly<Record<string, ContentByChannel[C]>>;
}

/** A stored template, with its key and times. */
export interface StoredTemplate {
  readonly key: string;
  readonly definition: TemplateDefinition;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface TemplateError {
  readonly path: string;
  readonly message: string;
}

/** Thrown by `parseTemplate` with every problem found, each naming its path. */
export class InvalidTemplate extends Error {
  override name = 'InvalidTemplate';
  constructor(readonly errors: readonly TemplateError[]) {
    super(errors.map((e) => `${e.path || '(template)'}: ${e.message}`).join('; '));
  }
}

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const TOPIC = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const VARIABLE_ROOTS = ['profile', 'computed', 'event', 'journey', 'context', 'message'] as const;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)*$/;
const TOP_FIELDS = ['channel', 'category', 'topic', 'description', 'defaultLocale', 'required', 'locales'];
const MAX_LOCALES = 100;

/** Why a template key is not acceptable, or null. */
export function checkTemplateKey(key: string): string | null {
  return KEY.test(key)
    ? null
    : 'must be 1–100 letters, digits, `_`, `.` or `-`, starting with a letter or digit';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a template body and returns it typed; throws `InvalidTemplate` naming every bad path
 * (`locales.pt-BR.subject: Liquid syntax: …`). Liquid is parsed here, so a template that is
 * stored always parses.
 */
export function parseTemplate(body: unknown, liquid: LiquidSandbox): TemplateDefinition {
  const errors: TemplateError[] = [];
  const err = (path: string, message: string) => errors.push({ path, message });
  if (!isObject(body)) throw new InvalidTemplate([{ path: '', message: 'must be an object' }]);
  for (const k of Object.keys(body)) {
    if (k === 'key') continue; // tolerated in templates-as-code files; the URL's key wins
    if (!TOP_FIELDS.includes(k)) err(k, `unknown field; expected one of ${TOP_FIELDS.join(', ')}`);
  }
  const channel = body.channel;
  if (typeof channel !== 'string' || !(CHANNELS as readonly string[]).includes(channel)) {
    err('channel', `must be one of ${CHANNELS.join(', ')}`);
  }
  if (body.category !== undefined && body.category !== 'transactional' && body.category !== 'promotional') {
    err('category', 'must be transactional or promotional');
  }
  if (body.topic !== undefined && (typeof body.topic !== 'string' || !TOPIC.test(body.topic))) {
    err('topic', 'must be 1–64 letters, digits, `_`, `.` or `-`');
  }
  if (body.description !== undefined && typeof body.description !== 'string') {
    err('description', 'must be a string');
  }
  const required: string[] = [];
  if (body.required !== undefined) {
    if (!Array.isArray(body.required)) err('required', 'must be an array of variable paths');
    else
      body.required.forEach((v, i) => {
        if (typeof v !== 'string' || !VARIABLE.test(v)) {
          err(`required[${i}]`, 'must be a dotted variable path such as profile.traits.first_name');
        } else if (!(VARIABLE_ROOTS as readonly string[]).includes(v.split('.')[0]!)) {
          err(`required[${i}]`, `must start with one of ${VARIABLE_ROOTS.join(', ')}`);
        } else required.push(v);
      });
  }
  const locales: Record<string, Record<string, unknown>> = {};
  if (!isObject(body.locales) || Object.keys(body.locales).length === 0) {
    err('locales', 'must be an object with content for at least one locale, e.g. {"en": {…}}');
  } else if (Object.keys(body.locales).length > MAX_LOCALES) {
    err('locales', `has more than ${MAX_LOCALES} locales`);
  } else {
    for (const [locale, content] of Object.entries(body.locales)) {
      const path = `locales.${locale}`;
      const normalized = normalizeLocale(locale);
      if (normalized === null) {
        err(path, 'is not a locale tag such as en, pt or pt-BR');
        continue;
      }
      if (locales[normalized] !== undefined) {
        err(path, `is the same locale as another entry (${normalized})`);
        continue;
      }
      if (!isObject(content)) {
        err(path, 'must be an object');
        continue;
      }
      if (typeof channel === 'string' && (CHANNELS as readonly string[]).includes(channel)) {
        checkContent(channel as Channel, content, path, liquid, err);
      }
      locales[normalized] = content;
    }
  }
  let defaultLocale: string | null = null;
  if (body.defaultLocale === undefined) {
    const keys = Object.keys(locales);
    if (keys.length === 1) defaultLocale = keys[0]!;
    else if (keys.length > 1) err('defaultLocale', 'is required when there is more than one locale');
  } else if (typeof body.defaultLocale !== 'string' || normalizeLocale(body.defaultLocale) === null) {
    err('defaultLocale', 'must be a locale tag such as en');
  } else {
    defaultLocale = normalizeLocale(body.defaultLocale)!;
    if (isObject(body.locales) && locales[defaultLocale] === undefined) {
      err('defaultLocale', `must be one of the template's locales (${Object.keys(locales).join(', ')})`);
    }
  }
  if (errors.length > 0) throw new InvalidTemplate(errors);
  return {
    channel: channel as Channel,
    ...(body.category !== undefined ? { category: body.category as MessageCategory } : {}),
    ...(body.topic !== undefined ? { topic: body.topic as string } : {}),
    ...(body.description !== undefined ? { description: body.description as string } : {}),
    defaultLocale: defaultLocale!,
    required,
    locales: locales as unknown as TemplateDefinition['locales'],
  };
}

function checkContent(
  channel: Channel,
  content: Record<string, unknown>,
  path: string,
  liquid: LiquidSandbox,
  err: (path: string, message: string) => void,
): void {
  const { required, optional } = CONTENT_FIELDS[channel];
  for (const k of Object.keys(content)) {
    if (!required.includes(k) && !optional.includes(k)) {
      err(`${path}.${k}`, `unknown field for ${channel}; expected ${[...required, ...optional].join(', ')}`);
    }
  }
  for (const k of required) {
    if (content[k] === undefined) err(`${path}.${k}`, `is required for ${channel}`);
  }
  if (channel === 'email' && content.html === undefined && content.text === undefined) {
    err(path, 'an e-mail needs html, text or both');
  }
  for (const k of [...required, ...optional]) {
    const v = content[k];
    if (v === undefined) continue;
    if (channel === 'webhook' && k === 'body') {
      checkJsonLeaves(v, `${path}.body`, liquid, err);
      continue;
    }
    if (typeof v !== 'string') {
      err(`${path}.${k}`, 'must be a string');
      continue;
    }
    checkLiquid(v, `${path}.${k}`, channel === 'email' && k === 'html', liquid, err);
  }
}

function checkLiquid(
  source: string,
  path: string,
  html: boolean,
  liquid: LiquidSandbox,
  err: (path: string, message: string) => void,
): void {
  try {
    liquid.parse(source, html);
  } catch (e) {
    err(path, `Liquid syntax: ${liquidMessage(e)}`);
  }
}

function checkJsonLeaves(
  v: unknown,
  path: string,
  liquid: LiquidSandbox,
  err: (path: string, message: string) => void,
  depth = 0,
): void {
  if (depth > 20) {
    err(path, 'is nested too deeply');
    return;
  }
  if (typeof v === 'string') checkLiquid(v, path, false, liquid, err);
  else if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) checkJsonLeaves(x, `${path}[${i}]`, liquid, err, depth + 1);
  } else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) checkJsonLeaves(x, `${path}.${k}`, liquid, err, depth + 1);
  }
}
