// The public REST API with this tab's token: given once via the "Token" prompt or a #token=… fragment (which never
// reaches a server log), kept in sessionStorage.
const TOKEN_KEY = 'tma-token';

/** Takes a #token=… fragment into sessionStorage and drops it from the address bar. */
export function takeTokenFromFragment() {
  if (!location.hash.startsWith('#token=')) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, '', location.pathname + location.search);
}

/** Asks for a token; true when one was given. */
export function promptToken() {
  const t = prompt('API token (read scope; admin to decide on block rules); kept in this tab only', '');
  if (t === null) return false;
  sessionStorage.setItem(TOKEN_KEY, t.trim());
  return true;
}

async function request(url, init) {
  const headers = { ...init.headers };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = 'Bearer ' + token;
  const r = await fetch(url, { ...init, headers });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) throw new Error('the API needs a token: press “Token”');
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}

/** GET `path` with the non-empty `params`; the parsed body, or an Error with the API's message. */
export async function api(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  return request(path + '?' + q.toString(), {});
}

/** POST `body` as JSON; the parsed answer, or an Error with the API's message (a read token's 403 says so). */
export async function post(path, body) {
  return request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** The time parameters of a view: from/to when custom, else the relative range. */
export function timeParams(s) {
  return s.from ? { from: s.from, to: s.to } : { range: s.range || '1h' };
}
