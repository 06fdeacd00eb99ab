// Profiles: find a person, see everything held on them and what they did, export or erase them.

import { ApiError, api, enc, withQuery } from './api.js';
import {
  add,
  confirmDialog,
  downloadJson,
  empty,
  failed,
  field,
  h,
  keyValues,
  loading,
  notice,
  pageHeader,
  plural,
  replace,
  section,
  show,
  time,
} from './dom.js';
import { flashNext, navigate } from './nav.js';

const LOOKUPS = [
  { value: 'userId', label: 'User id' },
  { value: 'anonymousId', label: 'Anonymous id' },
  { value: 'email', label: 'E-mail' },
  { value: 'id', label: 'Profile id' },
];

const PAGE_SIZE = 50;

export async function profilesPage(view) {
  replace(
    view,
    pageHeader('Profiles', { sub: 'One profile per person, joined across devices and channels.' }),
    h('section', { class: 'card' }, searchForm()),
  );
}

function searchForm() {
  const by = h(
    'select',
    { name: 'by' },
    LOOKUPS.map((l) => h('option', { value: l.value }, l.label)),
  );
  const value = h('input', { type: 'search', name: 'q', required: true, autocomplete: 'off' });
  const result = h('div', { 'aria-live': 'polite' });
  const button = h('button', { class: 'button primary', type: 'submit' }, 'Search');
  return h(
    'form',
    {
      class: 'search',
      role: 'search',
      onsubmit: async (e) => {
        e.preventDefault();
        const q = value.value.trim();
        if (!q) return;
        button.disabled = true;
        replace(result);
        try {
          const profile =
            by.value === 'id'
              ? await api('GET', `/api/profiles/${enc(q)}`)
              : await api('GET', withQuery('/api/profiles', { [by.value]: q }));
          navigate(`#/profiles/${enc(profile.id)}`);
        } catch (err) {
          if (err instanceof ApiError && err.status === 404) {
            const label = LOOKUPS.find((l) => l.value === by.value)?.label ?? by.value;
            replace(result, empty('No profile found', `No profile holds ${label.toLowerCase()} “${q}”.`));
          } else replace(result, notice(err.message, 'error'));
        } finally {
          button.disabled = false;
        }
      },
    },
    h('div', { class: 'row' }, field('Find by', by), field('Value', value), button),
    result,
  );
}

/** What to call a person: their name, e-mail or user id, in that order. */
function displayName(p) {
  const t = p.traits ?? {};
  if (typeof t.name === 'string' && t.name) return t.name;
  const full = [t.firstName ?? t.first_name, t.lastName ?? t.last_name].filter(
    (x) => typeof x === 'string' && x,
  );
  if (full.length > 0) return full.join(' ');
  if (typeof t.email === 'string' && t.email) return t.email;
  return p.userIds?.[0] ?? 'Anonymous visitor';
}

export async function profilePage(view, id) {
  replace(view, h('p', {}, h('a', { href: '#/profiles' }, '← Profiles')), loading());
  let p;
  try {
    p = await api('GET', `/api/profiles/${enc(id)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      replace(
        view,
        pageHeader('Profile not found'),
        empty(`No profile has the id “${id}”.`, 'It may have been erased.'),
        h('section', { class: 'card' }, searchForm()),
      );
      return;
    }
    throw err;
  }
  const exportButton = h('button', { class: 'button', type: 'button' }, 'Export JSON');
  const eraseButton = h('button', { class: 'button danger', type: 'button' }, 'Erase…');
  const actionStatus = h('div', { 'aria-live': 'polite' });
  exportButton.addEventListener('click', () => exportProfile(p.id, exportButton, actionStatus));
  eraseButton.addEventListener('click', () => eraseProfile(p, actionStatus));

  const events = h('div', {});
  replace(
    view,
    h('p', {}, h('a', { href: '#/profiles' }, '← Profiles')),
    pageHeader(displayName(p), {
      sub: h('span', {}, 'Profile ', h('code', { 'data-testid': 'profile-id' }, p.id)),
      actions: [exportButton, eraseButton],
    }),
    actionStatus,
    h(
      'div',
      { class: 'grid' },
      section('Identifiers', identifiers(p)),
      section('Traits', keyValues(p.traits, 'No traits yet.')),
      section('Computed traits', keyValues(p.computed, 'None computed.')),
      section('Segments', segmentList(p.segments)),
      section('Consent', consent(p.consent)),
    ),
    section('Events', h('p', { class: 'muted' }, 'Newest first.'), events),
  );
  await timeline(events, p.id);
}

function identifiers(p) {
  const rows = [
    ['User ids', p.userIds],
    ['Anonymous ids', p.anonymousIds],
    ...Object.entries(p.identifiers ?? {}).map(([kind, values]) => [kind, values]),
    ['Groups', p.groups ?? []],
    ['Created', [time(p.createdAt)]],
    ['Updated', [time(p.updatedAt)]],
  ];
  return h(
    'table',
    { class: 'kv' },
    h(
      'tbody',
      {},
      rows.map(([label, values]) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, label),
          h(
            'td',
            {},
            values.length === 0
              ? h('span', { class: 'muted' }, 'none')
              : values.map((v) => h('div', {}, v instanceof Node ? v : h('code', {}, show(v)))),
          ),
        ),
      ),
    ),
  );
}

function segmentList(keys) {
  if (!keys || keys.length === 0) return h('p', { class: 'muted' }, 'In no segment.');
  return h(
    'ul',
    { class: 'tags' },
    keys.map((k) => h('li', {}, h('a', { href: `#/segments/${enc(k)}` }, k))),
  );
}

function consent(c) {
  const entries = Object.entries(c ?? {});
  if (entries.length === 0) return h('p', { class: 'muted' }, 'No consent preferences received.');
  return h(
    'table',
    { class: 'kv' },
    h(
      'tbody',
      {},
      entries.map(([purpose, v]) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, purpose),
          h(
            'td',
            {},
            v === true
              ? h('span', { class: 'badge ok' }, 'granted')
              : v === false
                ? h('span', { class: 'badge no' }, 'denied')
                : show(v),
          ),
        ),
      ),
    ),
  );
}

