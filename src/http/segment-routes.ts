import { Readable } from 'node:stream';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { checkKey } from '../segments/definition.ts';
import {
  DefinitionErrors,
  type DefinitionKind,
  type SegmentService,
  StillReferenced,
} from '../segments/segment-service.ts';
import { documentedRoute } from './admin-routes.ts';
import type { ApiDocs } from './api-docs.ts';
import { checkAdminBearer } from './bearer-auth.ts';
import { adminError, HttpError } from './errors.ts';
import { acceptYamlBodies } from './yaml-bodies.ts';

export interface SegmentRouteDeps {
  readonly segments: SegmentService;
  readonly docs: ApiDocs;
  readonly adminTokenHash: string;
}

const KeyParams = Type.Object({ key: Type.String({ minLength: 1, maxLength: 100 }) });
const MembersQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 100 })),
  cursor: Type.Optional(Type.String({ minLength: 1, description: 'The `cursor` of the previous page.' })),
  include: Type.Optional(
    Type.Literal('profiles', {
      description: '`profiles` adds who the members are: ids, identifiers (such as e-mail) and traits.',
    }),
  ),
});
const CsvQuery = Type.Object({
  traits: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 2000,
      description: 'Traits to add as columns, comma-separated (`first_name,plan`).',
    }),
  ),
});
const PutQuery = Type.Object({
  wait: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 600,
      default: 10,
      description: 'Seconds to wait for the recompute before answering (status tells if it finished).',
    }),
  ),
});
const ErrorShape = Type.Object({ error: Type.String(), message: Type.String() });
const InvalidShape = Type.Object({
  error: Type.Literal('invalid_definition'),
  message: Type.String(),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});

/**
 * Admin API for segments (`/api/segments`) and computed traits (`/api/computed-traits`). Bodies are
 * JSON, or YAML with a YAML content type. Bad definitions get a 400 naming each bad path.
 */
