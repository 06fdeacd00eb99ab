import type { TSchema } from '@sinclair/typebox';

/** One documented route. The same schema objects are used to validate the route's requests. */
export interface RouteDoc {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify-style path (`/api/profiles/:id`). */
  readonly url: string;
  readonly summary: string;
  readonly tag: string;
  readonly auth: 'writeKey' | 'admin' | 'none';
  readonly params?: TSchema;
  readonly querystring?: TSchema;
  readonly body?: TSchema;
  readonly responses: Readonly<Record<number, { description: string; schema?: TSchema }>>;
}

/** Collects route documentation as routes register, and renders the OpenAPI 3.1 document. */
export class ApiDocs {
  private readonly routes: RouteDoc[] = [];

  add(doc: RouteDoc): void {
    this.routes.push(doc);
  }

  document(version: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const path = r.url.replace(/:([A-Za-z_]\w*)/g, '{$1}');
      const parameters: unknown[] = [];
      for (const [where, schema] of [
        ['path', r.params],
        ['query', r.querystring],
      ] as const) {
        const props = (schema as { properties?: Record<string, TSchema>; required?: string[] } | undefined)
          ?.properties;
        for (const [name, s] of Object.entries(props ?? {})) {
          parameters.push({
            name,
            in: where,
            required: where === 'path' || ((schema as { required?: string[] }).required ?? []).includes(name),
            description: (s as { description?: string }).description,
            schema: plain(s),
          });
        }
      }
      const op: Record<string, unknown> = {
        summary: r.summary,
        tags: [r.tag],
        security: r.auth === 'none' ? [] : [r.auth === 'admin' ? { adminToken: [] } : { writeKey: [] }],
        responses: Object.fromEntries(
          Object.entries(r.responses).map(([status, resp]) => [
            status,
            {
              description: resp.description,
              ...(resp.schema ? { content: { 'application/json': { schema: plain(resp.schema) } } } : {}),
            },
          ]),
        ),
      };
      if (parameters.length > 0) op.parameters = parameters;
      if (r.body)
        op.requestBody = { required: true, content: { 'application/json': { schema: plain(r.body) } } };
      paths[path] ??= {};
      paths[path][r.method.toLowerCase()] = op;
    }
    return {
      openapi: '3.1.0',
      info: {
        title: 'Concierge API',
        version,
        description:
          'Tracking API (Segment HTTP Tracking API compatible, write-key auth) and admin API (bearer token).',
      },
      components: {
        securitySchemes: {
          writeKey: { type: 'http', scheme: 'basic', description: 'Write key as user name, empty password.' },
          adminToken: { type: 'http', scheme: 'bearer' },
        },
      },
      paths,
    };
  }
}

/** A schema as plain JSON (TypeBox keeps its own markers under symbol keys). */
const plain = (s: TSchema): unknown => JSON.parse(JSON.stringify(s));
