/**
 * bench:send — e-mails per second through the real delivery path into a local SMTP peer: each
 * message is rendered from a stored Liquid template (HTML + text, with a translation), its links
 * signed and rewritten, an open pixel and the one-click unsubscribe headers added, composed by our
 * MIME composer and sent over the sender's pooled SMTP connections to an `smtp-server` on loopback
 * (in a thread of its own) that reads every byte. In the same run, the baseline: the same rendered
 * messages sent with nodemailer's own pooled transport (its composer and pool), as most Node
 * systems send. Then the cost of one guardrail decision with 100 rules.
 *
 *   npm run bench:send                       # 20,000 messages, 8 connections, 400 in flight
 *   npm run bench:send -- --messages 50000 --connections 16 --in-flight 800
 *   npm run bench:send -- --no-baseline      # skip the nodemailer baseline
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import nodemailer from 'nodemailer';
import { parseSettings } from '../src/channels/channel-settings.ts';
import { EmailSender, feedbackLinks } from '../src/channels/email-sender.ts';
import { FeedbackTokens } from '../src/channels/feedback-tokens.ts';
import { addOpenPixel, rewriteLinks } from '../src/channels/html-tracking.ts';
import type { OutboundMessage } from '../src/channels/outbound.ts';
import type { RenderedMessage } from '../src/channels/sender.ts';
import type { WorkspaceId } from '../src/core/ids.ts';
import type { Store } from '../src/store/port.ts';
import { TemplateService } from '../src/templates/template-service.ts';
import { runGuardrailBench } from './guardrails.ts';
import { fmt, percentile } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '8' },
    'in-flight': { type: 'string', default: '400' },
    'max-messages': { type: 'string', default: '100000' },
    'no-baseline': { type: 'boolean', default: false },
  },
});
const TOTAL = Number(args.messages);
const CONNECTIONS = Number(args.connections);
const IN_FLIGHT = Number(args['in-flight']);
const ws = 'default' as WorkspaceId;

/** The settings half of the store port in memory: templates, channel settings and the signing key. */
function memoryStore(): Store {
  const values = new Map<string, string>();
  return {
    kind: 'sqlite',
    getSetting: async (w: string, k: string) => values.get(`${w}/${k}`) ?? null,
    setSetting: async (w: string, k: string, v: string) => {
      values.set(`${w}/${k}`, v);
    },
  } as unknown as Store;
}

