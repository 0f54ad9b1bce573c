// The view's state lives in the URL query string (so a view can be shared) and is mirrored in the form.
import { el } from './dom.js';

const FIELDS = ['range', 'from', 'to', 'hosts', 'protocol', 'srcPrefix', 'dstPrefix', 'dstPort', 'by', 'refresh'];

export function readState() {
  const p = new URLSearchParams(location.search);
  const s = {};
  for (const f of FIELDS) s[f] = p.get(f) || '';
  if (!s.range && !s.from) s.range = '1h';
  if (s.from) s.range = 'custom';
  if (!s.by) s.by = 'packets';
  if (s.refresh === '') s.refresh = '5';
  return s;
}

const toLocal = (iso) => {
  if (!iso) return '';
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const fromLocal = (v) => (v ? new Date(v).toISOString() : '');

export function fillForm(form, s) {
  // A shared URL may carry any relative range the API takes (e.g. 3h): offer it.
  const sel = form.elements.range;
  if (s.range && s.range !== 'custom' && ![...sel.options].some((o) => o.value === s.range))
    el('option', { value: s.range }, sel, 'last ' + s.range);
  for (const f of FIELDS) {
    const input = form.elements[f];
    if (!input) continue;
    input.value = f === 'from' || f === 'to' ? toLocal(s[f]) : s[f];
  }
  form.classList.toggle('custom', s.range === 'custom');
}

function formState(form) {
  const s = {};
  for (const f of FIELDS) s[f] = (form.elements[f].value || '').trim();
  if (s.range === 'custom') {
    s.from = fromLocal(s.from);
    s.to = fromLocal(s.to);
    s.range = '';
  } else {
    s.from = '';
    s.to = '';
  }
  return s;
}

/** The form's state as a query string for the address bar. */
export function formQuery(form) {
  const s = formState(form);
  const p = new URLSearchParams();
  for (const f of FIELDS) if (s[f]) p.set(f, s[f]);
  return '?' + p.toString();
}
