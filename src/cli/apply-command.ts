/**
 * `concierge apply DIR`: computed traits, segments, templates and journeys kept as files (in git),
 * applied to a running server through its admin API. Everything is checked first — locally, and
 * journeys by the server's own dry run — and nothing is applied if any document is bad. Then the
 * definitions are applied in dependency order: computed traits, segments (those referred to
 * first), templates, journeys. Documents equal to what the server holds are left alone.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { checkComputedTrait, checkSegment, KEY_HINT, KEY_PATTERN } from '../segments/definition.ts';
import { LiquidSandbox } from '../templates/liquid-sandbox.ts';
import { InvalidTemplate, parseTemplate } from '../templates/template-definition.ts';

export const APPLY_KINDS = ['computed_trait', 'segment', 'template', 'journey'] as const;
export type ApplyKind = (typeof APPLY_KINDS)[number];

/** One definition read from a file. */
export interface ApplyDocument {
  readonly file: string;
  /** 1-based position of the document in its file. */
  readonly index: number;
  readonly kind: ApplyKind;
  readonly key: string;
  /** What is sent to the server: the definition (segments, computed traits) or the document's body. */
  readonly body: Record<string, unknown>;
  /** Journeys: publish the saved version. */
  readonly publish: boolean;
}

export interface ApplyError {
  readonly file: string;
  readonly index: number | null;
  readonly path: string;
  readonly message: string;
}

/** `file:document path: message`, the line printed for each problem. */
export function formatApplyError(e: ApplyError): string {
  const where = e.index === null ? e.file : `${e.file}:${e.index}`;
  return e.path === '' ? `${where}: ${e.message}` : `${where} ${e.path}: ${e.message}`;
}

/** Thrown when the server cannot be used at all (unreachable, token refused). */
export class ApplyServerError extends Error {
  override name = 'ApplyServerError';
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const NOUN: Record<ApplyKind, string> = {
  computed_trait: 'computed trait',
  segment: 'segment',
  template: 'template',
  journey: 'journey',
};
const TITLE: Record<ApplyKind, string> = {
  computed_trait: 'computed traits',
  segment: 'segments',
  template: 'templates',
  journey: 'journeys',
};

/** Definition files under `root` (or `root` itself), by path; dot-files and dot-directories skipped. */
export function definitionFiles(root: string): string[] {
  const st = statSync(root, { throwIfNoEntry: false });
  if (st === undefined) throw new Error(`cannot read ${root}: no such file or directory`);
  if (st.isFile()) return [root];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (EXTENSIONS.has(extname(name).toLowerCase())) out.push(p);
    }
  };
  walk(root);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Reads every document of the files; what cannot be read is an error naming file and document. */
export function readDocuments(root: string): { documents: ApplyDocument[]; errors: ApplyError[] } {
  const documents: ApplyDocument[] = [];
  const errors: ApplyError[] = [];
  const files = definitionFiles(root);
  const base = statSync(root).isFile() ? '' : root;
  for (const path of files) {
    const file = base === '' ? path : relative(base, path);
    const text = readFileSync(path, 'utf8');
    let raws: unknown[];
    if (extname(path).toLowerCase() === '.json') {
      try {
        const parsed: unknown = JSON.parse(text);
        raws = Array.isArray(parsed) ? parsed : [parsed];
      } catch (err) {
        errors.push({ file, index: null, path: '', message: `not valid JSON: ${(err as Error).message}` });
        continue;
      }
    } else {
      raws = [];
      for (const [i, doc] of parseAllDocuments(text).entries()) {
        const bad = doc.errors[0];
        if (bad !== undefined) {
          errors.push({ file, index: i + 1, path: '', message: `not valid YAML: ${bad.message}` });
          raws.push(undefined);
        } else raws.push(doc.toJS());
      }
    }
    for (const [i, raw] of raws.entries()) {
      if (raw === undefined) continue;
      if (raw === null && raws.length > 1) continue; // an empty document, as after a trailing `---`
      const doc = toDocument(file, i + 1, raw, errors);
      if (doc !== null) documents.push(doc);
    }
  }
  return { documents, errors };
}

function toDocument(file: string, index: number, raw: unknown, errors: ApplyError[]): ApplyDocument | null {
  const fail = (path: string, message: string) => {
    errors.push({ file, index, path, message });
    return null;
  };
  if (!isObject(raw)) return fail('', 'must be an object with "kind" and "key"');
  const { kind, key, publish, ...rest } = raw;
  if (typeof kind !== 'string' || !(APPLY_KINDS as readonly string[]).includes(kind))
    return fail('kind', `must be one of ${APPLY_KINDS.join(', ')}, not ${JSON.stringify(kind ?? null)}`);
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) return fail('key', KEY_HINT);
  if (publish !== undefined && kind !== 'journey') return fail('publish', 'only journeys are published');
  if (publish !== undefined && typeof publish !== 'boolean') return fail('publish', 'must be true or false');
  let body: Obj;
  if (kind === 'segment' || kind === 'computed_trait') {
    const extra = Object.keys(rest).filter((k) => k !== 'definition');
    if (extra.length > 0) return fail(extra[0]!, 'is not allowed here (allowed: kind, key, definition)');
    if (rest.definition === undefined) return fail('definition', `must hold the ${NOUN[kind]}`);
    body = { definition: rest.definition };
  } else body = rest;
  return { file, index, kind: kind as ApplyKind, key, body, publish: publish === true };
}

