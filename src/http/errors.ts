import type { FastifyError, FastifyInstance } from 'fastify';

/**
 * The one error type handlers throw for an expected client problem. The error handler below is
 * the only place that turns errors into responses.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(typeof body.message === 'string' ? body.message : `HTTP ${status}`);
  }
}

/** A tracking-API error: `{success:false, errors:[…]}` as Segment clients expect. */
export const trackingError = (
  status: number,
  errors: { index?: number; path: string; message: string }[],
): HttpError => new HttpError(status, { success: false, errors });

/** An admin-API error: `{error, message}`. */
export const adminError = (status: number, error: string, message: string): HttpError =>
  new HttpError(status, { error, message });

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    const tracking = req.url.startsWith('/v1/');
    if (err instanceof HttpError) return reply.status(err.status).send(err.body);
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err }, 'request failed');
      return reply
        .status(500)
        .send(
          tracking
            ? { success: false, errors: [{ path: '', message: 'internal error' }] }
            : { error: 'internal', message: 'internal error' },
        );
    }
    let message = err.message;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = 'request body is larger than the limit';
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      message = 'unsupported content type; send application/json';
    if (err.code === 'FST_ERR_VALIDATION') message = validationMessage(err);
    return reply
      .status(status)
      .send(
        tracking ? { success: false, errors: [{ path: '', message }] } : { error: 'bad_request', message },
      );
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send({ error: 'not_found', message: `no route for ${req.method} ${req.url.split('?')[0]}` }),
  );
}

/**
 * The validator's message, with the allowed values said where a value must be one of a few: its
 * own words for them ("must be equal to constant") do not say which.
 */
function validationMessage(err: FastifyError): string {
  const errors = err.validation ?? [];
  if (!errors.some((e) => e.keyword === 'const' || e.keyword === 'enum')) return err.message;
  return errors
    .map((e) => {
      const at = `${err.validationContext ?? ''}${e.instancePath}`;
      const p = e.params as { allowedValue?: unknown; allowedValues?: unknown[] };
      if (e.keyword === 'const') return `${at} must be ${JSON.stringify(p.allowedValue)}`;
      if (e.keyword === 'enum')
        return `${at} must be one of ${(p.allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
      return `${at} ${e.message ?? 'is not valid'}`;
    })
    .join(', ');
}