/** The one-line summary of an event in the timeline. */
function summary(e) {
  switch (e.type) {
    case 'track':
      return e.event;
    case 'page':
    case 'screen':
      return e.name ?? e.properties?.path ?? e.properties?.url ?? '';
    case 'identify':
      return `traits: ${Object.keys(e.traits ?? {}).join(', ') || 'none'}`;
    case 'group':
      return `group ${e.groupId}`;
    case 'alias':
      return `${e.previousId} → ${e.userId}`;
    default:
      return '';
  }
}

async function timeline(el, profileId) {
  const list = h('ol', { class: 'timeline', 'aria-label': 'Events, newest first' });
  const footer = h('div', { class: 'timeline-foot' });
  replace(el, list, footer);
  let shown = 0;
  const load = async (before) => {
    replace(footer, loading());
    let page;
    try {
      page = await api(
        'GET',
        withQuery(`/api/profiles/${enc(profileId)}/events`, { limit: PAGE_SIZE, before }),
      );
    } catch (err) {
      failed(footer, err);
      return;
    }
    for (const e of page.events) {
      add(
        list,
        h(
          'li',
          {},
          h(
            'details',
            {},
            h(
              'summary',
              {},
              time(e.timestamp),
              h('span', { class: `type type-${e.type}` }, e.type),
              h('span', { class: 'event-name' }, show(summary(e))),
            ),
            h('pre', { class: 'code' }, h('code', {}, JSON.stringify(e, null, 2))),
          ),
        ),
      );
    }
    shown += page.events.length;
    if (shown === 0) {
      replace(footer, empty('No events', 'Nothing has been received for this person.'));
    } else if (page.cursor) {
      const more = h('button', { class: 'button', type: 'button' }, 'Load older events');
      more.addEventListener('click', () => load(page.cursor));
      replace(footer, h('span', { class: 'muted' }, `${shown} shown`), more);
    } else {
      replace(
        footer,
        h('span', { class: 'muted' }, `${shown} ${shown === 1 ? 'event' : 'events'}: the whole history`),
      );
    }
  };
  await load(null);
}

async function exportProfile(id, button, status) {
  button.disabled = true;
  replace(status);
  try {
    const data = await api('GET', `/api/profiles/${enc(id)}/export`);
    downloadJson(`profile-${id}.json`, data);
  } catch (err) {
    failed(status, err);
  } finally {
    button.disabled = false;
  }
}

async function eraseProfile(p, status) {
  const ok = await confirmDialog({
    title: `Erase ${displayName(p)}?`,
    text: 'Their events, traits, identifiers and group links are removed for good. This cannot be undone.',
    confirm: 'Erase permanently',
  });
  if (!ok) return;
  replace(status);
  try {
    const r = await api('DELETE', `/api/profiles/${enc(p.id)}`);
    flashNext(
      `Profile erased: ${plural(r.events, 'event')} and ${plural(r.identifiers, 'identifier')} removed.`,
    );
    navigate('#/profiles');
  } catch (err) {
    failed(status, err);
  }
}
