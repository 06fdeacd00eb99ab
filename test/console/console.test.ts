/**
 * The web console in a real browser (the system's Chromium, driven by playwright-core): signing
 * in with the admin token, finding a person, reading their traits and timeline page by page,
 * exporting and erasing them, segments, settings, and clear messages for a refused token.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import {
  ADMIN_TOKEN,
  admin,
  findProfile,
  type InProcessServer,
  postTracking,
  startApp,
  tempDir,
  uid,
} from '../helpers/server.ts';

const CHROMIUM = process.env.CONCIERGE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM)
  ? null
  : `no Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CONCIERGE_TEST_CHROMIUM`;
// Skipped where Chromium is missing, except in CI, where that is a failure.
const skip = missing !== null && !process.env.CI ? missing : false;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const HOSTILE = '<img src=x onerror="window.__injected=1">';

describe('web console', { skip }, () => {
  let server: InProcessServer;
  let browser: BrowserContext;
  const profileDir = tempDir('concierge-chromium-');
  const pageErrors: Error[] = [];
  const ada = { userId: uid('ada'), anonymousId: uid('anon'), email: `${uid('ada')}@example.com` };
  const t0 = Date.parse('2026-03-01T09:00:00Z');
  const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();

  before(async () => {
    if (missing) throw new Error(missing);
    server = await startApp();
    const identify = await postTracking(server.url, '/v1/identify', {
      userId: ada.userId,
      anonymousId: ada.anonymousId,
      traits: { name: 'Ada Lovelace', email: ada.email, plan: 'pro', note: HOSTILE },
      context: { consent: { categoryPreferences: { marketing: true, advertising: false } } },
      timestamp: at(0),
    });
    assert.equal(identify.status, 200);
    // 54 more events, so the timeline needs a second page (50 per page).
    const batch = Array.from({ length: 54 }, (_, i) => ({
      type: 'track',
      userId: ada.userId,
      event: i === 53 ? 'Order Completed' : 'Product Viewed',
      properties: { sku: `sku-${i}` },
      timestamp: at(i + 1),
    }));
    assert.equal((await postTracking(server.url, '/v1/batch', { batch })).status, 200);

    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
    });
    browser.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(profileDir, { recursive: true, force: true });
  });

  /** A new tab (so nothing is signed in yet), with uncaught page errors collected. */
  async function openConsole(): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err));
    await page.goto(`${server.url}/console/`);
    return page;
  }

  async function signIn(token = ADMIN_TOKEN): Promise<Page> {
    const page = await openConsole();
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    return page;
  }

  const nav = (page: Page, name: string) =>
    page.getByRole('navigation').getByRole('link', { name, exact: true }).click();

  async function openProfile(page: Page, by: string, value: string): Promise<void> {
    await nav(page, 'Profiles');
    await page.getByLabel('Find by').selectOption({ label: by });
    await page.getByLabel('Value').fill(value);
    await page.getByRole('button', { name: 'Search' }).click();
  }

  it('signs in with the admin token and shows what the server holds', async () => {
    const page = await signIn();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const stats = page.getByRole('region', { name: 'Status' });
    await stats.getByText('Running').waitFor();
    assert.match(await stats.innerText(), /Events\s+55/);
    assert.match(await stats.innerText(), /Profiles\s+1/);
    await page.getByRole('cell', { name: 'Default source' }).waitFor();
    assert.match(await page.getByLabel('curl example').innerText(), new RegExp(`${server.url}/v1/track`));
    await page.close();
  });

  it('creates a source and shows its write key once', async () => {
    const page = await signIn();
    await page.getByLabel('New source name').fill('Website');
    await page.getByRole('button', { name: 'Create source' }).click();
    const key = await page.getByTestId('write-key').innerText();
    assert.match(key, /^wk_/);
    await page.getByRole('cell', { name: 'Website' }).waitFor();
    const r = await postTracking(
      server.url,
      '/v1/track',
      { userId: uid('web'), event: 'Tried' },
      { writeKey: key },
    );
    assert.equal(r.status, 200);
    await page.close();
  });

  it('finds a profile by user id and shows its identifiers, traits, consent and newest event first', async () => {
    const page = await signIn();
    await openProfile(page, 'User id', ada.userId);
    await page.getByRole('heading', { name: 'Ada Lovelace' }).waitFor();
    const traits = page.getByRole('region', { name: 'Traits' });
    assert.equal(await traits.getByRole('row', { name: /plan/ }).getByRole('cell').innerText(), 'pro');
    // A trait holding markup shows as text and never runs.
    await traits.getByText(HOSTILE, { exact: true }).waitFor();
    assert.equal(await traits.locator('img').count(), 0);
    assert.equal(await page.evaluate('window.__injected'), undefined);
    const ids = page.getByRole('region', { name: 'Identifiers' });
    await ids.getByText(ada.anonymousId).waitFor();
    await ids.getByText(ada.email).waitFor();
    const consent = page.getByRole('region', { name: 'Consent' });
    assert.equal(
      await consent
        .getByRole('row', { name: /marketing/ })
        .getByRole('cell')
        .innerText(),
      'granted',
    );

    const events = page.getByRole('list', { name: 'Events, newest first' }).getByRole('listitem');
    await events.first().getByText('Order Completed', { exact: true }).waitFor();
    assert.equal(await events.count(), 50);
    await page.getByRole('button', { name: 'Load older events' }).click();
    await page.getByText('55 events: the whole history').waitFor();
    assert.equal(await events.count(), 55);
    assert.match(await events.last().innerText(), /identify/);
    await page.close();
  });

  it('finds a profile by e-mail, case aside, and says so when nobody holds an identifier', async () => {
    const page = await signIn();
    await openProfile(page, 'E-mail', ada.email.toUpperCase());
    await page.getByRole('heading', { name: 'Ada Lovelace' }).waitFor();
    await openProfile(page, 'User id', 'nobody-at-all');
    await page.getByText('No profile found').waitFor();
    await page.getByText('No profile holds user id “nobody-at-all”.').waitFor();
    await page.close();
  });

  it('exports a profile as a JSON file and erases it after confirmation', async () => {
    const grace = uid('grace');
    await postTracking(server.url, '/v1/identify', { userId: grace, traits: { name: 'Grace Hopper' } });
    await postTracking(server.url, '/v1/track', { userId: grace, event: 'Signed Up' });
    const page = await signIn();
    await openProfile(page, 'User id', grace);
    await page.getByRole('heading', { name: 'Grace Hopper' }).waitFor();

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export JSON' }).click(),
    ]);
    const exported = JSON.parse(readFileSync((await download.path())!, 'utf8')) as {
      profile: { userIds: string[] };
      events: unknown[];
    };
    assert.deepEqual(exported.profile.userIds, [grace]);
    assert.equal(exported.events.length, 2);

    await page.getByRole('button', { name: 'Erase…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Erase Grace Hopper?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.notEqual(await findProfile(server.url, 'userId', grace), null);

    await page.getByRole('button', { name: 'Erase…' }).click();
    await page.getByRole('button', { name: 'Erase permanently' }).click();
    await page.getByText('Profile erased: 2 events and 1 identifier removed.').waitFor();
    assert.equal(await findProfile(server.url, 'userId', grace), null);
    await page.close();
  });

  it('refuses a wrong token with a clear message and stays on the sign-in form', async () => {
    const page = await signIn('not-the-admin-token-at-all');
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /refused this token \(wrong admin token\)/);
    assert.match(await alert.innerText(), /CONCIERGE_ADMIN_TOKEN/);
    assert.equal(await page.getByRole('navigation').count(), 0);
    await page.close();
  });

  it('sends the person back to sign in when the server stops accepting the stored token', async () => {
    const page = await signIn();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.evaluate("sessionStorage.setItem('concierge.adminToken', 'revoked-token-0123456789')");
    await nav(page, 'Settings');
    await page.getByText('The server refused the admin token (wrong admin token). Sign in again.').waitFor();
    await page.getByLabel('Admin token').waitFor();
    await page.close();
  });

  it('lists segments and shows definition errors next to the editor, or says segments are not available', async () => {
    const page = await signIn();
    await nav(page, 'Segments');
    const list = await admin(server.url, 'GET', '/api/segments');
    if (list.status === 404) {
      await page.getByText('Segments are not available').waitFor();
      await page.goto(`${server.url}/console/#/segments/vip`);
      await page.getByText('Segments are not available').waitFor();
      await page.close();
      return;
    }
    await page.getByRole('link', { name: 'New segment' }).click();
    const key = uid('pro');
    await page.getByLabel('Key').fill(key);
    const editor = page.getByLabel('Definition (JSON)');
    await editor.fill('{ "trait": "plan", ');
    await page.getByRole('button', { name: 'Create segment' }).click();
    await page
      .getByTestId('problems')
      .getByText(/Not valid JSON/)
      .waitFor();
    await editor.fill(JSON.stringify({ trait: 'plan', op: 'no_such_op', value: 'pro' }));
    await page.getByRole('button', { name: 'Create segment' }).click();
    await page
      .getByTestId('problems')
      .getByText(/\bop\b/)
      .first()
      .waitFor();
    await editor.fill(JSON.stringify({ trait: 'plan', op: 'eq', value: 'pro' }));
    await page.getByRole('button', { name: 'Create segment' }).click();
    await page.getByText(`Segment ${key} saved.`).waitFor();
    const members = page.getByRole('region', { name: 'Members' });
    // A member is shown by who they are: user id, e-mail, and the profile id under them.
    await members.getByRole('link', { name: ada.userId }).waitFor();
    await members.getByText(ada.email).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      members.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), `${key}.csv`);
    const rows = readFileSync((await download.path())!, 'utf8').split('\r\n');
    assert.equal(rows[0], 'profile_id,user_id,anonymous_id,email');
    assert.ok(
      rows.some((r) => r.includes(`,${ada.userId},`) && r.endsWith(`,${ada.email}`)),
      rows.join('\n'),
    );
    await page.close();
  });

  it('creates, lists and deletes computed traits, and will not delete one a segment uses', async () => {
    const page = await signIn();
    await nav(page, 'Segments');
    await page.getByRole('link', { name: 'New computed trait' }).click();
    const key = uid('ltv');
    await page.getByLabel('Key').fill(key);
    const editor = page.getByLabel('Definition (JSON)');
    await editor.fill(JSON.stringify({ event: 'Order Completed', aggregate: 'total', property: 'revenue' }));
    await page.getByRole('button', { name: 'Create computed trait' }).click();
    await page.getByTestId('problems').getByText('aggregate').first().waitFor();
    await editor.fill(JSON.stringify({ event: 'Order Completed', aggregate: 'sum', property: 'revenue' }));
    await page.getByRole('button', { name: 'Create computed trait' }).click();
    await page.getByText(`Computed trait ${key} saved.`).waitFor();
    const list = page.getByRole('table', { name: 'Computed traits' });
    const row = list.getByRole('row').filter({ hasText: key });
    await row.getByText('sum of revenue, Order Completed').waitFor();

    const uses = uid('big');
    const segment = await admin(server.url, 'PUT', `/api/segments/${uses}`, {
      computed: key,
      op: 'gte',
      value: 1,
    });
    assert.equal(segment.status, 201, JSON.stringify(segment.body));
    await row.getByRole('link', { name: key }).click();
    await page.getByRole('heading', { name: `Edit ${key}` }).waitFor();
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete computed trait' }).click();
    await page.getByTestId('problems').getByText(`still referred to by segment ${uses}`).waitFor();
    assert.equal((await admin(server.url, 'GET', `/api/computed-traits/${key}`)).status, 200);

    assert.equal((await admin(server.url, 'DELETE', `/api/segments/${uses}`)).status, 200);
    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete computed trait' }).click();
    await page.getByText(`Computed trait ${key} deleted.`).waitFor();
    assert.equal((await admin(server.url, 'GET', `/api/computed-traits/${key}`)).status, 404);
    await page.close();
  });

  it('shows a journey with its numbers per node, and pauses it', async () => {
    await admin(server.url, 'PUT', '/api/templates/console-hello', {
      channel: 'inapp',
      defaultLocale: 'en',
      locales: { en: { title: 'Hello', body: 'Welcome back' } },
    });
    const saved = await admin(server.url, 'PUT', '/api/journeys/console-welcome?publish=true', {
      trigger: { event: 'Console Visited' },
      start: 'later',
      nodes: {
        later: { type: 'wait', duration: '1d', next: 'hello' },
        hello: { type: 'send', channel: 'inapp', template: 'console-hello' },
      },
    });
    assert.equal(saved.status, 201, JSON.stringify(saved.body));
    const visit = await postTracking(server.url, '/v1/track', {
      userId: ada.userId,
      event: 'Console Visited',
    });
    assert.equal(visit.status, 200);
    await server.app.journeys.settled();
    const stats = await admin<{ entered: number }>(server.url, 'GET', '/api/journeys/console-welcome/stats');
    assert.equal(stats.body.entered, 1, JSON.stringify(stats.body));
    const page = await signIn();
    await nav(page, 'Journeys');
    await page.getByRole('link', { name: 'console-welcome' }).click();
    await page.getByRole('heading', { name: 'console-welcome' }).waitFor();
    await page.getByRole('table', { name: 'Nodes' }).getByText('later').waitFor();
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    const r = await admin<{ status: string }>(server.url, 'GET', '/api/journeys/console-welcome');
    assert.equal(r.body.status, 'paused');
    await page.close();
  });

  it('changes the identity settings', async () => {
    const page = await signIn();
    await nav(page, 'Settings');
    const traits = page.getByLabel('Identifier traits');
    assert.equal(await traits.inputValue(), 'email');
    await traits.fill('email, phone');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved. The rules apply to events received from now on.').waitFor();
    const r = await admin<{ identifierTraits: string[] }>(server.url, 'GET', '/api/settings/identity');
    assert.deepEqual(r.body.identifierTraits, ['email', 'phone']);

    await traits.fill('user_id');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').waitFor();
    await page.close();
  });

  it('raises no uncaught error in the page', () => {
    assert.deepEqual(
      pageErrors.map((e) => e.message),
      [],
    );
  });
});