export async function segmentRoutes(app: FastifyInstance, deps: SegmentRouteDeps): Promise<void> {
  const service = deps.segments;
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (req) => checkAdminBearer(req, deps.adminTokenHash));
    acceptYamlBodies(scope);
    const route = documentedRoute(scope, deps.docs);
    const common = { 401: { description: 'Missing or wrong admin token.', schema: ErrorShape } };

    const checkKeyParam = (key: string) => {
      const e = checkKey(key);
      if (e !== null) {
        throw new HttpError(400, { error: 'invalid_definition', message: `key ${e.message}`, errors: [e] });
      }
    };
    const invalid = (err: DefinitionErrors) =>
      new HttpError(400, {
        error: 'invalid_definition',
        message: `the definition is not valid: ${err.message}`,
        errors: err.errors,
      });

    for (const kind of ['segments', 'computed'] as const) {
      const base = kind === 'segments' ? '/api/segments' : '/api/computed-traits';
      const noun = kind === 'segments' ? 'segment' : 'computed trait';
      const tag = kind === 'segments' ? 'Segments' : 'Computed traits';
      const notFound = (key: string) => adminError(404, 'not_found', `no ${noun} '${key}'`);
      const view = (key: string) => {
        const stored = service.get(kind, key);
        if (stored === null) throw notFound(key);
        return describe(service, kind, key);
      };

      route<unknown, unknown, unknown>(
        {
          method: 'GET',
          url: base,
          summary: `List ${noun}s`,
          tag,
          auth: 'admin',
          responses: { 200: { description: `Every ${noun}.` }, ...common },
        },
        async () => {
          const sizes = kind === 'segments' ? await service.sizes() : {};
          const all = await Promise.all(
            service.list(kind).map((d) => describe(service, kind, d.key, sizes[d.key] ?? 0)),
          );
          return { [kind === 'segments' ? 'segments' : 'computedTraits']: all };
        },
      );

      route<Static<typeof KeyParams>, Static<typeof PutQuery>, unknown>(
        {
          method: 'PUT',
          url: `${base}/:key`,
          summary: `Create or replace a ${noun} (JSON or YAML body); membership is recomputed while events keep flowing`,
          tag,
          auth: 'admin',
          params: KeyParams,
          querystring: PutQuery,
          responses: {
            200: { description: `The ${noun}, replaced.` },
            201: { description: `The ${noun}, created.` },
            400: {
              description: 'The definition is not valid; every bad path is named.',
              schema: InvalidShape,
            },
            ...common,
          },
        },
        async (req, reply) => {
          checkKeyParam(req.params.key);
          if (req.body === undefined || req.body === null) {
            throw invalid(
              new DefinitionErrors([{ path: '', message: 'a definition is required as the body' }]),
            );
          }
          try {
            const { created, recomputed } = await service.put(kind, req.params.key, req.body);
            const wait = (req.query.wait ?? 10) * 1000;
            if (wait > 0) {
              let timer: NodeJS.Timeout | undefined;
              await Promise.race([
                recomputed.catch(() => undefined),
                new Promise((resolve) => {
                  timer = setTimeout(resolve, wait);
                }),
              ]);
              clearTimeout(timer);
            }
            reply.status(created ? 201 : 200);
            return view(req.params.key);
          } catch (err) {
            if (err instanceof DefinitionErrors) throw invalid(err);
            throw err;
          }
        },
      );

      route<Static<typeof KeyParams>, unknown, unknown>(
        {
          method: 'GET',
          url: `${base}/:key`,
          summary: kind === 'segments' ? 'A segment with its size and status' : 'A computed trait',
          tag,
          auth: 'admin',
          params: KeyParams,
          responses: {
            200: { description: `The ${noun}.` },
            404: { description: 'No such key.' },
            ...common,
          },
        },
        async (req) => view(req.params.key),
      );

      route<Static<typeof KeyParams>, unknown, unknown>(
        {
          method: 'DELETE',
          url: `${base}/:key`,
          summary: `Delete a ${noun} (refused while a segment refers to it)`,
          tag,
          auth: 'admin',
          params: KeyParams,
          responses: {
            200: { description: 'Deleted.' },
            404: { description: 'No such key.' },
            409: { description: 'A segment still refers to it.', schema: ErrorShape },
            ...common,
          },
        },
        async (req) => {
          try {
            if (!(await service.delete(kind, req.params.key))) throw notFound(req.params.key);
            return { key: req.params.key, deleted: true };
          } catch (err) {
            if (err instanceof StillReferenced) {
              throw adminError(409, 'conflict', `${noun} '${req.params.key}' is ${err.message}`);
            }
            throw err;
          }
        },
      );
    }

    route<Static<typeof KeyParams>, Static<typeof MembersQuery>, unknown>(
      {
        method: 'GET',
        url: '/api/segments/:key/members',
        summary: 'Members of a segment (profile ids in id order), paged with a cursor',
        tag: 'Segments',
        auth: 'admin',
        params: KeyParams,
        querystring: MembersQuery,
        responses: {
          200: {
            description:
              '`{members, cursor}`; cursor is null on the last page. With `include=profiles`, also `profiles`: `{id, userIds, anonymousIds, identifiers, traits}` of each member, in the same order.',
          },
          404: { description: 'No such segment.' },
          ...common,
        },
      },
      async (req) => {
        if (service.get('segments', req.params.key) === null) {
          throw adminError(404, 'not_found', `no segment '${req.params.key}'`);
        }
        const page = await service.members(req.params.key, req.query.limit ?? 100, req.query.cursor ?? null);
        if (req.query.include !== 'profiles') return page;
        return { ...page, profiles: await service.whoAre(page.members) };
      },
    );

    route<Static<typeof KeyParams>, Static<typeof CsvQuery>, unknown>(
      {
        method: 'GET',
        url: '/api/segments/:key/members.csv',
        summary:
          'Every member of a segment as CSV: profile id, user id, anonymous id, e-mail, and the traits asked for',
        tag: 'Segments',
        auth: 'admin',
        params: KeyParams,
        querystring: CsvQuery,
        responses: {
          200: { description: 'CSV (RFC 4180) with a header row, streamed page by page.' },
          404: { description: 'No such segment.' },
          ...common,
        },
      },
      async (req, reply) => {
        const key = req.params.key;
        if (service.get('segments', key) === null) throw adminError(404, 'not_found', `no segment '${key}'`);
        const traits = (req.query.traits ?? '')
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== '');
        reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${key}.csv"`)
          .header('cache-control', 'no-store');
        return Readable.from(membersCsv(service, key, traits));
      },
    );
  });
}

async function describe(service: SegmentService, kind: DefinitionKind, key: string, size?: number) {
  const stored = service.get(kind, key)!;
  const common = {
    key,
    definition: stored.definition,
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
  };
  if (kind === 'computed') return common;
  const { status, progress } = service.status(key);
  return { ...common, size: size ?? (await service.size(key)), status, ...(progress ? { progress } : {}) };
}

/** Members read from the engine in pages of this many, each page's profiles from the store. */
const CSV_PAGE = 1000;

/** The rows of a members export, a page of members per chunk, after the header. */
async function* membersCsv(service: SegmentService, key: string, traits: readonly string[]) {
  yield csvRow(['profile_id', 'user_id', 'anonymous_id', 'email', ...traits]);
  let cursor: string | null = null;
  do {
    const page = await service.members(key, CSV_PAGE, cursor);
    let chunk = '';
    for (const p of await service.whoAre(page.members)) {
      chunk += csvRow([
        p.id,
        p.userIds[0] ?? null,
        p.anonymousIds[0] ?? null,
        p.identifiers.email?.[0] ?? null,
        ...traits.map((t) => (Object.hasOwn(p.traits, t) ? p.traits[t] : null)),
      ]);
    }
    if (chunk !== '') yield chunk;
    cursor = page.cursor;
  } while (cursor !== null);
}

/**
 * One CSV line (RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled).
 * Objects and lists are written as JSON. Text that a spreadsheet would run as a formula (starting
 * with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as OWASP advises for
 * exports: a trait is whatever a client sent.
 */
export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s: string;
  if (typeof v === 'string') s = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  else if (typeof v === 'object') s = JSON.stringify(v);
  else s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}
