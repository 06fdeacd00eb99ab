// Segments: the list with sizes, one segment with its members, and a JSON editor for definitions.
// A server without the segment routes answers 404 "no route…"; every page then says so plainly.

import { ApiError, api, enc, withQuery } from './api.js';
import {
  add,
  confirmDialog,
  count,
  downloadText,
  empty,
  failed,
  field,
  h,
  loading,
  pageHeader,
  replace,
  section,
  table,
} from './dom.js';
import { flashNext, navigate } from './nav.js';

const MEMBERS_PAGE = 50;

const EXAMPLE = {
  all: [
    { trait: 'plan', op: 'eq', value: 'pro' },
    { event: 'Order Completed', count: { op: 'gte', value: 2 }, within: '30d' },
  ],
};

const unavailable = () =>
  empty(
    'Segments are not available',
    'This server does not offer the segment API (/api/segments) yet. Profiles and settings work as usual.',
  );

export async function segmentsPage(view) {
  replace(view, pageHeader('Segments'), loading());
  let segments;
  let computed;
  try {
    [{ segments }, { computedTraits: computed }] = await Promise.all([
      api('GET', '/api/segments'),
      api('GET', '/api/computed-traits'),
    ]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      replace(view, pageHeader('Segments'), h('section', { class: 'card' }, unavailable()));
      return;
    }
    throw err;
  }
  const create = h('a', { class: 'button primary', href: '#/segments/new' }, 'New segment');
  replace(
    view,
    pageHeader('Segments', {
      sub: 'Groups of people defined by their traits and behaviour, kept up to date as events arrive.',
      actions: create,
    }),
    h(
      'section',
      { class: 'card' },
      segments.length === 0
        ? empty('No segments yet', 'Create one with “New segment”, or apply segments kept as code.')
        : table(
            [
              {
                label: 'Segment',
                cell: (s) => h('a', { href: `#/segments/${enc(s.key)}` }, s.name || s.key),
              },
              { label: 'Key', cell: (s) => h('code', {}, s.key) },
              { label: 'Status', cell: (s) => s.status ?? '' },
              { label: 'Members', class: 'num', cell: (s) => count(s.size) },
            ],
            segments,
            'Segments',
          ),
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'computed-title' },
      h(
        'div',
        { class: 'card-head' },
        h('h2', { id: 'computed-title' }, 'Computed traits'),
        h('a', { class: 'button', href: '#/computed-traits/new' }, 'New computed trait'),
      ),
      h(
        'p',
        { class: 'muted' },
        'Values worked out from each person’s events, shown on their profile and usable in segments ({"computed": "key", …}).',
      ),
      computed.length === 0
        ? empty('No computed traits yet', 'Create one with “New computed trait”, or apply them kept as code.')
        : table(
            [
              {
                label: 'Computed trait',
                cell: (c) => h('a', { href: `#/computed-traits/${enc(c.key)}/edit` }, c.key),
              },
              { label: 'What', cell: (c) => describeComputed(c.definition) },
              { label: 'Updated', cell: (c) => new Date(c.updatedAt).toLocaleString() },
            ],
            computed,
            'Computed traits',
          ),
    ),
  );
}

/** `sum of revenue, Order Completed in the last 90d`: a computed trait's definition in words. */
function describeComputed(d) {
  const what = d.property ? `${d.aggregate} of ${d.property}` : d.aggregate;
  const where = d.where?.length ? ` (${d.where.length} filter${d.where.length === 1 ? '' : 's'})` : '';
  return `${what}, ${d.event}${where}${d.within ? ` in the last ${d.within}` : ''}`;
}

/** Loads a segment; null after showing "not available" or "not found" in the view. */
const loadSegment = (view, key) => loadDefinition(view, '/api/segments/', 'segment', key);

/**
 * Loads a definition from `path` + key; null after showing "not available" or "not found" (of a
 * `noun`) in the view.
 */
