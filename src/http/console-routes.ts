import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/** Where the console's files live: plain HTML, CSS and ES modules, served as they are. */
const CONSOLE_DIR = fileURLToPath(new URL('./console/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * The console loads only its own files and talks only to this server; data is never parsed as
 * HTML, and this policy makes a slip harmless rather than exploitable.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** Every servable file under `dir`, by its path relative to it with `/` separators. */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const type = TYPES[extname(entry.name)];
    if (type === undefined) continue;
    const path = join(entry.parentPath, entry.name);
    const body = readFileSync(path);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(relative(dir, path).split(sep).join('/'), { body, type, etag });
  }
  return assets;
}

/**
 * The web console at `/console/`: static files read once at start and kept in memory (they are
 * small), revalidated by ETag. The console itself calls the admin API with the token the person
 * enters, so these routes need no authentication.
 */
export async function consoleRoutes(app: FastifyInstance, dir: string = CONSOLE_DIR): Promise<void> {
  const assets = loadAssets(dir);
  app.get('/console', async (_req, reply) => reply.redirect('/console/', 308));
  app.get<{ Params: { '*': string } }>('/console/*', async (req, reply) => {
    const asset = assets.get(req.params['*'] || 'index.html');
    if (asset === undefined) return reply.callNotFound();
    reply.headers({ ...SECURITY_HEADERS, etag: asset.etag });
    if (req.headers['if-none-match'] === asset.etag) return reply.status(304).send();
    return reply.type(asset.type).send(asset.body);
  });
}
