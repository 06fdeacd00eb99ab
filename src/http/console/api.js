// The admin API as the console calls it: the bearer token the person pasted, JSON in and out,
// and one error type whose message can be shown as it is.

const TOKEN_KEY = 'concierge.adminToken';

/** The admin token: kept for this tab, or on this browser when the person asked to be remembered. */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
}

export function setToken(token, remember) {
  clearToken();
  (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
}

/** An answer other than 2xx. `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  name = 'ApiError';
  constructor(status, body) {
    super(messageOf(status, body));
    this.status = status;
    this.body = body;
  }

  /** Problems by field, from `{errors:[{path,message}]}`, or one problem from `{message}`. */
  get problems() {
    const b = this.body;
    if (b && Array.isArray(b.errors) && b.errors.length > 0) {
      return b.errors.map((e) => ({
        path: typeof e?.path === 'string' ? e.path : '',
        message: String(e?.message),
      }));
    }
    return [{ path: '', message: this.message }];
  }

  /** A 404 from a route this server does not have (as opposed to a missing record). */
  get noRoute() {
    return (
      this.status === 404 &&
      typeof this.body?.message === 'string' &&
      this.body.message.startsWith('no route')
    );
  }
}

function messageOf(status, body) {
  if (status === 0) return 'The server did not answer. Is it running?';
  if (body && typeof body.message === 'string') return body.message;
  if (body && Array.isArray(body.errors) && body.errors.length > 0) {
    return body.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
  }
  return `The server answered ${status}.`;
}

/** Called with the error whenever the server refuses the token. */
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * Calls the admin API. Resolves with the parsed JSON body (with `options.text`, the body as it
 * came, for files such as CSV); rejects with an ApiError. `options.token` checks a token before it
 * is kept (a refusal then signs nobody out).
 */
export async function api(method, path, body, options = {}) {
  const token = options.token ?? getToken();
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: {
        accept: options.text ? '*/*' : 'application/json',
        authorization: `Bearer ${token ?? ''}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, null);
  }
  const text = await res.text();
  if (res.ok && options.text) return text;
  let data = null;
  try {
    data = text === '' ? null : JSON.parse(text);
  } catch {
    data = { message: text.slice(0, 300) };
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && options.token === undefined) onUnauthorized(err);
    throw err;
  }
  return data;
}

/** `path` with its query string, leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export const enc = encodeURIComponent;