/** JSON with object keys sorted, so equal definitions compare equal whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .sort()
      .filter((k) => v[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}
const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);

/** `{segment: k}` and `{computed: k}` references in a segment condition, with their paths. */
function references(
  v: unknown,
  path: string,
  out: { kind: 'segment' | 'computed'; key: string; path: string }[],
) {
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) references(x, `${path}[${i}]`, out);
  } else if (isObject(v)) {
    if (typeof v.segment === 'string') out.push({ kind: 'segment', key: v.segment, path: `${path}.segment` });
    if (typeof v.computed === 'string')
      out.push({ kind: 'computed', key: v.computed, path: `${path}.computed` });
    for (const k of ['all', 'any', 'not'] as const)
      if (v[k] !== undefined) references(v[k], `${path}.${k}`, out);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

interface Response<T> {
  readonly status: number;
  readonly body: T;
}

/** A small admin API client. */
export class AdminClient {
  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  async call<T = Obj>(method: string, path: string, body?: unknown): Promise<Response<T>> {
    let res: globalThis.Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new ApplyServerError(
        `cannot reach the server at ${this.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      );
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {}
    if (res.status === 401)
      throw new ApplyServerError(`the server at ${this.url} refused the admin token (401)`);
    return { status: res.status, body: parsed as T };
  }
}

const errorsOf = (body: unknown): { path: string; message: string }[] => {
  if (isObject(body) && Array.isArray(body.errors)) return body.errors as { path: string; message: string }[];
  const message = isObject(body) && typeof body.message === 'string' ? body.message : JSON.stringify(body);
  return [{ path: '', message }];
};

/** What the server holds now, for the keys the files name. */
interface Current {
  computed: Map<string, unknown>;
  segments: Map<string, unknown>;
  /** Null when the server has no templates API. */
  templates: Map<string, Obj> | null;
  journeys: Map<string, { definition: unknown; publishedVersion: number | null; latestVersion: number }>;
}

async function readCurrent(client: AdminClient, journeyKeys: readonly string[]): Promise<Current> {
  const list = async (path: string, field: string) => {
    const r = await client.call<Obj>('GET', path);
    if (r.status !== 200) throw new ApplyServerError(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    const out = new Map<string, unknown>();
    for (const x of (r.body[field] as { key: string; definition: unknown }[]) ?? [])
      out.set(x.key, x.definition);
    return out;
  };
  const computed = await list('/api/computed-traits', 'computedTraits');
  const segments = await list('/api/segments', 'segments');
  let templates: Map<string, Obj> | null = null;
  const t = await client.call<{ templates?: Obj[] }>('GET', '/api/templates');
  if (t.status === 200) templates = new Map((t.body.templates ?? []).map((x) => [String(x.key), x]));
  else if (t.status !== 404) throw new ApplyServerError(`GET /api/templates: ${t.status}`);
  const journeys: Current['journeys'] = new Map();
  for (const key of journeyKeys) {
    const r = await client.call<{
      definition: unknown;
      publishedVersion: number | null;
      latestVersion: number;
    }>('GET', `/api/journeys/${encodeURIComponent(key)}`);
    if (r.status === 200) journeys.set(key, r.body);
    else if (r.status !== 404) throw new ApplyServerError(`GET /api/journeys/${key}: ${r.status}`);
  }
  return { computed, segments, templates, journeys };
}

/** A stored template as the body a file would hold (what the server filled in left out). */
function templateAsFile(stored: Obj, file: Obj): Obj {
  const { key: _k, createdAt: _c, updatedAt: _u, ...rest } = stored;
  if (file.required === undefined && same(rest.required, [])) delete rest.required;
  if (file.defaultLocale === undefined && isObject(rest.locales) && Object.keys(rest.locales).length === 1)
    delete rest.defaultLocale;
  return rest;
}

// ---------------------------------------------------------------------------------------------
// Checking and applying
// ---------------------------------------------------------------------------------------------

export type Outcome = 'created' | 'updated' | 'unchanged';

export interface ApplyReport {
  readonly errors: ApplyError[];
  readonly outcomes: { document: ApplyDocument; outcome: Outcome }[];
  readonly applied: boolean;
}

const REFERENCE_ERROR = /^there is no (segment|computed trait|template) "([^"]+)"$/;

/** Checks every document and, unless `dryRun` or anything is wrong, applies them in order. */
export async function apply(root: string, client: AdminClient, dryRun: boolean): Promise<ApplyReport> {
  const { documents, errors } = readDocuments(root);
  const err = (d: ApplyDocument, path: string, message: string) =>
    errors.push({ file: d.file, index: d.index, path, message });

  const seen = new Map<string, ApplyDocument>();
  for (const d of documents) {
    const id = `${d.kind}:${d.key}`;
    const first = seen.get(id);
    if (first) err(d, 'key', `${NOUN[d.kind]} "${d.key}" is also defined at ${first.file}:${first.index}`);
    else seen.set(id, d);
  }
  const of = (kind: ApplyKind) => [...seen.values()].filter((d) => d.kind === kind);

  for (const d of of('computed_trait')) {
    const c = checkComputedTrait(d.body.definition);
    if (!c.ok)
      for (const e of c.errors) err(d, e.path === '' ? 'definition' : `definition.${e.path}`, e.message);
  }
  for (const d of of('segment')) {
    const c = checkSegment(d.body.definition);
    if (!c.ok)
      for (const e of c.errors) err(d, e.path === '' ? 'definition' : `definition.${e.path}`, e.message);
  }
  const liquid = new LiquidSandbox();
  for (const d of of('template')) {
    try {
      parseTemplate(d.body, liquid);
    } catch (e) {
      if (!(e instanceof InvalidTemplate)) throw e;
      for (const x of e.errors) err(d, x.path, x.message);
    }
  }
  if (errors.length > 0) return { errors, outcomes: [], applied: false };

  const current = await readCurrent(
    client,
    of('journey').map((d) => d.key),
  );
  const has = {
    segment: (k: string) => seen.has(`segment:${k}`) || current.segments.has(k),
    computed: (k: string) => seen.has(`computed_trait:${k}`) || current.computed.has(k),
    template: (k: string) => seen.has(`template:${k}`) || (current.templates?.has(k) ?? false),
  };

  // Segments: references resolve, and those referred to are applied first.
  const segmentOrder: ApplyDocument[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (d: ApplyDocument, trail: string[]): void => {
    const s = state.get(d.key);
    if (s === 'done') return;
    if (s === 'visiting') {
      err(d, 'definition', `is on a cycle of segment references (${[...trail, d.key].join(' → ')})`);
      return;
    }
    state.set(d.key, 'visiting');
    for (const r of references(d.body.definition, 'definition', [])) {
      if (r.kind === 'computed' && !has.computed(r.key))
        err(d, r.path, `there is no computed trait "${r.key}"`);
      if (r.kind === 'segment') {
        const dep = seen.get(`segment:${r.key}`);
        if (dep) visit(dep, [...trail, d.key]);
        else if (!current.segments.has(r.key)) err(d, r.path, `there is no segment "${r.key}"`);
      }
    }
    state.set(d.key, 'done');
    segmentOrder.push(d);
  };
  for (const d of of('segment')) visit(d, []);

  if (current.templates === null)
    for (const d of of('template'))
      err(d, 'kind', 'templates are not supported by this server yet (it has no /api/templates)');

  // Journeys: the server's own check; references to what these files define are fine.
  for (const d of of('journey')) {
    const r = await client.call('PUT', `/api/journeys/${encodeURIComponent(d.key)}?dryRun=true`, d.body);
    if (r.status === 200) continue;
    if (r.status !== 400)
      throw new ApplyServerError(`checking journey ${d.key}: ${r.status} ${JSON.stringify(r.body)}`);
    for (const e of errorsOf(r.body)) {
      const m = REFERENCE_ERROR.exec(e.message);
      if (m) {
        const kind = m[1] === 'segment' ? 'segment' : m[1] === 'template' ? 'template' : 'computed';
        if (has[kind](m[2]!)) continue;
      }
      err(d, e.path, e.message);
    }
  }
  if (errors.length > 0) return { errors, outcomes: [], applied: false };

  // What would change.
  const outcomes: { document: ApplyDocument; outcome: Outcome }[] = [];
  const plan = (d: ApplyDocument): Outcome => {
    switch (d.kind) {
      case 'computed_trait':
      case 'segment': {
        const cur = (d.kind === 'segment' ? current.segments : current.computed).get(d.key);
        return cur === undefined ? 'created' : same(cur, d.body.definition) ? 'unchanged' : 'updated';
      }
      case 'template': {
        const cur = current.templates?.get(d.key);
        return cur === undefined
          ? 'created'
          : same(templateAsFile(cur, d.body), d.body)
            ? 'unchanged'
            : 'updated';
      }
      case 'journey': {
        const cur = current.journeys.get(d.key);
        if (cur === undefined) return 'created';
        const published = !d.publish || cur.publishedVersion === cur.latestVersion;
        return same(cur.definition, d.body) && published ? 'unchanged' : 'updated';
      }
    }
  };
  const ordered = [...of('computed_trait'), ...segmentOrder, ...of('template'), ...of('journey')];
  if (dryRun) {
    for (const d of ordered) outcomes.push({ document: d, outcome: plan(d) });
    return { errors, outcomes, applied: false };
  }

  for (const d of ordered) {
    let outcome = plan(d);
    if (outcome === 'unchanged') {
      outcomes.push({ document: d, outcome });
      continue;
    }
    const key = encodeURIComponent(d.key);
    let r: Response<Obj>;
    if (d.kind === 'journey') {
      const cur = current.journeys.get(d.key);
      if (cur !== undefined && same(cur.definition, d.body))
        r = await client.call('POST', `/api/journeys/${key}/publish`, { version: cur.latestVersion });
      else {
        r = await client.call('PUT', `/api/journeys/${key}${d.publish ? '?publish=true' : ''}`, d.body);
        if (r.status === 200 && r.body.changed === false && !d.publish) outcome = 'unchanged';
      }
    } else if (d.kind === 'template') r = await client.call('PUT', `/api/templates/${key}`, d.body);
    else {
      const base = d.kind === 'segment' ? '/api/segments' : '/api/computed-traits';
      r = await client.call('PUT', `${base}/${key}?wait=0`, d.body.definition);
    }
    if (r.status !== 200 && r.status !== 201) {
      const prefix = d.kind === 'segment' || d.kind === 'computed_trait' ? 'definition' : '';
      for (const e of errorsOf(r.body))
        err(
          d,
          prefix && e.path ? `${prefix}.${e.path}` : prefix || e.path,
          `${e.message} (HTTP ${r.status})`,
        );
      return { errors, outcomes, applied: true };
    }
    outcomes.push({ document: d, outcome });
  }
  return { errors, outcomes, applied: true };
}

/** Counts per kind, e.g. `segments: 1 created, 2 updated, 0 unchanged`. */
export function summarize(outcomes: ApplyReport['outcomes'], dryRun: boolean): string[] {
  const lines: string[] = [];
  for (const kind of APPLY_KINDS) {
    const mine = outcomes.filter((o) => o.document.kind === kind);
    if (mine.length === 0) continue;
    const n = (o: Outcome) => mine.filter((x) => x.outcome === o).length;
    const verb = (o: Outcome) => (dryRun && o !== 'unchanged' ? `to be ${o}` : o);
    lines.push(
      `${TITLE[kind]}: ${n('created')} ${verb('created')}, ${n('updated')} ${verb('updated')}, ${n('unchanged')} unchanged`,
    );
  }
  return lines;
}

export function applyCommand(): Command {
  return new Command('apply')
    .description(
      'Apply computed traits, segments, templates and journeys kept as YAML/JSON files to a running server',
    )
    .argument('<dir>', 'directory of *.yaml, *.yml and *.json files (read recursively), or one file')
    .option('--url <url>', 'the server (env CONCIERGE_URL, default http://127.0.0.1:8787)')
    .option('--token <token>', 'admin bearer token (env CONCIERGE_ADMIN_TOKEN)')
    .option('--dry-run', 'only check the files against the server; change nothing')
    .action(async (dir: string, opts: { url?: string; token?: string; dryRun?: boolean }) => {
      const url = (opts.url || process.env.CONCIERGE_URL || 'http://127.0.0.1:8787').replace(/\/+$/, '');
      if (!/^https?:\/\/[^/]/.test(url)) throw new Error(`--url must be an http(s) URL, not '${url}'`);
      const token = opts.token || process.env.CONCIERGE_ADMIN_TOKEN;
      if (!token) throw new Error('an admin token is needed: --token or CONCIERGE_ADMIN_TOKEN');
      const dryRun = opts.dryRun === true;
      const report = await apply(dir, new AdminClient(url, token), dryRun);
      for (const e of report.errors) process.stderr.write(`${formatApplyError(e)}\n`);
      const summary = summarize(report.outcomes, dryRun);
      if (report.errors.length > 0) {
        const done = report.applied ? 'stopped; applied before the error:' : 'nothing applied';
        process.stderr.write(`concierge: ${report.errors.length} error(s); ${done}\n`);
        if (report.applied) for (const l of summary) process.stderr.write(`  ${l}\n`);
        process.exitCode = 1;
        return;
      }
      if (summary.length === 0) process.stdout.write(`nothing to apply in ${dir}\n`);
      if (dryRun) process.stdout.write('dry run: every document is valid; nothing was changed\n');
      for (const l of summary) process.stdout.write(`${l}\n`);
    });
}
