/**
 * `concierge apply DIR` run as a user runs it, against a real server: definitions kept as files
 * are checked, applied in dependency order, left alone when unchanged, and refused whole — with
 * each problem named by file, document and path — when any of them is bad.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, admin, type InProcessServer, startApp, tempDir } from '../helpers/server.ts';
import { runCli } from './cli.ts';

let server: InProcessServer;
const dirs: string[] = [];

before(async () => {
  server = await startApp();
});
after(async () => {
  await server.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A directory holding these files (paths relative to it). */
function project(files: Record<string, string>): string {
  const dir = tempDir('concierge-apply-');
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const apply = (dir: string, ...flags: string[]) =>
  runCli(['apply', dir, '--url', server.url, ...flags], {
    env: { CONCIERGE_ADMIN_TOKEN: ADMIN_TOKEN },
    timeoutMs: 60_000,
  });

let n = 0;
/** Keys unique to one test, so tests against the one server never meet. */
const keys = () => {
  const s = `t${n++}-${process.pid}`;
  return {
    ltv: `ltv-${s}`,
    big: `big-spenders-${s}`,
    vip: `vip-${s}`,
    journey: `welcome-${s}`,
    template: `welcome-mail-${s}`,
  };
};
type Keys = ReturnType<typeof keys>;

/** A valid project: the segment `vip` refers to `big`, which sorts after it, so order matters. */
function validFiles(k: Keys): Record<string, string> {
  return {
    'traits/ltv.json': JSON.stringify({
      kind: 'computed_trait',
      key: k.ltv,
      definition: { event: 'Order Completed', aggregate: 'sum', property: 'revenue' },
    }),
    'segments/all.yaml': [
      `kind: segment`,
      `key: ${k.vip}`,
      `definition:`,
      `  all:`,
      `    - segment: ${k.big}`,
      `    - trait: plan`,
      `      op: eq`,
      `      value: pro`,
      `---`,
      `kind: segment`,
      `key: ${k.big}`,
      `definition:`,
      `  computed: ${k.ltv}`,
      `  op: gte`,
      `  value: 500`,
      `---`,
      ``,
    ].join('\n'),
    'templates/welcome.yml': [
      `kind: template`,
      `key: ${k.template}`,
      `channel: email`,
      `locales:`,
      `  en:`,
      `    subject: "Welcome, {{ profile.traits.first_name | default: 'friend' }}"`,
      `    text: Glad to have you.`,
      ``,
    ].join('\n'),
    'journeys/nested/welcome.yaml': [
      `kind: journey`,
      `key: ${k.journey}`,
      `publish: true`,
      `name: Welcome`,
      `trigger: { event: Signed Up }`,
      `start: pause`,
      `exit:`,
      `  - segment: ${k.vip}`,
      `nodes:`,
      `  pause: { type: wait, duration: 1d, next: mail }`,
      `  mail: { type: send, channel: email, template: ${k.template}, next: null }`,
      ``,
    ].join('\n'),
    'README.md': 'not a definition file, ignored',
  };
}

async function journey(key: string) {
  return admin<{ status: string; publishedVersion: number | null; latestVersion: number }>(
    server.url,
    'GET',
    `/api/journeys/${key}`,
  );
}

describe('concierge apply', () => {
  it('applies every kind in dependency order, then finds nothing to change', async () => {
    const k = keys();
    const dir = project(validFiles(k));
    const r = await apply(dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /computed traits: 1 created, 0 updated, 0 unchanged/);
    assert.match(r.stdout, /segments: 2 created, 0 updated, 0 unchanged/);
    assert.match(r.stdout, /journeys: 1 created, 0 updated, 0 unchanged/);
    assert.match(r.stdout, /templates: 1 created, 0 updated, 0 unchanged/);

    assert.equal((await admin(server.url, 'GET', `/api/computed-traits/${k.ltv}`)).status, 200);
    const vip = await admin<{ definition: unknown }>(server.url, 'GET', `/api/segments/${k.vip}`);
    assert.equal(vip.status, 200);
    assert.deepEqual(vip.body.definition, {
      all: [{ segment: k.big }, { trait: 'plan', op: 'eq', value: 'pro' }],
    });
    const j = await journey(k.journey);
    assert.equal(j.status, 200, JSON.stringify(j.body));
    assert.deepEqual([j.body.status, j.body.publishedVersion, j.body.latestVersion], ['active', 1, 1]);
    assert.equal((await admin(server.url, 'GET', `/api/templates/${k.template}`)).status, 200);

    const again = await apply(dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /computed traits: 0 created, 0 updated, 1 unchanged/);
    assert.match(again.stdout, /segments: 0 created, 0 updated, 2 unchanged/);
    assert.match(again.stdout, /journeys: 0 created, 0 updated, 1 unchanged/);
    assert.match(again.stdout, /templates: 0 created, 0 updated, 1 unchanged/);
    assert.equal((await journey(k.journey)).body.latestVersion, 1, 'no new version for the same definition');
  });

  it('updates what changed: a new journey version is saved and published', async () => {
    const k = keys();
    const files = validFiles(k);
    const dir = project(files);
    assert.equal((await apply(dir)).code, 0);
    writeFileSync(
      join(dir, 'journeys/nested/welcome.yaml'),
      files['journeys/nested/welcome.yaml']!.replace('duration: 1d', 'duration: 2d'),
    );
    writeFileSync(
      join(dir, 'segments/all.yaml'),
      files['segments/all.yaml']!.replace('value: 500', 'value: 750'),
    );
    const r = await apply(dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /segments: 0 created, 1 updated, 1 unchanged/);
    assert.match(r.stdout, /journeys: 0 created, 1 updated, 0 unchanged/);
    const j = await journey(k.journey);
    assert.deepEqual([j.body.status, j.body.publishedVersion, j.body.latestVersion], ['active', 2, 2]);
    const big = await admin<{ definition: { value: number } }>(server.url, 'GET', `/api/segments/${k.big}`);
    assert.equal(big.body.definition.value, 750);
  });

  it('only checks with --dry-run', async () => {
    const k = keys();
    const dir = project(validFiles(k));
    const r = await apply(dir, '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dry run/);
    assert.match(r.stdout, /segments: 2 to be created, 0 to be updated, 0 unchanged/);
    assert.equal((await admin(server.url, 'GET', `/api/segments/${k.big}`)).status, 404);
    assert.equal((await journey(k.journey)).status, 404);
  });

  it('refuses the whole set when any document is bad, naming file, document and path', async () => {
    const k = keys();
    const dir = project({
      ...validFiles(k),
      'journeys/broken.yaml': [
        `kind: journey`,
        `key: broken-${k.journey}`,
        `trigger: { event: Signed Up }`,
        `start: first`,
        `nodes:`,
        `  first: { type: wait, duration: 1h, next: done }`,
        ``,
      ].join('\n'),
      'segments/bad.yaml': [
        `kind: segment`,
        `key: fine-${k.vip}`,
        `definition: { trait: plan, op: eq, value: pro }`,
        `---`,
        `kind: segment`,
        `key: bad-${k.vip}`,
        `definition:`,
        `  any:`,
        `    - trait: plan`,
        `      op: sort-of`,
        `      value: pro`,
        `    - segment: missing-${k.vip}`,
        ``,
      ].join('\n'),
      'segments/syntax.yml': 'kind: segment\nkey: [unclosed\n',
      'templates/bad.yaml': [
        `kind: template`,
        `key: bad-${k.template}`,
        `channel: email`,
        `locales:`,
        `  en: { subject: "Hello {{ profile.traits.first_name", text: hi }`,
        ``,
      ].join('\n'),
      'other.json': JSON.stringify([{ kind: 'workflow', key: 'x' }]),
    });
    const r = await apply(dir);
    assert.equal(r.code, 1, r.stdout);
    const lines = r.errLines;
    assert.ok(
      lines.some((l) => l.startsWith('segments/bad.yaml:2 definition.any[0].op: must be one of')),
      r.stderr,
    );
    assert.ok(
      lines.some((l) => l.startsWith('segments/syntax.yml:1: not valid YAML')),
      r.stderr,
    );
    assert.ok(
      lines.some((l) => l.startsWith('other.json:1 kind: must be one of')),
      r.stderr,
    );
    assert.ok(
      lines.some((l) => /nothing applied/.test(l)),
      r.stderr,
    );
    // Nothing of the good documents was applied either.
    assert.equal((await admin(server.url, 'GET', `/api/segments/fine-${k.vip}`)).status, 404);
    assert.equal((await admin(server.url, 'GET', `/api/computed-traits/${k.ltv}`)).status, 404);
    assert.equal((await journey(k.journey)).status, 404);

    // Once the files read well, the server's checks name what is still wrong.
    rmSync(join(dir, 'segments/syntax.yml'));
    rmSync(join(dir, 'other.json'));
    rmSync(join(dir, 'templates/bad.yaml'));
    writeFileSync(
      join(dir, 'segments/bad.yaml'),
      `kind: segment\nkey: bad-${k.vip}\ndefinition:\n  any:\n    - trait: plan\n      op: eq\n      value: pro\n    - segment: missing-${k.vip}\n`,
    );
    const second = await apply(dir);
    assert.equal(second.code, 1, second.stdout);
    assert.ok(
      second.errLines.includes(
        `segments/bad.yaml:1 definition.any[1].segment: there is no segment "missing-${k.vip}"`,
      ),
      second.stderr,
    );
    assert.ok(
      second.errLines.includes('journeys/broken.yaml:1 nodes.first.next: there is no node "done"'),
      second.stderr,
    );
    assert.equal((await admin(server.url, 'GET', `/api/segments/${k.big}`)).status, 404);
    assert.equal((await journey(k.journey)).status, 404);
  });

  it('refuses segments that refer to each other in a cycle, and keys defined twice', async () => {
    const dir = project({
      'a.yaml': 'kind: segment\nkey: loop-a\ndefinition: { segment: loop-b }\n',
      'b.yaml': 'kind: segment\nkey: loop-b\ndefinition: { not: { segment: loop-a } }\n',
      'c.yaml': 'kind: segment\nkey: loop-b\ndefinition: { trait: x, op: exists }\n',
    });
    const r = await apply(dir);
    assert.equal(r.code, 1);
    assert.ok(
      r.errLines.some((l) => l.startsWith('c.yaml:1 key: segment "loop-b" is also defined at b.yaml:1')),
      r.stderr,
    );
    const fixed = project({
      'a.yaml': 'kind: segment\nkey: loop-a\ndefinition: { segment: loop-b }\n',
      'b.yaml': 'kind: segment\nkey: loop-b\ndefinition: { not: { segment: loop-a } }\n',
    });
    const cycle = await apply(fixed);
    assert.equal(cycle.code, 1);
    assert.match(
      cycle.stderr,
      /definition: is on a cycle of segment references \(loop-a → loop-b → loop-a\)/,
    );
    assert.equal((await admin(server.url, 'GET', '/api/segments/loop-a')).status, 404);
  });

  it('says clearly when the server or the token is wrong', async () => {
    const dir = project({ 'a.yaml': 'kind: segment\nkey: any\ndefinition: { trait: x, op: exists }\n' });
    const [wrongToken, noToken, missing, closed] = await Promise.all([
      runCli(['apply', dir, '--url', server.url, '--token', 'not-the-token-at-all'], { timeoutMs: 60_000 }),
      runCli(['apply', dir, '--url', server.url], { timeoutMs: 60_000 }),
      apply(join(dir, 'nope')),
      runCli(['apply', dir, '--url', 'http://127.0.0.1:9', '--token', ADMIN_TOKEN], { timeoutMs: 60_000 }),
    ]);
    assert.equal(wrongToken.code, 1);
    assert.deepEqual(wrongToken.errLines, [
      `concierge: the server at ${server.url} refused the admin token (401)`,
    ]);
    assert.equal(noToken.code, 1);
    assert.deepEqual(noToken.errLines, [
      'concierge: an admin token is needed: --token or CONCIERGE_ADMIN_TOKEN',
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file or directory/);
    assert.equal(closed.code, 1);
    assert.match(closed.stderr, /cannot reach the server at http:\/\/127\.0\.0\.1:9/);
  });
});
