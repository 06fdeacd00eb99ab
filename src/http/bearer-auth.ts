import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { hashSecret } from '../ingest/sources.ts';
import { adminError } from './errors.ts';

/**
 * Verifies `Authorization: Bearer <admin token>` against the token's SHA-256 in constant time;
 * throws a 401 admin error otherwise.
 */
export function checkAdminBearer(req: FastifyRequest, expectedHash: string): void {
  const h = req.headers.authorization;
  const m = h ? /^bearer\s+(.+)$/i.exec(h) : null;
  if (!m) throw adminError(401, 'unauthorized', 'missing admin token: send Authorization: Bearer <token>');
  const given = Buffer.from(hashSecret(m[1]!.trim()), 'hex');
  const expected = Buffer.from(expectedHash, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw adminError(401, 'unauthorized', 'wrong admin token');
  }
}