async function main(): Promise<void> {
  const peer = new Worker(new URL('../src/store/sqlite/worker-entry.mjs', import.meta.url), {
    workerData: { entry: new URL('./smtp-peer-worker.ts', import.meta.url).href },
  });
  const ask = <T>(m: string) =>
    new Promise<T>((resolve) => {
      peer.once('message', resolve);
      peer.postMessage(m);
    });
  const { port } = await new Promise<{ port: number }>((resolve) => peer.once('message', resolve));

  const store = memoryStore();
  const templates = new TemplateService({
    store,
    now: Date.now,
    links: async () => ({ unsubscribe_url: 'https://t.shop.example/t/u/x' }),
  });
  await templates.put(ws, 'order-shipped', {
    channel: 'email',
    category: 'transactional',
    defaultLocale: 'en',
    required: ['profile.traits.first_name', 'event.properties.order_id'],
    locales: {
      en: {
        subject: 'Your order {{ event.properties.order_id }} is on its way, {{ profile.traits.first_name }}',
        html: `<html><body><h1>Hi {{ profile.traits.first_name | capitalize }}</h1>
<p>Order <b>{{ event.properties.order_id }}</b> ({{ event.properties.items | size }} items, {{ event.properties.total | times: 1.0 | round: 2 }} EUR) has shipped.</p>
<ul>{% for item in event.properties.items %}<li><a href="https://shop.example/p/{{ item.sku }}">{{ item.name }}</a> × {{ item.qty }}</li>{% endfor %}</ul>
{% if computed.orders > 3 %}<p>Thanks for being a regular: {{ computed.orders }} orders!</p>{% endif %}
<p><a href="https://shop.example/track/{{ event.properties.order_id }}">Track it</a> · <a href="{{ message.unsubscribe_url }}">Unsubscribe</a></p></body></html>`,
        text: 'Hi {{ profile.traits.first_name }}, order {{ event.properties.order_id }} has shipped.',
      },
      de: {
        subject: 'Ihre Bestellung {{ event.properties.order_id }} ist unterwegs',
        html: '<p>Hallo {{ profile.traits.first_name }}</p>',
      },
    },
  });
  const tokens = new FeedbackTokens(store);
  const sender = new EmailSender(tokens);
  const settings = parseSettings(
    'email',
    {
      host: '127.0.0.1',
      port,
      ignoreTLS: true,
      from: 'Shop <orders@shop.example>',
      publicUrl: 'https://t.shop.example',
      maxConnections: CONNECTIONS,
      maxMessages: Number(args['max-messages']),
    },
    null,
  );

  const message = (i: number): OutboundMessage => ({
    id: `bench-${i}`,
    workspaceId: ws,
    profileId: `p-${i}`,
    channel: 'email',
    template: 'order-shipped',
    category: 'transactional',
    journey: { key: 'post-purchase', version: 1, runId: `r-${i}`, node: 'shipped' },
    event: {
      event: 'Order Shipped',
      properties: {
        order_id: `A-${i}`,
        total: 40 + (i % 100),
        items: [
          { sku: `sku-${i % 50}`, name: 'Trail shoe', qty: 1 },
          { sku: `sku-${(i + 7) % 50}`, name: 'Socks', qty: 3 },
        ],
      },
    },
    context: {},
    createdAt: Date.now(),
  });
  const profile = (i: number) => ({
    id: `p-${i}`,
    traits: {
      first_name: `customer${i}`,
      email: `c${i}@example.com`,
      locale: i % 5 === 0 ? 'de-AT' : 'en-GB',
    },
    userIds: [`u-${i}`],
  });

  // Render cost alone, one after another (nothing else in flight, so queueing is not counted).
  const renderMs: number[] = [];
  for (let i = 0; i < Math.min(TOTAL, 10_000); i++) {
    const t0 = performance.now();
    const r = await templates.render(message(i), profile(i), { orders: i % 7 });
    renderMs.push(performance.now() - t0);
    if (r.kind !== 'rendered') throw new Error(`render skipped: ${r.reason}`);
  }
  renderMs.sort((a, b) => a - b);
  let failures = 0;
  const viaConcierge = async (i: number) => {
    const m = message(i);
    const p = profile(i);
    const r = await templates.render(m, p, { orders: i % 7 });
    if (r.kind !== 'rendered') throw new Error(`render skipped: ${r.reason}`);
    const rendered: RenderedMessage = {
      id: m.id,
      workspaceId: ws,
      profileId: m.profileId,
      channel: 'email',
      template: m.template,
      category: m.category,
      locale: r.locale,
      to: { email: p.traits.email },
      content: r.content,
    };
    const s = await sender.send(rendered, m.id, settings);
    if (s.kind !== 'delivered') failures++;
  };

  /** Sends `TOTAL` messages with `IN_FLIGHT` at a time after a warm-up; e-mails/s and CPU per e-mail. */
  const drive = async (one: (i: number) => Promise<void>) => {
    let next = 0;
    const warm = Math.min(2000, TOTAL);
    // Warm-up: open the pool and let the JIT see the path.
    await Promise.all(
      Array.from({ length: Math.min(IN_FLIGHT, warm) }, async () => {
        while (next < warm) await one(TOTAL + next++);
      }),
    );
    await ask('reset');
    next = 0;
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < TOTAL) await one(next++);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const { received, bytes } = await ask<{ received: number; bytes: number }>('count');
    return {
      perSec: TOTAL / seconds,
      seconds,
      cpuMs: (cpu.user + cpu.system) / 1000 / TOTAL,
      received,
      bytes,
    };
  };

  const ours = await drive(viaConcierge);
  console.log(
    `bench:send — ${fmt(TOTAL)} e-mails, ${CONNECTIONS} pooled SMTP connections, ${IN_FLIGHT} in flight`,
  );
  console.log(
    `  sent and received by the peer: ${fmt(ours.received)} (${failures} failed), ${fmt(ours.bytes / TOTAL)} bytes each`,
  );
  console.log(`  throughput: ${fmt(ours.perSec)} e-mails/s (${ours.seconds.toFixed(2)} s)`);
  console.log(
    `  CPU of the process (sender: render, sign, MIME, SMTP client; plus the peer thread): ${ours.cpuMs.toFixed(3)} ms per e-mail (both sides), about ${fmt(1000 / ours.cpuMs)} e-mails/s per core`,
  );
  console.log(
    `  render (template + links, sequential): p50 ${percentile(renderMs, 50).toFixed(3)} ms, p99 ${percentile(renderMs, 99).toFixed(3)} ms`,
  );
  if (ours.received !== TOTAL || failures > 0) process.exitCode = 1;

  if (!args['no-baseline']) {
    // The baseline: the same rendered, signed messages through nodemailer's pooled transport.
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      ignoreTLS: true,
      pool: true,
      maxConnections: CONNECTIONS,
      maxMessages: Number(args['max-messages']),
    });
    const sign = await tokens.signer(ws);
    const trackedBase = `${settings.publicUrl}/t/`;
    const viaNodemailer = async (i: number) => {
      const m = message(i);
      const p = profile(i);
      const r = await templates.render(m, p, { orders: i % 7 });
      if (r.kind !== 'rendered' || r.content.channel !== 'email') throw new Error('render skipped');
      const links = feedbackLinks(sign, settings.publicUrl, {
        id: m.id,
        workspaceId: ws,
        profileId: m.profileId,
        channel: 'email',
        template: m.template,
      });
      const html = addOpenPixel(
        rewriteLinks(r.content.html ?? '', links.click, (u) => u.startsWith(trackedBase)),
        links.open,
      );
      await transport.sendMail({
        from: settings.from,
        to: p.traits.email,
        subject: r.content.subject,
        html,
        ...(r.content.text !== undefined ? { text: r.content.text } : {}),
        messageId: `<${m.id}@shop.example>`,
        headers: {
          'List-Unsubscribe': `<${links.unsubscribe}>`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          'X-Concierge-Message': m.id,
          'X-Concierge-Feedback': links.receipt,
        },
      });
    };
    const base = await drive(viaNodemailer);
    transport.close();
    console.log(
      `  baseline, nodemailer's pooled transport (its composer and pool), same messages: ${fmt(base.perSec)} e-mails/s, ${base.cpuMs.toFixed(3)} ms CPU per e-mail (${fmt(base.received)} received)`,
    );
    console.log(
      `  ratio: ${(ours.perSec / base.perSec).toFixed(2)}× the baseline's e-mails/s, ${(base.cpuMs / ours.cpuMs).toFixed(2)}× less CPU per e-mail`,
    );
  }

  const g = await runGuardrailBench();
  console.log(
    `guardrail decision per message, ${g.rules} rules, ${fmt(g.decisions)} decisions: p50 ${(g.p50Ms * 1000).toFixed(1)} µs, p99 ${(g.p99Ms * 1000).toFixed(1)} µs (target p99 ≤ 1 ms)`,
  );
  await sender.close();
  await new Promise<void>((r) => {
    peer.once('exit', () => r());
    peer.postMessage('close');
  });
}

await main();