async function loadDefinition(view, path, noun, key) {
  try {
    return await api('GET', `${path}${enc(key)}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    replace(
      view,
      backLink(),
      pageHeader(key),
      h(
        'section',
        { class: 'card' },
        err.noRoute ? unavailable() : empty(`No such ${noun}`, `There is no ${noun} with the key “${key}”.`),
      ),
    );
    return null;
  }
}

const backLink = () => h('p', {}, h('a', { href: '#/segments' }, '← Segments'));

export async function segmentPage(view, key) {
  replace(view, backLink(), loading());
  const s = await loadSegment(view, key);
  if (!s) return;
  const remove = h('button', { class: 'button danger', type: 'button' }, 'Delete…');
  const status = h('div', { 'aria-live': 'polite' });
  remove.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Delete the segment ${s.key}?`,
      text: 'Its definition and membership are removed. Journeys and segments that refer to it stop matching it.',
      confirm: 'Delete segment',
    });
    if (!ok) return;
    try {
      await api('DELETE', `/api/segments/${enc(s.key)}`);
      flashNext(`Segment ${s.key} deleted.`);
      navigate('#/segments');
    } catch (err) {
      failed(status, err);
    }
  });
  const csv = h('button', { class: 'button', type: 'button' }, 'Download CSV');
  csv.addEventListener('click', async () => {
    csv.disabled = true;
    try {
      const text = await api('GET', `/api/segments/${enc(s.key)}/members.csv`, undefined, { text: true });
      downloadText(`${s.key}.csv`, text, 'text/csv');
    } catch (err) {
      failed(status, err);
    } finally {
      csv.disabled = false;
    }
  });
  const members = h('div', {});
  replace(
    view,
    backLink(),
    pageHeader(s.name || s.key, {
      sub: h('span', {}, 'Key ', h('code', {}, s.key)),
      actions: [h('a', { class: 'button', href: `#/segments/${enc(s.key)}/edit` }, 'Edit'), remove],
    }),
    status,
    h(
      'div',
      { class: 'stats card' },
      h(
        'div',
        { class: 'stat' },
        h('div', { class: 'stat-label' }, 'Members'),
        h('div', { class: 'stat-value', 'data-testid': 'segment-size' }, count(s.size)),
      ),
      typeof s.status === 'string'
        ? h(
            'div',
            { class: 'stat' },
            h('div', { class: 'stat-label' }, 'Status'),
            h('div', { class: 'stat-value' }, s.status),
          )
        : null,
    ),
    section('Definition', h('pre', { class: 'code' }, h('code', {}, JSON.stringify(s.definition, null, 2)))),
    section('Members', h('p', {}, csv), members),
  );
  await memberPages(members, s.key);
}

async function memberPages(el, key) {
  const list = h('ul', { class: 'members' });
  const footer = h('div', { class: 'timeline-foot' });
  replace(el, list, footer);
  let shown = 0;
  const load = async (cursor) => {
    replace(footer, loading());
    let page;
    try {
      page = await api(
        'GET',
        withQuery(`/api/segments/${enc(key)}/members`, { limit: MEMBERS_PAGE, cursor, include: 'profiles' }),
      );
    } catch (err) {
      failed(footer, err);
      return;
    }
    const who = new Map((page.profiles ?? []).map((p) => [p.id, p]));
    for (const id of page.members) add(list, memberItem(id, who.get(id)));
    shown += page.members.length;
    if (shown === 0)
      replace(footer, empty('No members right now', 'Nobody matches the definition at the moment.'));
    else if (page.cursor) {
      const more = h('button', { class: 'button', type: 'button' }, 'More members');
      more.addEventListener('click', () => load(page.cursor));
      replace(footer, h('span', { class: 'muted' }, `${shown} shown`), more);
    } else replace(footer, h('span', { class: 'muted' }, `${shown} shown: all members`));
  };
  await load(null);
}

/** A member by who they are (user id, else anonymous id), their e-mail, and the profile id. */
function memberItem(id, p) {
  const name = p?.userIds[0] ?? p?.anonymousIds[0];
  const email = p?.identifiers.email?.[0];
  return h(
    'li',
    {},
    h('a', { href: `#/profiles/${enc(id)}` }, name ? name : h('code', {}, id)),
    email ? h('span', { class: 'muted' }, ` ${email}`) : null,
    name ? h('div', {}, h('code', { class: 'muted' }, id)) : null,
  );
}

/** What differs between editing a segment and editing a computed trait. */
const KINDS = {
  segment: {
    noun: 'segment',
    Noun: 'Segment',
    path: '/api/segments/',
    example: () => EXAMPLE,
    list: '#/segments',
    page: (k) => `#/segments/${enc(k)}`,
    keyHint: 'Names the segment in URLs and in other definitions ({"segment": "key"}).',
    reference: () => reference(),
  },
  computed: {
    noun: 'computed trait',
    Noun: 'Computed trait',
    path: '/api/computed-traits/',
    example: () => COMPUTED_EXAMPLE,
    list: '#/segments',
    page: () => '#/segments',
    keyHint: 'Names the trait on profiles (under "computed") and in segments ({"computed": "key", …}).',
    reference: () => computedReference(),
  },
};

const COMPUTED_EXAMPLE = { event: 'Order Completed', aggregate: 'sum', property: 'revenue', within: '365d' };

/** `#/segments/new` (no key) or `#/segments/{key}/edit`. */
export const segmentEditorPage = (view, key) => editorPage(view, KINDS.segment, key);

/** `#/computed-traits/new` (no key) or `#/computed-traits/{key}/edit`. */
export const computedEditorPage = (view, key) => editorPage(view, KINDS.computed, key);

