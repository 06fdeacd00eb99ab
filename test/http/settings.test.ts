/**
 * Identity settings per workspace: read and changed through the admin API, applied to events
 * received afterwards, kept across restarts, and bad values refused with a clear message.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import { ADMIN_TOKEN, basicAuth, tempDir, uid, WRITE_KEY } from '../helpers/server.ts';

async function start(dataDir: string) {
  const config = loadConfig(
    { data: dataDir, port: '0' },
    { CONCIERGE_ADMIN_TOKEN: ADMIN_TOKEN, CONCIERGE_WRITE_KEY: WRITE_KEY },
  );
  const app = await createApp(config, { logger: false });
  await app.http.listen({ port: 0, host: '127.0.0.1' });
  const address = app.http.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { app, url: `http://127.0.0.1:${address.port}` };
}

const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

describe('identity settings', () => {
  const dataDir = tempDir();
  let server: Awaited<ReturnType<typeof start>>;
  before(async () => {
    server = await start(dataDir);
  });
  after(async () => {
    await server?.app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const put = (body: unknown) =>
    fetch(`${server.url}/api/settings/identity`, {
      method: 'PUT',
      headers: adminHeaders,
      body: JSON.stringify(body),
    });
  const track = (path: string, body: unknown) =>
    fetch(`${server.url}/v1/${path}`, {
      method: 'POST',
      headers: { authorization: basicAuth(WRITE_KEY), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('starts with email as the identifier trait and one user id per profile', async () => {
    const r = await fetch(`${server.url}/api/settings/identity`, { headers: adminHeaders });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { identifierTraits: ['email'], maxUserIdsPerProfile: 1 });
  });

  it('merges profiles on a newly configured identifier trait and finds them by it', async () => {
    const r = await put({ identifierTraits: ['email', 'phone'] });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { identifierTraits: ['email', 'phone'], maxUserIdsPerProfile: 1 });
    const phone = `+1555${Date.now() % 1_000_000}`;
    const a = uid('anon');
    const b = uid('anon');
    assert.equal((await track('identify', { anonymousId: a, traits: { phone } })).status, 200);
    assert.equal((await track('identify', { anonymousId: b, traits: { phone, name: 'Ann' } })).status, 200);
    const found = await fetch(`${server.url}/api/profiles?phone=${encodeURIComponent(phone)}`, {
      headers: adminHeaders,
    });
    assert.equal(found.status, 200);
    const p = (await found.json()) as { anonymousIds: string[]; traits: Record<string, unknown> };
    assert.deepEqual([...p.anonymousIds].sort(), [a, b].sort());
    assert.equal(p.traits.name, 'Ann');
  });

  it('refuses an unusable trait name, an unknown field and an out-of-range limit, naming the problem', async () => {
    for (const [body, pattern] of [
      [{ identifierTraits: ['user_id'] }, /user_id/],
      [{ identifierTraits: ['has space'] }, /has space/],
      [{ maxUserIdsPerProfile: 0 }, /maxUserIdsPerProfile/],
      [{ colour: 'blue' }, /additional|colour/i],
    ] as const) {
      const r = await put(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      const e = (await r.json()) as { message: string };
      assert.match(e.message, pattern);
    }
    const r = await fetch(`${server.url}/api/settings/identity`, { headers: adminHeaders });
    assert.deepEqual(await r.json(), { identifierTraits: ['email', 'phone'], maxUserIdsPerProfile: 1 });
  });

  it('keeps the settings across a restart', async () => {
    assert.equal((await put({ maxUserIdsPerProfile: 3 })).status, 200);
    await server.app.close();
    server = await start(dataDir);
    const r = await fetch(`${server.url}/api/settings/identity`, { headers: adminHeaders });
    assert.deepEqual(await r.json(), { identifierTraits: ['email', 'phone'], maxUserIdsPerProfile: 3 });
  });
});
