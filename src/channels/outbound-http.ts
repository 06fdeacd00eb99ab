import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedTarget } from './address-rules.ts';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A request that never reached an answer: refused, reset, timed out. Worth retrying. */
export class TransportError extends Error {
  override name = 'TransportError';
}

const MAX_ANSWER_BYTES = 256 * 1024;

/**
 * One HTTP request with a whole-request timeout (connect, send, answer). When a resolved target
 * is given, the connection goes to its checked address whatever DNS says now.
 */
export function httpRequest(
  url: URL,
  options: {
    method: string;
    headers: Record<string, string | number>;
    body?: string | Buffer;
    timeoutMs: number;
    pinned?: ResolvedTarget;
    agent?: http.Agent;
  },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const pinned = options.pinned;
    const lookup: LookupFunction | undefined = pinned
      ? (_host, opts, cb) => {
          if ((opts as { all?: boolean }).all) {
            (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [
              { address: pinned.address, family: pinned.family },
            ]);
          } else cb(null, pinned.address, pinned.family);
        }
      : undefined;
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, {
      method: options.method,
      headers: options.headers,
      ...(lookup ? { lookup } : {}),
      ...(options.agent ? { agent: options.agent } : {}),
    });
    const timer = setTimeout(() => {
      req.destroy(new TransportError(`no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(
        e instanceof TransportError
          ? e
          : new TransportError(`${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`.trim()),
      );
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_ANSWER_BYTES) chunks.push(c);
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(new TransportError(`answer cut off: ${e.message}`));
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end(options.body);
  });
}

/** Seconds or an HTTP date in `Retry-After`, as ms from now; null when absent or unreadable. */
export function retryAfterMs(headers: http.IncomingHttpHeaders, now: number): number | null {
  const v = headers['retry-after'];
  if (typeof v !== 'string') return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

/** The answer body as a JSON object, or null when it is not one. */
export function jsonObject(body: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
