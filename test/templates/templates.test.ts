/**
 * Templates: Liquid over profile, computed traits, event and journey context; translations by the
 * profile's locale with fallback; declared required variables that skip rather than half-fill;
 * a sandbox (no includes, unknown filters refused, limits); path-precise errors over HTTP; preview.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OutboundMessage } from '../../src/channels/outbound.ts';
import type { WorkspaceId } from '../../src/core/ids.ts';
import { LiquidSandbox } from '../../src/templates/liquid-sandbox.ts';
import { chooseLocale } from '../../src/templates/locale.ts';
import { TemplateService } from '../../src/templates/template-service.ts';
import { settingsOnlyStore } from '../channels/memory-settings.ts';
import {
  ADMIN_TOKEN,
  admin,
  findProfile,
  type InProcessServer,
  postTracking,
  startApp,
  uid,
} from '../helpers/server.ts';

const ws = 'default' as WorkspaceId;

const SHIPPED = {
  channel: 'email',
  category: 'transactional',
  defaultLocale: 'en',
  required: ['profile.traits.first_name', 'event.properties.order_id'],
  locales: {
    en: {
      subject: 'Order {{ event.properties.order_id }} shipped',
      html: '<p>Hi {{ profile.traits.first_name }}, {{ computed.orders }} orders so far. <a href="{{ message.unsubscribe_url }}">unsubscribe</a></p>',
      text: 'Hi {{ profile.traits.first_name }}',
    },
    pt: {
      subject: 'Pedido {{ event.properties.order_id }} enviado',
      text: 'Olá {{ profile.traits.first_name }}',
    },
    'pt-BR': {
      subject: 'Seu pedido {{ event.properties.order_id }} saiu',
      text: 'Oi {{ profile.traits.first_name }}',
    },
  },
};

const message = (
  template: string,
  event: Record<string, unknown> | null,
  channel = 'email',
): OutboundMessage => ({
  id: 'm-1',
  workspaceId: ws,
  profileId: 'p-1',
  channel: channel as OutboundMessage['channel'],
  template,
  category: 'transactional',
  journey: { key: 'post-purchase', version: 1, runId: 'r-1', node: 'send' },
  event,
  context: { wait: { coupon: 'SAVE10' } },
  createdAt: 0,
});

describe('rendering', () => {
  const service = new TemplateService({ store: settingsOnlyStore(), now: () => 0 });
  before(async () => {
    await service.put(ws, 'shipped', SHIPPED);
    await service.put(ws, 'crm', {
      channel: 'webhook',
      locales: {
        en: {
          body: {
            user: '{{ profile.userId }}',
            coupon: '{{ context.wait.coupon }}',
            n: 3,
            tags: ['{{ journey.key }}'],
          },
        },
      },
    });
  });
  const profile = (traits: Record<string, unknown>) => ({ id: 'p-1', traits, userIds: ['u-1'] });
  const order = { properties: { order_id: 'A-17' } };

  test('picks the translation by locale: exact, then the language, then the default', async () => {
    for (const [locale, subject] of [
      ['pt-BR', 'Seu pedido A-17 saiu'],
      ['pt_br', 'Seu pedido A-17 saiu'],
      ['pt-PT', 'Pedido A-17 enviado'],
      ['pt', 'Pedido A-17 enviado'],
      ['de-DE', 'Order A-17 shipped'],
      [undefined, 'Order A-17 shipped'],
      [42, 'Order A-17 shipped'],
    ] as const) {
      const r = await service.render(message('shipped', order), profile({ first_name: 'Ana', locale }), {});
      assert.equal(r.kind, 'rendered', `${locale}: ${JSON.stringify(r)}`);
      assert.equal((r as { content: { subject: string } }).content.subject, subject, String(locale));
    }
    assert.deepEqual(chooseLocale(['en', 'zh-Hant'], 'zh-Hant-TW', 'en'), {
      locale: 'zh-Hant',
      fallback: true,
    });
  });

  test('sees profile, computed traits, event, journey and context; escapes HTML output', async () => {
    const r = await service.render(message('shipped', order), profile({ first_name: '<b>Ana</b>' }), {
      orders: 3,
    });
    assert.equal(r.kind, 'rendered');
    const html = (r as { content: { html: string } }).content.html;
    assert.match(html, /Hi &lt;b&gt;Ana&lt;\/b&gt;, 3 orders so far/);
    const w = await service.render(message('crm', null, 'webhook'), profile({}), {});
    assert.deepEqual((w as { content: unknown }).content, {
      channel: 'webhook',
      body: { user: 'u-1', coupon: 'SAVE10', n: 3, tags: ['post-purchase'] },
    });
  });

  test('a missing required variable skips the message and names every missing one', async () => {
    const r = await service.render(message('shipped', { properties: {} }), profile({ first_name: '  ' }), {});
    assert.deepEqual(r, {
      kind: 'skipped',
      reason: 'missing required variables profile.traits.first_name, event.properties.order_id',
      missing: ['profile.traits.first_name', 'event.properties.order_id'],
    });
  });

  test('a missing template or a template of another channel is a skip with its reason', async () => {
    assert.match(
      JSON.stringify(await service.render(message('nope', order), profile({}), {})),
      /no template 'nope'/,
    );
    assert.match(
      JSON.stringify(
        await service.render(message('shipped', order, 'sms'), profile({ first_name: 'A' }), {}),
      ),
      /is for email, not sms/,
    );
  });

  test('the sandbox: no includes, no prototype walking, and limits turn a runaway template into a skip', async () => {
    const liquid = new LiquidSandbox({ ...new LiquidSandbox().limits, renderMs: 2000, maxOutputChars: 1000 });
    const s = new TemplateService({ store: settingsOnlyStore(), now: () => 0, liquid });
    await assert.rejects(
      s.put(ws, 'x', { channel: 'sms', locales: { en: { text: '{% include "/etc/passwd" %}' } } }),
      /locales\.en\.text: Liquid syntax: the include tag is not available/,
    );
    await s.put(ws, 'proto', {
      channel: 'sms',
      locales: { en: { text: 'x{{ profile.constructor.name }}{{ profile.traits.__proto__ }}y' } },
    });
    const p = await s.render({ ...message('proto', null), channel: 'sms' }, profile({}), {});
    assert.deepEqual((p as { content: unknown }).content, { channel: 'sms', text: 'xy' });
    await s.put(ws, 'big', {
      channel: 'sms',
      locales: { en: { text: '{% for i in (1..5000) %}abc{% endfor %}' } },
    });
    const big = await s.render({ ...message('big', null), channel: 'sms' }, profile({}), {});
    assert.equal(big.kind, 'skipped');
    assert.match(
      (big as { reason: string }).reason,
      /rendered output is 15000 characters; the limit is 1000/,
    );
  });
});

describe('templates over HTTP', () => {
  let server: InProcessServer;
  before(async () => {
    server = await startApp();
  });
  after(async () => server?.close());

  test('bad templates are refused with the path of each problem', async () => {
    const r = await admin<{ error: string; errors: { path: string; message: string }[] }>(
      server.url,
      'PUT',
      '/api/templates/bad',
      {
        channel: 'email',
        required: ['nothing.here', 'profile.traits.x'],
        locales: {
          en: { subject: 'Hi {{ profile.traits.name | shout }}', html: '{% if %}', extra: 1 },
          'not a locale': {},
        },
      },
    );
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_template');
    const paths = r.body.errors.map((e) => e.path);
    assert.deepEqual(
      paths.sort(),
      [
        'locales.en.extra',
        'locales.en.html',
        'locales.en.subject',
        'locales.not a locale',
        'required[0]',
      ].sort(),
    );
    assert.match(
      r.body.errors.find((e) => e.path === 'locales.en.subject')!.message,
      /Liquid syntax: undefined filter: shout/,
    );
    assert.equal(
      (await admin(server.url, 'PUT', '/api/templates/bad', { channel: 'fax', locales: { en: {} } })).status,
      400,
    );
  });

  test('a YAML template is stored, listed, previewed for a stored and an inline profile, and deleted', async () => {
    const yaml = `channel: sms\nrequired: [profile.traits.first_name]\ndefaultLocale: en\nlocales:\n  en: { text: "Hi {{ profile.traits.first_name }}, order {{ event.properties.order_id }}" }\n  fr: { text: "Salut {{ profile.traits.first_name }}" }\n`;
    const put = await fetch(`${server.url}/api/templates/welcome-sms`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/yaml' },
      body: yaml,
    });
    assert.equal(put.status, 201, await put.clone().text());
    const list = await admin<{ templates: { key: string }[] }>(server.url, 'GET', '/api/templates');
    assert.ok(list.body.templates.some((t) => t.key === 'welcome-sms'));

    const userId = uid('tpl');
    assert.equal(
      (
        await postTracking(server.url, '/v1/identify', {
          userId,
          traits: { first_name: 'Léa', locale: 'fr-CA' },
        })
      ).status,
      200,
    );
    const p = await findProfile(server.url, 'userId', userId);
    const stored = await admin<{ status: string; locale: string; content: { text: string } }>(
      server.url,
      'POST',
      '/api/templates/welcome-sms/preview',
      { profileId: p!.id },
    );
    assert.deepEqual(stored.body, {
      status: 'rendered',
      channel: 'sms',
      locale: 'fr',
      content: { text: 'Salut Léa' },
    });
    const inline = await admin(server.url, 'POST', '/api/templates/welcome-sms/preview', {
      profile: { traits: { first_name: 'Ann' } },
      event: { properties: { order_id: 'A-1' } },
    });
    assert.deepEqual(inline.body, {
      status: 'rendered',
      channel: 'sms',
      locale: 'en',
      content: { text: 'Hi Ann, order A-1' },
    });
    const skipped = await admin(server.url, 'POST', '/api/templates/welcome-sms/preview', {
      profile: { traits: {} },
    });
    assert.deepEqual(skipped.body, {
      status: 'skipped',
      reason: 'missing required variable profile.traits.first_name',
      missing: ['profile.traits.first_name'],
    });
    assert.equal(
      (await admin(server.url, 'POST', '/api/templates/welcome-sms/preview', { profile: 'x' })).status,
      400,
    );
    assert.equal(
      (await admin(server.url, 'POST', '/api/templates/welcome-sms/preview', { profileId: 'nope' })).status,
      404,
    );
    assert.equal((await admin(server.url, 'DELETE', '/api/templates/welcome-sms')).status, 200);
    assert.equal((await admin(server.url, 'GET', '/api/templates/welcome-sms')).status, 404);
  });

  test('needs the admin token', async () => {
    assert.equal((await fetch(`${server.url}/api/templates`)).status, 401);
  });
});
