// The console's frame: signing in with the admin token, the navigation, and the hash router
// that picks a page. Pages live in their own modules and render into a fresh element each time.

import { ApiError, api, clearToken, getToken, setToken, whenUnauthorized } from './api.js';
import { field, h, notice, replace } from './dom.js';
import { journeyPage, journeysPage } from './journeys.js';
import { takeFlash } from './nav.js';
import { overviewPage } from './overview.js';
import { profilePage, profilesPage } from './profiles.js';
import { computedEditorPage, segmentEditorPage, segmentPage, segmentsPage } from './segments.js';
import { settingsPage } from './settings.js';

const root = document.getElementById('app');

const NAV = [
  { href: '#/overview', label: 'Overview', section: 'overview' },
  { href: '#/profiles', label: 'Profiles', section: 'profiles' },
  { href: '#/segments', label: 'Segments', section: 'segments' },
  { href: '#/journeys', label: 'Journeys', section: 'journeys' },
  { href: '#/settings', label: 'Settings', section: 'settings' },
];

/** Routes as `[pattern, section, page]`; the pattern's groups are passed to the page, decoded. */
const ROUTES = [
  [/^\/overview$/, 'overview', overviewPage],
  [/^\/profiles$/, 'profiles', profilesPage],
  [/^\/profiles\/([^/]+)$/, 'profiles', profilePage],
  [/^\/segments$/, 'segments', segmentsPage],
  [/^\/segments\/new$/, 'segments', segmentEditorPage],
  [/^\/segments\/([^/]+)\/edit$/, 'segments', segmentEditorPage],
  [/^\/segments\/([^/]+)$/, 'segments', segmentPage],
  [/^\/computed-traits\/new$/, 'segments', computedEditorPage],
  [/^\/computed-traits\/([^/]+)\/edit$/, 'segments', computedEditorPage],
  [/^\/journeys$/, 'journeys', journeysPage],
  [/^\/journeys\/([^/]+)$/, 'journeys', journeyPage],
  [/^\/settings$/, 'settings', settingsPage],
];

function signIn(message) {
  const input = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const remember = h('input', { type: 'checkbox', name: 'remember', id: 'remember' });
  const status = h('div', { class: 'form-status' });
  const button = h('button', { class: 'button primary', type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'signin card',
      'aria-labelledby': 'signin-title',
      onsubmit: async (e) => {
        e.preventDefault();
        const token = input.value.trim();
        button.disabled = true;
        replace(status);
        try {
          await api('GET', '/api/status', undefined, { token });
          setToken(token, remember.checked);
          start();
        } catch (err) {
          replace(
            status,
            notice(
              err instanceof ApiError && err.status === 401
                ? `The server refused this token (${err.message}). Use the admin token printed when the server first started, or the value of CONCIERGE_ADMIN_TOKEN.`
                : `Could not sign in: ${err.message}`,
              'error',
            ),
          );
          input.focus();
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h1', { id: 'signin-title' }, 'Concierge console'),
    h('p', { class: 'muted' }, 'Paste the admin token to manage profiles, segments and settings.'),
    message ? notice(message, 'error') : null,
    field('Admin token', input, 'Sent only to this server, as Authorization: Bearer <token>.'),
    h(
      'div',
      { class: 'check' },
      remember,
      h('label', { for: 'remember' }, 'Remember on this browser (otherwise until this tab closes)'),
    ),
    status,
    h('div', { class: 'actions' }, button),
  );
  replace(root, h('main', { class: 'signin-page' }, form));
  document.title = 'Sign in · Concierge';
  input.focus();
}

let main = null;
let navLinks = [];

function shell() {
  navLinks = NAV.map((n) => h('a', { href: n.href, 'data-section': n.section }, n.label));
  main = h('main', { id: 'main', tabindex: '-1' });
  replace(
    root,
    h('a', { class: 'skip', href: '#main', onclick: skipToMain }, 'Skip to content'),
    h(
      'div',
      { class: 'layout' },
      h(
        'nav',
        { class: 'sidebar', 'aria-label': 'Console' },
        h('a', { class: 'brand', href: '#/overview' }, 'Concierge'),
        h(
          'ul',
          {},
          navLinks.map((a) => h('li', {}, a)),
        ),
        h(
          'div',
          { class: 'sidebar-foot' },
          h('a', { href: '/openapi.json' }, 'API reference'),
          h('button', { class: 'link', type: 'button', onclick: signOut }, 'Sign out'),
        ),
      ),
      main,
    ),
  );
}

function skipToMain(e) {
  e.preventDefault();
  main?.focus();
}

function signOut() {
  clearToken();
  signIn(null);
}

async function route() {
  if (!main) return;
  const raw = location.hash.replace(/^#/, '').split('?')[0] || '/overview';
  const found = ROUTES.find(([re]) => re.test(raw));
  const view = h('div', { class: 'view' });
  const flash = takeFlash();
  replace(main, flash ? notice(flash, 'success') : null, view);
  for (const a of navLinks) {
    if (found && a.dataset.section === found[1]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!found) {
    replace(view, h('h1', {}, 'Not found'), h('p', {}, `The console has no page at ${raw}.`));
    return;
  }
  const [re, section, page] = found;
  const args = re
    .exec(raw)
    .slice(1)
    .map((g) => (g === undefined ? undefined : decodeURIComponent(g)));
  document.title = `${section[0].toUpperCase()}${section.slice(1)} · Concierge`;
  try {
    await page(view, ...args);
  } catch (err) {
    // 401 already sent the person back to sign in.
    if (err instanceof ApiError && err.status === 401) return;
    replace(view, h('h1', {}, 'Something went wrong'), notice(err.message, 'error'));
  }
}

function start() {
  shell();
  if (!location.hash || location.hash === '#') history.replaceState(null, '', '#/overview');
  void route();
}

whenUnauthorized((err) => {
  clearToken();
  main = null;
  signIn(`The server refused the admin token (${err.message}). Sign in again.`);
});
window.addEventListener('hashchange', () => void route());

if (getToken()) start();
else signIn(null);
