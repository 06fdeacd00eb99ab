// Building the page from data without ever parsing data as HTML: every value goes in as a text
// node or an attribute, so a trait such as `<img onerror=…>` shows as the characters it is.

/**
 * Creates an element. `attrs` keys starting with `on` become event listeners; `class` sets the
 * class name; `true` sets an empty attribute; `false`, `null` and `undefined` are left out.
 * Children are nodes or values (inserted as text); arrays are flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  add(el, children);
  return el;
}

/** Appends nodes or values (as text) to an element. */
export function add(el, ...children) {
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  return add(el, ...children);
}

/** A value as a person reads it: strings as they are, everything else as JSON. */
export function show(value) {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return JSON.stringify(value);
}

const numberFormat = new Intl.NumberFormat('en');
export const count = (n) => (typeof n === 'number' ? numberFormat.format(n) : '–');

/** A `<time>` showing the local date and time, with the exact instant on hover. */
export function time(iso) {
  const d = new Date(iso);
  if (typeof iso !== 'string' || Number.isNaN(d.getTime())) return h('span', {}, show(iso));
  return h('time', { datetime: iso, title: iso }, d.toLocaleString());
}

/** A page heading with an optional line under it and actions on the right. */
export function pageHeader(title, { sub, actions } = {}) {
  return h(
    'header',
    { class: 'page-header' },
    h('div', {}, h('h1', {}, title), sub ? h('p', { class: 'sub' }, sub) : null),
    actions ? h('div', { class: 'actions' }, actions) : null,
  );
}

let sectionCount = 0;

/** A titled card, named by its heading for assistive technology. */
export function section(title, ...children) {
  sectionCount += 1;
  const id = `section-${sectionCount}`;
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** `1 event`, `2 events`. */
export const plural = (n, word) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;

export function empty(title, text) {
  return h(
    'div',
    { class: 'empty' },
    h('p', { class: 'empty-title' }, title),
    text ? h('p', {}, text) : null,
  );
}

export function notice(text, kind = 'info') {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** Shows a failed request in place of what it was loading. */
export function failed(el, err) {
  replace(el, notice(err instanceof Error ? err.message : String(err), 'error'));
}

export const loading = () => h('p', { class: 'loading', role: 'status' }, 'Loading…');

/** A table of keys and values; `emptyText` when there are none. */
export function keyValues(obj, emptyText) {
  const entries = Object.entries(obj ?? {});
  if (entries.length === 0) return h('p', { class: 'muted' }, emptyText);
  return h(
    'table',
    { class: 'kv' },
    h(
      'tbody',
      {},
      entries.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, show(v)))),
    ),
  );
}

/**
 * A table: `columns` are `{ label, cell(row) → node or value, class? }`.
 * `caption` names it for screen readers.
 */
export function table(columns, rows, caption) {
  return h(
    'table',
    { class: 'list' },
    caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((row) =>
        h(
          'tr',
          {},
          columns.map((c) => h('td', { class: c.class }, c.cell(row))),
        ),
      ),
    ),
  );
}

let fieldCount = 0;

/** A labelled form field: the label, the control, and an optional hint tied to it. */
export function field(label, control, hint) {
  fieldCount += 1;
  const id = control.id || `field-${fieldCount}`;
  control.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

/**
 * A modal confirmation. Resolves true when the person confirms, false when they cancel or
 * press Escape.
 */
export function confirmDialog({ title, text, confirm, danger = true }) {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'dialog-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'dialog-title' }, title),
        h('p', {}, text),
        h(
          'div',
          { class: 'actions' },
          h('button', { value: 'cancel', class: 'button' }, 'Cancel'),
          h('button', { value: 'confirm', class: danger ? 'button danger' : 'button primary' }, confirm),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'confirm');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Offers JSON as a file download. */
export function downloadJson(filename, data) {
  downloadText(filename, JSON.stringify(data, null, 2), 'application/json');
}

/** Offers text (CSV, JSON) as a file download. */
export function downloadText(filename, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, class: 'visually-hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
