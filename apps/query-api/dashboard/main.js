// TMA dashboard: plain DOM + SVG over the public REST API (no framework, no CDN). Loads every panel for the view in
// the URL, reloads on form submit, history navigation and the auto-refresh interval.
import { api, promptToken, takeTokenFromFragment, timeParams } from './api.js';
import * as panels from './panels.js';
import { initRules, renderRules, renderThreats } from './threats.js';
import { fillForm, formQuery, readState } from './state.js';

const form = document.getElementById('controls');
const statusEl = document.getElementById('status');
let timer = null;
let generation = 0;

function setStatus(msg, error) {
  statusEl.textContent = msg;
  statusEl.classList.toggle('error', !!error);
}

async function load() {
  const s = readState();
  fillForm(form, s);
  const gen = ++generation;
  const t = timeParams(s);
  const hosts = s.hosts || undefined;
  const flowFilters = {
    hosts,
    protocol: s.protocol,
    srcPrefix: s.srcPrefix,
    dstPrefix: s.dstPrefix,
    dstPort: s.dstPort,
  };
  setStatus('loading…');
  const started = performance.now();
  // Each panel renders only if no newer load started meanwhile.
  const panel = (path, params, render) => api(path, params).then((r) => gen === generation && render(r));
  const results = await Promise.allSettled([
    panel('/v1/traffic/series', { ...t, hosts, protocol: s.protocol }, panels.renderTraffic),
    panel('/v1/cardinality', { ...t, hosts }, panels.renderCardinality),
    panel(
      '/v1/cardinality/series',
      { ...t, hosts, metrics: 'flows,sources,destinations' },
      panels.renderCardinalitySeries,
    ),
    panel('/v1/flows/top', { ...t, ...flowFilters, by: s.by, k: 20 }, panels.renderTop),
    panel('/v1/heavy-hitters', { ...t, ...flowFilters, side: 'src', phi: 0.02, by: s.by }, (r) =>
      panels.renderHhh('src', r),
    ),
    panel('/v1/heavy-hitters', { ...t, ...flowFilters, side: 'dst', phi: 0.02, by: s.by }, (r) =>
      panels.renderHhh('dst', r),
    ),
    panel('/v1/hosts', { ...t, hosts }, panels.renderHosts),
    panel('/v1/threats', { ...t, hosts }, renderThreats),
    panel('/v1/mitigation/rules', {}, renderRules),
  ]);
  if (gen !== generation) return;
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length) setStatus(failed[0].reason.message, true);
  else setStatus(`updated ${new Date().toLocaleTimeString()} in ${Math.round(performance.now() - started)} ms`);
  document.body.dataset.loaded = String(gen);
  clearTimeout(timer);
  const every = Number(s.refresh);
  if (every > 0) timer = setTimeout(load, every * 1000);
}

panels.kpiTiles(document.getElementById('kpis'));
initRules(load);
takeTokenFromFragment();
document.getElementById('token-button').addEventListener('click', () => {
  if (promptToken()) load();
});
form.elements.range.addEventListener('change', () =>
  form.classList.toggle('custom', form.elements.range.value === 'custom'),
);
form.addEventListener('submit', (e) => {
  e.preventDefault();
  history.pushState(null, '', formQuery(form));
  load();
});
window.addEventListener('popstate', load);
load();
