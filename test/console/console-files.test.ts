/**
 * The console's files over HTTP: served from /console/ with the right types, a policy that keeps
 * the page to its own origin, revalidation by ETag, and nothing outside its own files.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type InProcessServer, startApp } from '../helpers/server.ts';

describe('console files', () => {
  let server: InProcessServer;
  before(async () => {
    server = await startApp();
  });
  after(async () => {
    await server?.close();
  });

  it('redirects /console to /console/ and serves the page there', async () => {
    const r = await fetch(`${server.url}/console`, { redirect: 'manual' });
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('location'), '/console/');
    const page = await fetch(`${server.url}/console/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await page.text(), /<script type="module" src="\/console\/app\.js"><\/script>/);
  });

  it('serves scripts and styles with their types and a same-origin content policy', async () => {
    for (const [path, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['profiles.js', 'text/javascript; charset=utf-8'],
      ['style.css', 'text/css; charset=utf-8'],
    ]) {
      const r = await fetch(`${server.url}/console/${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-type'), type, path);
      assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    }
  });

  it('answers 304 to a request that already holds the current version', async () => {
    const first = await fetch(`${server.url}/console/app.js`);
    const etag = first.headers.get('etag');
    assert.ok(etag);
    const again = await fetch(`${server.url}/console/app.js`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
  });

  it('serves nothing but its own files', async () => {
    for (const path of ['nope.js', '..%2Fconsole-routes.ts', '%2e%2e/%2e%2e/app.ts', 'dom.js.map']) {
      const r = await fetch(`${server.url}/console/${path}`);
      assert.equal(r.status, 404, path);
      assert.equal(((await r.json()) as { error: string }).error, 'not_found');
    }
  });
});
