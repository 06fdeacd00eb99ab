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
    if (err.code === 'FST_ERR_VALIDATION') message = err.message;
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
