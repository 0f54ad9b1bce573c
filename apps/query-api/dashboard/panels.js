// The dashboard's panels: each renders one API answer into its part of the page.
import { firstProvisional, icicleChart, legend, lineChart } from './charts.js';
import { COLORS, el, fmt, pct, text } from './dom.js';

export function renderTraffic(r) {
  // Counts past 2^53 arrive as decimal text (exact); the figures here are rounded for display anyway.
  const sum = (a) => a.reduce((x, y) => x + Number(y), 0);
  text('kpi-packets', fmt(sum(r.total.packets)), sum(r.total.packets));
  text('kpi-bytes', fmt(sum(r.total.bytes)) + 'B', sum(r.total.bytes));
  const perSec = (a) => a.map((v) => Number(v) / r.stepSeconds);
  const series = [{ name: 'total', label: 'all protocols', values: perSec(r.total.packets), color: '#dce3ea' }].concat(
    r.protocols.slice(0, 6).map((p, i) => ({
      name: String(p.protocol),
      label: p.name || 'proto ' + p.protocol,
      values: perSec(p.packets),
      color: COLORS[i % COLORS.length],
    })),
  );
  const provisional = firstProvisional(r.times, r.stepSeconds, r.scope.provisionalFrom);
  lineChart(document.getElementById('traffic-chart'), r.times, series, '/s', provisional);
  legend(document.getElementById('traffic-legend'), series);
  text('traffic-note', `packets/s per ${r.stepSeconds / 60} min, exact${provisionalNote(r.scope)}`);
  for (const id of ['kpi-packets-note', 'kpi-bytes-note']) text(id, 'exact' + provisionalNote(r.scope));
}

/** Says from when an answer holds windows not yet final (their figures still grow), or nothing. */
function provisionalNote(scope) {
  if (!scope.provisionalFrom) return '';
  const t = new Date(scope.provisionalFrom).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return `; provisional from ${t}`;
}

const CARDINALITY_TILES = [
  ['flows', 'Distinct flows'],
  ['sources', 'Distinct sources'],
  ['destinations', 'Distinct destinations'],
  ['ports', 'Destination ports'],
];

/** The figure tiles: exact packets and bytes, then the distinct counts with their standard errors. */
export function kpiTiles(section) {
  for (const [id, title, note] of [
    ['packets', 'Packets', 'exact'],
    ['bytes', 'Bytes', 'exact'],
    ...CARDINALITY_TILES,
  ]) {
    const tile = el('div', { class: 'kpi' }, section);
    el('h3', {}, tile, title);
    el('p', { id: 'kpi-' + id }, tile, '–');
    if (note) el('small', { id: `kpi-${id}-note` }, tile, note);
    else el('small', { id: `kpi-${id}-se` }, tile);
  }
}

export function renderCardinality(r) {
  for (const [m] of CARDINALITY_TILES) {
    text('kpi-' + m, fmt(r[m].estimate), r[m].estimate);
    text('kpi-' + m + '-se', '± ' + pct(r[m].standardError) + ' (1 s.e.)');
  }
}

export function renderCardinalitySeries(r) {
  const names = Object.keys(r.series);
  const times = r.series[names[0]].map((p) => p.t);
  const series = names.map((m, i) => ({
    name: m,
    values: r.series[m].map((p) => (p.value ? p.value.estimate : null)),
    low: r.series[m].map((p) => (p.value ? p.value.low95 : null)),
    high: r.series[m].map((p) => (p.value ? p.value.high95 : null)),
    color: COLORS[i],
  }));
  lineChart(
    document.getElementById('card-chart'),
    times,
    series,
    '',
    firstProvisional(times, r.stepSeconds, r.scope.provisionalFrom),
  );
  legend(document.getElementById('card-legend'), series);
}

