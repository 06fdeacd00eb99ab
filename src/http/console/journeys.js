// Journeys: the list with their live numbers, and one journey with its statistics per node, its
// definition and its lifecycle (publish, pause, resume, stop). Journeys are written as code
// (`concierge apply` or PUT /api/journeys/{key}); the console shows and steers them.

import { ApiError, api, enc } from './api.js';
import {
  confirmDialog,
  count,
  empty,
  failed,
  h,
  loading,
  pageHeader,
  replace,
  section,
  table,
} from './dom.js';

const backLink = () => h('p', {}, h('a', { href: '#/journeys' }, '← Journeys'));

export async function journeysPage(view) {
  replace(view, pageHeader('Journeys'), loading());
  const { journeys } = await api('GET', '/api/journeys');
  const stats = await Promise.all(
    journeys.map((j) => api('GET', `/api/journeys/${enc(j.key)}/stats`).catch(() => null)),
  );
  const rows = journeys.map((j, i) => ({ ...j, stats: stats[i] }));
  replace(
    view,
    pageHeader('Journeys', {
      sub: 'What each journey is doing now: who entered, who waits, who converted, and the control group held out.',
    }),
    h(
      'section',
      { class: 'card' },
      rows.length === 0
        ? empty(
            'No journeys yet',
            'Write one as YAML and apply it with “concierge apply”, or PUT it to /api/journeys/{key}.',
          )
        : table(
            [
              { label: 'Journey', cell: (j) => h('a', { href: `#/journeys/${enc(j.key)}` }, j.key) },
              { label: 'Status', cell: (j) => j.status },
              {
                label: 'Version',
                class: 'num',
                cell: (j) => (j.publishedVersion === null ? '–' : String(j.publishedVersion)),
              },
              { label: 'Entered', class: 'num', cell: (j) => count(j.stats?.entered) },
              { label: 'Waiting', class: 'num', cell: (j) => count(j.stats?.waiting) },
              { label: 'Converted', class: 'num', cell: (j) => count(j.stats?.converted) },
              { label: 'Held out', class: 'num', cell: (j) => count(j.stats?.heldOut) },
            ],
            rows,
            'Journeys',
          ),
    ),
  );
}

const ACTIONS = {
  draft: ['publish'],
  active: ['pause', 'stop'],
  paused: ['resume', 'stop'],
  stopped: ['publish'],
};

export async function journeyPage(view, key) {
  replace(view, backLink(), loading());
  let j;
  let stats;
  try {
    [j, stats] = await Promise.all([
      api('GET', `/api/journeys/${enc(key)}`),
      api('GET', `/api/journeys/${enc(key)}/stats`),
    ]);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    replace(
      view,
      backLink(),
      pageHeader(key),
      h('section', { class: 'card' }, empty('No such journey', `There is no journey “${key}”.`)),
    );
    return;
  }
  const status = h('div', { 'aria-live': 'polite' });
  const buttons = (ACTIONS[j.status] ?? []).map((action) => {
    const b = h(
      'button',
      { class: `button ${action === 'stop' ? 'danger' : 'primary'}`, type: 'button' },
      label(action, j),
    );
    b.addEventListener('click', async () => {
      if (action === 'stop') {
        const ok = await confirmDialog({
          title: `Stop the journey ${j.key}?`,
          text: 'No one enters any more, and everyone in it now leaves (reason “stopped”).',
          confirm: 'Stop journey',
        });
        if (!ok) return;
      }
      b.disabled = true;
      try {
        await api('POST', `/api/journeys/${enc(j.key)}/${action}`, action === 'publish' ? {} : undefined);
        await journeyPage(view, key);
      } catch (err) {
        b.disabled = false;
        failed(status, err);
      }
    });
    return b;
  });
  const nodes = Object.entries(stats.nodes).map(([id, n]) => ({ id, ...n }));
  const skipped = (n) =>
    Object.entries(n)
      .filter(([k]) => k.startsWith('skipped:'))
      .reduce((s, [, v]) => s + v, 0);
  replace(
    view,
    backLink(),
    pageHeader(j.key, {
      sub: `${j.status} · version ${j.publishedVersion ?? '–'} of ${j.latestVersion} · changed ${new Date(j.updatedAt).toLocaleString()}`,
      actions: buttons.length > 0 ? h('span', {}, ...buttons) : undefined,
    }),
    status,
    section(
      'Numbers',
      table(
        [
          { label: 'Entered', class: 'num', cell: () => count(stats.entered) },
          { label: 'Held out', class: 'num', cell: () => count(stats.heldOut) },
          { label: 'Waiting now', class: 'num', cell: () => count(stats.waiting) },
          { label: 'Converted', class: 'num', cell: () => count(stats.converted) },
          { label: 'Completed', class: 'num', cell: () => count(stats.completed) },
          {
            label: 'Exited',
            cell: () =>
              Object.entries(stats.exited)
                .map(([r, n]) => `${r}: ${count(n)}`)
                .join(', ') || '–',
          },
        ],
        [stats],
        'Journey totals',
      ),
    ),
    section(
      'Nodes',
      nodes.length === 0
        ? empty('Nobody has reached a node yet', 'Numbers appear as people enter.')
        : table(
            [
              { label: 'Node', cell: (n) => h('code', {}, n.id) },
              { label: 'Reached', class: 'num', cell: (n) => count(n.reached) },
              { label: 'Waiting', class: 'num', cell: (n) => count(n.waiting) },
              { label: 'Passed', class: 'num', cell: (n) => count(n.passed) },
              { label: 'Delivered', class: 'num', cell: (n) => count(n.delivered ?? 0) },
              { label: 'Skipped', class: 'num', cell: (n) => count(skipped(n)) },
              { label: 'Converted here', class: 'num', cell: (n) => count(n.converted ?? 0) },
            ],
            nodes,
            'Nodes',
          ),
    ),
    section('Definition', h('pre', { class: 'json' }, JSON.stringify(j.definition, null, 2))),
  );
}

function label(action, j) {
  if (action === 'publish')
    return j.status === 'stopped' ? 'Publish again' : `Publish version ${j.latestVersion}`;
  return action[0].toUpperCase() + action.slice(1);
}
