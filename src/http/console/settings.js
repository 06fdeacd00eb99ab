// Settings: the workspace's identity rules.

import { ApiError, api } from './api.js';
import { field, h, notice, pageHeader, replace, section } from './dom.js';

export async function settingsPage(view) {
  replace(view, pageHeader('Settings'));
  const rules = await api('GET', '/api/settings/identity');
  const traits = h('input', {
    type: 'text',
    name: 'identifierTraits',
    autocomplete: 'off',
    spellcheck: 'false',
    value: rules.identifierTraits.join(', '),
  });
  const maxUserIds = h('input', {
    type: 'number',
    name: 'maxUserIdsPerProfile',
    min: 1,
    max: 1000,
    step: 1,
    required: true,
    value: rules.maxUserIdsPerProfile,
  });
  const status = h('div', { 'aria-live': 'polite' });
  const save = h('button', { class: 'button primary', type: 'submit' }, 'Save');
  const form = h(
    'form',
    {
      class: 'narrow-form',
      onsubmit: async (e) => {
        e.preventDefault();
        replace(status);
        save.disabled = true;
        try {
          const now = await api('PUT', '/api/settings/identity', {
            identifierTraits: traits.value
              .split(',')
              .map((t) => t.trim())
              .filter((t) => t !== ''),
            maxUserIdsPerProfile: Number(maxUserIds.value),
          });
          traits.value = now.identifierTraits.join(', ');
          maxUserIds.value = String(now.maxUserIdsPerProfile);
          replace(status, notice('Saved. The rules apply to events received from now on.', 'success'));
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 401)) replace(status, notice(err.message, 'error'));
        } finally {
          save.disabled = false;
        }
      },
    },
    field(
      'Identifier traits',
      traits,
      'Comma-separated trait names, such as email, phone. Profiles that share one of them are the same person, and can be looked up by it.',
    ),
    field(
      'User ids per profile',
      maxUserIds,
      'A merge that would give one profile more user ids than this is refused, so a shared computer cannot collapse customers into one. Raise it if your users change user ids.',
    ),
    status,
    h('div', { class: 'actions' }, save),
  );
  replace(view, pageHeader('Settings'), section('Identity resolution', form));
}