export function renderTop(r) {
  const tbody = document.querySelector('#top-flows tbody');
  tbody.textContent = '';
  const port = (f, p) => (f.protocol === 1 || f.protocol === 58 ? '' : ':' + p);
  const certain = new Set(r.certain.map(flowKey));
  const range = (lo, hi, unit = '') => `${fmt(lo)}${unit} – ${fmt(hi)}${unit}`;
  r.flows.forEach((f, i) => {
    const tr = el('tr', {}, tbody);
    el('td', {}, tr, String(i + 1));
    el('td', {}, tr, f.src + port(f, f.srcPort));
    el('td', {}, tr, f.dst + port(f, f.dstPort));
    el('td', {}, tr, f.protocolName || String(f.protocol));
    el('td', { class: 'n', 'data-packets': f.packets }, tr, fmt(f.packets));
    el(
      'td',
      { class: 'b', 'data-lower': f.packetsLower, 'data-upper': f.packetsUpper },
      tr,
      range(f.packetsLower, f.packetsUpper),
    );
    el('td', { class: 'b' }, tr, '± ' + fmt(f.packetsBound));
    el('td', { class: 'b' }, tr, range(f.bytesLower, f.bytesUpper, 'B'));
    const member = certain.has(flowKey(f)) ? 'certain' : 'possible';
    el('td', { class: 'member ' + member }, tr, member);
  });
  if (!r.flows.length) el('td', { colspan: 9, class: 'empty' }, el('tr', {}, tbody), 'no flows match');
  const tiers = Object.entries(r.scope.tiers)
    .map(([k, v]) => `${v}×${k}`)
    .join(' + ');
  const complete =
    r.completeAbove === null
      ? 'completeness unknown (some rows do not say)'
      : `${r.complete ? 'top ' + r.k + ' complete' : 'top ' + r.k + ' not proven complete'}: no unlisted flow above ${fmt(r.completeAbove)}` +
        (r.summaryError ? ` (summaries ${fmt(r.summaryError)})` : '');
  text(
    'top-note',
    `lower ≤ truth ≤ upper${r.boundsExact ? '' : ' (scaled from samples: estimates)'}; upper − truth ≤ ε·N with ${pct(r.packets.confidence)} confidence · ${complete} · ${tiers || 'no'} windows · ${r.matched} of ${r.candidates} candidates match${r.scope.exact ? '' : ' · partials also cover ' + r.scope.coveredHosts.length + ' hosts'}`,
  );
}

const flowKey = (f) => [f.src, f.srcPort, f.dst, f.dstPort, f.protocol].join(' ');

export function renderHhh(side, r) {
  icicleChart(document.getElementById('hhh-' + side), r);
  text(`hhh-${side}-note`, `φ = ${r.phi} · ${r.prefixes.length} prefixes ≥ ${fmt(r.threshold)} ${r.by} (outlined)`);
  // The prefixes the kernel counted (not built from top flows): a flood of many small flows shows here.
  const list = document.getElementById(`hhh-${side}-counted`);
  list.textContent = '';
  if (!r.counted) {
    el('li', { class: 'empty' }, list, 'counted prefixes: not with flow filters');
    return;
  }
  const shown = r.counted.prefixes.slice(0, 12);
  for (const p of shown) {
    const li = el('li', { class: p.certain ? 'certain' : 'possible' }, list);
    el('span', {}, li, p.prefix);
    el('span', { class: 'b' }, li, `${fmt(p.lower)} – ${fmt(p.upper)} ${r.by}`);
    el('span', {}, li, p.certain ? 'certain' : 'possible');
  }
  const note = `counted in the kernel: ${r.counted.prefixes.length} prefixes ≥ ${fmt(r.threshold)}${r.counted.prefixes.length > shown.length ? ' (first ' + shown.length + ' shown)' : ''} · ${r.counted.complete ? 'complete' : 'not proven complete (a level floor reaches the threshold)'}`;
  el('li', { class: 'note' }, list, note);
}

export function renderHosts(r) {
  const tbody = document.querySelector('#hosts tbody');
  tbody.textContent = '';
  for (const h of r.hosts.slice(0, 500)) {
    const tr = el('tr', {}, tbody);
    el('td', {}, tr, h.host);
    el('td', {}, tr, new Date(h.lastSeen).toLocaleString());
    el('td', {}, tr, h.agentVersion || '–');
    el('td', { class: 'n' }, tr, String(h.lastSequence));
    el('td', { class: 'n' }, tr, fmt(h.snapshots));
    el('td', { class: 'n' }, tr, fmt(Number(h.packets)));
    el('td', { class: 'n' }, tr, fmt(Number(h.bytes)) + 'B');
    el('td', { class: 'n' }, tr, String(h.gaps));
  }
  if (!r.hosts.length) el('td', { colspan: 8, class: 'empty' }, el('tr', {}, tbody), 'no hosts reported in this range');
  const gaps = r.hosts.reduce((s, h) => s + h.gaps, 0);
  text(
    'hosts-note',
    `${r.hosts.length} hosts${r.hosts.length > 500 ? ' (first 500 shown)' : ''} · ${gaps} sequence gaps`,
  );
}