async function editorPage(view, kind, key) {
  let definition = kind.example();
  if (key !== undefined) {
    replace(view, backLink(), loading());
    const s = await loadDefinition(view, kind.path, kind.noun, key);
    if (!s) return;
    definition = s.definition;
  }
  const keyInput = h('input', {
    type: 'text',
    name: 'key',
    required: true,
    maxlength: 100,
    autocomplete: 'off',
    spellcheck: 'false',
    readonly: key !== undefined,
    value: key ?? '',
  });
  const editor = h('textarea', {
    name: 'definition',
    class: 'code-editor',
    rows: 18,
    spellcheck: 'false',
    autocomplete: 'off',
  });
  editor.value = JSON.stringify(definition, null, 2);
  const problems = h('div', { class: 'problems', 'data-testid': 'problems' });
  const save = h(
    'button',
    { class: 'button primary', type: 'submit' },
    key === undefined ? `Create ${kind.noun}` : 'Save',
  );
  // A computed trait has no page of its own: it is deleted from its editor.
  const remove =
    key !== undefined && kind === KINDS.computed
      ? h('button', { class: 'button danger', type: 'button' }, 'Delete…')
      : null;
  remove?.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Delete the computed trait ${key}?`,
      text: 'It disappears from every profile. A segment that uses it must be changed first.',
      confirm: 'Delete computed trait',
    });
    if (!ok) return;
    try {
      await api('DELETE', `${kind.path}${enc(key)}`);
      flashNext(`${kind.Noun} ${key} deleted.`);
      navigate(kind.list);
    } catch (err) {
      failed(problems, err);
    }
  });
  const form = h(
    'form',
    {
      class: 'editor',
      onsubmit: async (e) => {
        e.preventDefault();
        replace(problems);
        const k = keyInput.value.trim();
        let body;
        try {
          body = JSON.parse(editor.value);
        } catch (err) {
          showProblems(problems, [{ path: '', message: `Not valid JSON: ${err.message}` }]);
          editor.focus();
          return;
        }
        save.disabled = true;
        try {
          await api('PUT', `${kind.path}${enc(k)}`, body);
          flashNext(`${kind.Noun} ${k} saved.`);
          navigate(kind.page(k));
        } catch (err) {
          if (err instanceof ApiError && err.noRoute) replace(problems, unavailable());
          else if (err instanceof ApiError) showProblems(problems, err.problems);
          else showProblems(problems, [{ path: '', message: err.message }]);
        } finally {
          save.disabled = false;
        }
      },
    },
    h(
      'div',
      { class: 'editor-main' },
      field('Key', keyInput, kind.keyHint),
      field('Definition (JSON)', editor),
      h(
        'div',
        { class: 'actions' },
        h('a', { class: 'button', href: key === undefined ? kind.list : kind.page(key) }, 'Cancel'),
        remove,
        save,
      ),
    ),
    h('aside', { class: 'editor-side' }, problems, kind.reference()),
  );
  replace(view, backLink(), pageHeader(key === undefined ? `New ${kind.noun}` : `Edit ${key}`), form);
}

function computedReference() {
  return referencePanel(
    'Computed traits',
    [
      ['Lifetime value', '{"event": "Order Completed", "aggregate": "sum", "property": "revenue"}'],
      ['Orders in 90 days', '{"event": "Order Completed", "aggregate": "count", "within": "90d"}'],
      [
        'Favourite category',
        '{"event": "Product Viewed", "aggregate": "most_frequent", "property": "category"}',
      ],
      ['Days since last order', '{"event": "Order Completed", "aggregate": "days_since_last"}'],
      ['Next purchase', '{"event": "Order Completed", "aggregate": "next_purchase"}'],
    ],
    'Aggregates: count sum avg min max first last distinct_count most_frequent days_since_last purchase_interval next_purchase. "where" filters and "within" work as in segments.',
  );
}

/** The examples beside an editor: a label and a definition each, and a note under them. */
function referencePanel(title, rows, note) {
  return h(
    'details',
    { class: 'card reference', open: true },
    h('summary', {}, title),
    h(
      'dl',
      {},
      rows.map(([label, example]) => [h('dt', {}, label), h('dd', {}, h('code', {}, example))]),
    ),
    h('p', { class: 'muted' }, note),
  );
}

function showProblems(el, list) {
  replace(
    el,
    h(
      'div',
      { class: 'notice notice-error', role: 'alert' },
      h(
        'p',
        {},
        list.length === 1 ? 'The definition has a problem:' : `The definition has ${list.length} problems:`,
      ),
      h(
        'ul',
        {},
        list.map((p) => h('li', {}, p.path ? [h('code', {}, p.path), ' '] : null, p.message)),
      ),
    ),
  );
}

function reference() {
  return referencePanel(
    'Conditions',
    [
      ['Trait', '{"trait": "plan", "op": "eq", "value": "pro"}'],
      [
        'Did an event',
        '{"event": "Order Completed", "where": [{"property": "revenue", "op": "gt", "value": 50}], "within": "30d"}',
      ],
      ['Did not', '{"event": "Order Completed", "count": {"op": "eq", "value": 0}, "within": "90d"}'],
      [
        'In order',
        '{"sequence": [{"event": "Product Viewed"}, {"event": "Order Completed"}], "within": "7d"}',
      ],
      ['Computed trait', '{"computed": "lifetime_value", "op": "gte", "value": 500}'],
      ['Other segment', '{"segment": "vip"}'],
      ['Combine', '{"all": […]}, {"any": […]}, {"not": …}'],
    ],
    'Trait ops: eq neq gt gte lt lte in not_in contains starts_with exists not_exists; for dates before after within_last not_within_last.',
  );
}
