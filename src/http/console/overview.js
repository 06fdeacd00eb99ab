// Overview: is the server running, what it holds, where events come from, and how to send some.

import { ApiError, api } from './api.js';
import {
  add,
  count,
  empty,
  failed,
  field,
  h,
  loading,
  notice,
  pageHeader,
  replace,
  section,
  table,
  time,
} from './dom.js';

export async function overviewPage(view) {
  const stats = h('div', { class: 'stats' }, loading());
  const sources = h('div', {}, loading());
  replace(
    view,
    pageHeader('Overview', { sub: `This server: ${location.origin}` }),
    h('section', { class: 'card', 'aria-label': 'Status' }, stats),
    section(
      'Sources',
      h('p', { class: 'muted' }, 'Each source has its own write key.'),
      sources,
      newSourceForm(sources),
    ),
    section('Send events', snippets()),
  );
  await Promise.all([
    showStatus(stats).catch((err) => failed(stats, err)),
    showSources(sources).catch((err) => failed(sources, err)),
  ]);
}

async function showStatus(el) {
  const s = await api('GET', '/api/status');
  replace(
    el,
    stat('Status', h('span', { class: 'badge ok' }, 'Running')),
    stat('Store', s.store),
    stat('Events', count(s.events)),
    stat('Profiles', count(s.profiles)),
  );
}

const stat = (label, value) =>
  h(
    'div',
    { class: 'stat' },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, value),
  );

async function showSources(el) {
  const { sources } = await api('GET', '/api/sources');
  replace(
    el,
    sources.length === 0
      ? empty('No sources yet', 'Create one below to get a write key.')
      : table(
          [
            { label: 'Name', cell: (s) => s.name },
            { label: 'Id', cell: (s) => h('code', {}, s.id) },
            { label: 'Created', cell: (s) => time(s.createdAt) },
          ],
          sources,
          'Sources',
        ),
  );
}

function newSourceForm(list) {
  const name = h('input', {
    type: 'text',
    name: 'name',
    required: true,
    maxlength: 200,
    placeholder: 'Website',
  });
  const result = h('div', { 'aria-live': 'polite' });
  const button = h('button', { class: 'button', type: 'submit' }, 'Create source');
  return h(
    'form',
    {
      class: 'inline-form',
      onsubmit: async (e) => {
        e.preventDefault();
        button.disabled = true;
        replace(result);
        try {
          const created = await api('POST', '/api/sources', { name: name.value.trim() });
          name.value = '';
          replace(result, writeKeyNotice(created));
          await showSources(list);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 401)) replace(result, notice(err.message, 'error'));
        } finally {
          button.disabled = false;
        }
      },
    },
    h('div', { class: 'row' }, field('New source name', name), button),
    result,
  );
}

function writeKeyNotice(source) {
  const key = h('code', { class: 'secret', 'data-testid': 'write-key' }, source.writeKey);
  const copy = h('button', { class: 'button small', type: 'button' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(source.writeKey);
      copy.textContent = 'Copied';
    } catch {
      getSelection()?.selectAllChildren(key);
      copy.textContent = 'Selected: press Ctrl+C';
    }
  });
  return h(
    'div',
    { class: 'notice notice-success', role: 'status' },
    h('p', {}, 'Write key of ', h('strong', {}, source.name), '. Copy it now: it is not shown again.'),
    h('div', { class: 'row' }, key, copy),
  );
}

function snippets() {
  const origin = location.origin;
  const curl = [
    `curl -u "$WRITE_KEY:" ${origin}/v1/identify \\`,
    `  -d '{"userId":"u1","traits":{"email":"ada@example.com","plan":"pro"}}'`,
    `curl -u "$WRITE_KEY:" ${origin}/v1/track \\`,
    `  -d '{"userId":"u1","event":"Order Completed","properties":{"revenue":42}}'`,
  ].join('\n');
  const node = [
    `// npm install @segment/analytics-node`,
    `import { Analytics } from '@segment/analytics-node';`,
    '',
    `const analytics = new Analytics({ writeKey: process.env.WRITE_KEY, host: '${origin}' });`,
    `analytics.identify({ userId: 'u1', traits: { email: 'ada@example.com' } });`,
    `analytics.track({ userId: 'u1', event: 'Order Completed', properties: { revenue: 42 } });`,
    'await analytics.closeAndFlush();',
  ].join('\n');
  return add(
    h('div', {}),
    h('p', { class: 'muted' }, 'With a write key in WRITE_KEY, from a shell:'),
    h('pre', { class: 'code', tabindex: '0', 'aria-label': 'curl example' }, h('code', {}, curl)),
    h(
      'p',
      { class: 'muted' },
      'Or with any Segment library that lets you set its host, such as the Node.js one:',
    ),
    h('pre', { class: 'code', tabindex: '0', 'aria-label': 'Node.js example' }, h('code', {}, node)),
  );
}
