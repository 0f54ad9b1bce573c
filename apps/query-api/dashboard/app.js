// TMA dashboard: plain DOM + SVG over the public REST API (no framework, no CDN). The view's state lives in the URL
// query string so a view can be shared; the API token lives in this tab's sessionStorage (given once via the
// prompt or a #token=… fragment, which never reaches a server log).
'use strict';
(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const COLORS = ['#4fa3ff', '#f5a623', '#7ed321', '#bd10e0', '#50e3c2', '#e94e77', '#b8e986', '#9b9b9b'];
  const FIELDS = ['range', 'from', 'to', 'hosts', 'protocol', 'srcPrefix', 'dstPrefix', 'dstPort', 'by', 'refresh'];
  const form = document.getElementById('controls');
  const statusEl = document.getElementById('status');
  let timer = null;
  let generation = 0;

  // ---- token
  if (location.hash.startsWith('#token=')) {
    sessionStorage.setItem('tma-token', decodeURIComponent(location.hash.slice(7)));
    history.replaceState(null, '', location.pathname + location.search);
  }
  document.getElementById('token-button').addEventListener('click', () => {
    const t = prompt('API token (read scope); kept in this tab only', '');
    if (t !== null) {
      sessionStorage.setItem('tma-token', t.trim());
      load();
    }
  });

  // ---- state <-> URL <-> form
  function readState() {
    const p = new URLSearchParams(location.search);
    const s = {};
    for (const f of FIELDS) s[f] = p.get(f) || '';
    if (!s.range && !s.from) s.range = '1h';
    if (s.from) s.range = 'custom';
    if (!s.by) s.by = 'packets';
    if (s.refresh === '') s.refresh = '30';
    return s;
  }
  const toLocal = (iso) => {
    if (!iso) return '';
    const d = new Date(iso);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  };
  const fromLocal = (v) => (v ? new Date(v).toISOString() : '');
  function fillForm(s) {
    // A shared URL may carry any relative range the API takes (e.g. 3h): offer it.
    const sel = form.elements.range;
    if (s.range && s.range !== 'custom' && ![...sel.options].some((o) => o.value === s.range))
      el('option', { value: s.range }, sel, 'last ' + s.range);
    for (const f of FIELDS) {
      const el = form.elements[f];
      if (!el) continue;
      el.value = f === 'from' || f === 'to' ? toLocal(s[f]) : s[f];
    }
    form.classList.toggle('custom', s.range === 'custom');
  }
  function formState() {
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
  form.elements.range.addEventListener('change', () =>
    form.classList.toggle('custom', form.elements.range.value === 'custom'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const s = formState();
    const p = new URLSearchParams();
    for (const f of FIELDS) if (s[f]) p.set(f, s[f]);
    history.pushState(null, '', '?' + p.toString());
    load();
  });
  window.addEventListener('popstate', load);

  // ---- API
  async function api(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const headers = {};
    const token = sessionStorage.getItem('tma-token');
    if (token) headers.authorization = 'Bearer ' + token;
    const r = await fetch(path + '?' + q.toString(), { headers });
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) throw new Error('the API needs a token: press “Token”');
    if (!r.ok) throw new Error((body.message || r.statusText) + (body.field ? '' : ''));
    return body;
  }
  function timeParams(s) {
    return s.from ? { from: s.from, to: s.to } : { range: s.range || '1h' };
  }

  // ---- formatting
  function fmt(n) {
    if (n === null || n === undefined || Number.isNaN(n)) return '–';
    const a = Math.abs(n);
    if (a >= 1e12) return (n / 1e12).toFixed(2) + ' T';
    if (a >= 1e9) return (n / 1e9).toFixed(2) + ' G';
    if (a >= 1e6) return (n / 1e6).toFixed(2) + ' M';
    if (a >= 1e4) return (n / 1e3).toFixed(1) + ' k';
    return String(Math.round(n));
  }
  const pct = (x) => (x * 100).toFixed(2) + ' %';
  const text = (id, v, raw) => {
    const e = document.getElementById(id);
    e.textContent = v;
    if (raw !== undefined) e.dataset.value = String(raw); // exact figure for tools and tests
  };
  function el(tag, attrs, parent, content) {
    const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (content !== undefined) e.textContent = content;
    if (parent) parent.appendChild(e);
    return e;
  }

  // ---- charts
  /** Line chart: series = [{name, values, color, low?, high?}], times = ISO strings. */
  function lineChart(container, times, series, unit) {
    container.textContent = '';
    const W = 1000,
      H = 220,
      L = 56,
      R = 10,
      T = 10,
      B = 24;
    const svg = el('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' }, container);
    const all = series.flatMap((s) => (s.high || s.values).filter((v) => v !== null));
    const max = Math.max(1, ...all);
    const x = (i) => L + (times.length <= 1 ? 0 : (i * (W - L - R)) / (times.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      el('svg:line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'axis' }, svg);
      el('svg:text', { x: L - 6, y: y(v) + 3, 'text-anchor': 'end' }, svg, fmt(v) + (unit || ''));
    }
    const ticks = Math.min(6, times.length);
    for (let k = 0; k < ticks; k++) {
      const i = Math.round((k * (times.length - 1)) / Math.max(1, ticks - 1));
      const d = new Date(times[i]);
      el(
        'svg:text',
        { x: x(i), y: H - 6, 'text-anchor': 'middle' },
        svg,
        d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
      );
    }
    for (const s of series) {
      if (s.low && s.high) {
        let pts = [];
        s.high.forEach((v, i) => v !== null && pts.push(`${x(i)},${y(v)}`));
        const lows = [];
        s.low.forEach((v, i) => v !== null && lows.push(`${x(i)},${y(v)}`));
        pts = pts.concat(lows.reverse());
        if (pts.length) el('svg:polygon', { points: pts.join(' '), fill: s.color, 'fill-opacity': 0.18 }, svg);
      }
      let d = '';
      s.values.forEach((v, i) => {
        if (v !== null) d += (d && s.values[i - 1] !== null ? 'L' : 'M') + x(i) + ',' + y(v);
      });
      el('svg:path', { d, fill: 'none', stroke: s.color, 'stroke-width': 2, 'data-series': s.name }, svg);
    }
  }
  function legend(container, series) {
    container.textContent = '';
    for (const s of series) {
      const span = el('span', {}, container);
      const i = el('i', {}, span);
      i.style.background = s.color;
      span.appendChild(document.createTextNode(s.label || s.name));
    }
  }

  /** Icicle: one row per prefix length, widths proportional to weight; reported heavy hitters outlined. */
  function icicleChart(container, result) {
    container.textContent = '';
    const nodes = result.icicle;
    if (!nodes.length) {
      el('p', { class: 'empty' }, container, 'no tracked flows in this range');
      return;
    }
    const reported = new Set(result.prefixes.map((p) => p.prefix));
    const lengths = [...new Set(nodes.map((n) => n.length))].sort((a, b) => a - b);
    const W = 1000,
      rowH = 46,
      H = rowH * lengths.length + 4;
    const svg = el('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' }, container);
    const byParent = new Map();
    for (const n of nodes) {
      const k = n.parent || '';
      if (!byParent.has(k)) byParent.set(k, []);
      byParent.get(k).push(n);
    }
    const total = Math.max(result.total, 1);
    const draw = (parent, x0, scale, depth) => {
      let x = x0;
      for (const n of byParent.get(parent) || []) {
        const w = n.weight * scale;
        const row = lengths.indexOf(n.length);
        if (w >= 0.5) {
          const g = el('svg:g', {}, svg);
          const rect = el(
            'svg:rect',
            {
              x,
              y: row * rowH + 2,
              width: Math.max(0.5, w - 1),
              height: rowH - 4,
              rx: 2,
              class: 'cell' + (reported.has(n.prefix) ? ' hit' : ''),
              fill: COLORS[depth % COLORS.length],
              'fill-opacity': reported.has(n.prefix) ? 0.95 : 0.45,
              'data-prefix': n.prefix,
            },
            g,
          );
          el(
            'svg:title',
            {},
            rect,
            `${n.prefix}: ${fmt(n.weight)} (${pct(n.share)})${reported.has(n.prefix) ? ' — heavy hitter' : ''}`,
          );
          if (w > 70) el('svg:text', { x: x + 4, y: row * rowH + 18, fill: '#fff' }, g, n.prefix);
          if (w > 70) el('svg:text', { x: x + 4, y: row * rowH + 32 }, g, pct(n.share));
        }
        draw(n.prefix, x, scale, depth + 1);
        x += w;
      }
    };
    draw('', 0, W / total, 0);
  }

  // ---- panels
  function setStatus(msg, error) {
    statusEl.textContent = msg;
    statusEl.classList.toggle('error', !!error);
  }

  async function load() {
    const s = readState();
    fillForm(s);
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
    const jobs = [
      api('/v1/traffic/series', { ...t, hosts, protocol: s.protocol }).then(
        (r) => gen === generation && renderTraffic(r),
      ),
      api('/v1/cardinality', { ...t, hosts }).then((r) => gen === generation && renderCardinality(r)),
      api('/v1/cardinality/series', { ...t, hosts, metrics: 'flows,sources,destinations' }).then(
        (r) => gen === generation && renderCardinalitySeries(r),
      ),
      api('/v1/flows/top', { ...t, ...flowFilters, by: s.by, k: 20 }).then((r) => gen === generation && renderTop(r)),
      api('/v1/heavy-hitters', { ...t, ...flowFilters, side: 'src', phi: 0.02, by: s.by }).then(
        (r) => gen === generation && renderHhh('src', r),
      ),
      api('/v1/heavy-hitters', { ...t, ...flowFilters, side: 'dst', phi: 0.02, by: s.by }).then(
        (r) => gen === generation && renderHhh('dst', r),
      ),
      api('/v1/hosts', { ...t, hosts }).then((r) => gen === generation && renderHosts(r)),
    ];
    const results = await Promise.allSettled(jobs);
    if (gen !== generation) return;
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) setStatus(failed[0].reason.message, true);
    else setStatus(`updated ${new Date().toLocaleTimeString()} in ${Math.round(performance.now() - started)} ms`);
    document.body.dataset.loaded = String(gen);
    clearTimeout(timer);
    const every = Number(s.refresh);
    if (every > 0) timer = setTimeout(load, every * 1000);
  }

  function renderTraffic(r) {
    const sum = (a) => a.reduce((x, y) => x + y, 0);
    text('kpi-packets', fmt(sum(r.total.packets)), sum(r.total.packets));
    text('kpi-bytes', fmt(sum(r.total.bytes)) + 'B', sum(r.total.bytes));
    const perSec = (a) => a.map((v) => v / r.stepSeconds);
    const series = [
      { name: 'total', label: 'all protocols', values: perSec(r.total.packets), color: '#dce3ea' },
    ].concat(
      r.protocols.slice(0, 6).map((p, i) => ({
        name: String(p.protocol),
        label: p.name || 'proto ' + p.protocol,
        values: perSec(p.packets),
        color: COLORS[i % COLORS.length],
      })),
    );
    lineChart(document.getElementById('traffic-chart'), r.times, series, '/s');
    legend(document.getElementById('traffic-legend'), series);
    text('traffic-note', `packets/s per ${r.stepSeconds / 60} min, exact`);
  }

  function renderCardinality(r) {
    for (const m of ['flows', 'sources', 'destinations', 'ports']) {
      text('kpi-' + m, fmt(r[m].estimate), r[m].estimate);
      text('kpi-' + m + '-se', '± ' + pct(r[m].standardError) + ' (1 s.e.)');
    }
  }

  function renderCardinalitySeries(r) {
    const names = Object.keys(r.series);
    const times = r.series[names[0]].map((p) => p.t);
    const series = names.map((m, i) => ({
      name: m,
      values: r.series[m].map((p) => (p.value ? p.value.estimate : null)),
      low: r.series[m].map((p) => (p.value ? p.value.low95 : null)),
      high: r.series[m].map((p) => (p.value ? p.value.high95 : null)),
      color: COLORS[i],
    }));
    lineChart(document.getElementById('card-chart'), times, series, '');
    legend(document.getElementById('card-legend'), series);
  }

  function renderTop(r) {
    const tbody = document.querySelector('#top-flows tbody');
    tbody.textContent = '';
    const port = (f, p) => (f.protocol === 1 || f.protocol === 58 ? '' : ':' + p);
    r.flows.forEach((f, i) => {
      const tr = el('tr', {}, tbody);
      el('td', {}, tr, String(i + 1));
      el('td', {}, tr, f.src + port(f, f.srcPort));
      el('td', {}, tr, f.dst + port(f, f.dstPort));
      el('td', {}, tr, f.protocolName || String(f.protocol));
      el('td', { class: 'n', 'data-packets': f.packets }, tr, fmt(f.packets));
      el('td', { class: 'b' }, tr, '± ' + fmt(f.packetsBound));
      el('td', { class: 'n' }, tr, fmt(f.bytes) + 'B');
      el('td', { class: 'b' }, tr, '± ' + fmt(f.bytesBound) + 'B');
    });
    if (!r.flows.length) el('td', { colspan: 8, class: 'empty' }, el('tr', {}, tbody), 'no flows match');
    const tiers = Object.entries(r.scope.tiers)
      .map(([k, v]) => `${v}×${k}`)
      .join(' + ');
    text(
      'top-note',
      `estimates never undercount; truth ≥ estimate − bound with ${pct(r.packets.confidence)} confidence · ${tiers || 'no'} windows · ${r.matched} of ${r.candidates} candidates match${r.scope.exact ? '' : ' · partials also cover ' + r.scope.coveredHosts.length + ' hosts'}`,
    );
  }

  function renderHhh(side, r) {
    icicleChart(document.getElementById('hhh-' + side), r);
    text(`hhh-${side}-note`, `φ = ${r.phi} · ${r.prefixes.length} prefixes ≥ ${fmt(r.threshold)} ${r.by} (outlined)`);
  }

  function renderHosts(r) {
    const tbody = document.querySelector('#hosts tbody');
    tbody.textContent = '';
    for (const h of r.hosts.slice(0, 500)) {
      const tr = el('tr', {}, tbody);
      el('td', {}, tr, h.host);
      el('td', {}, tr, new Date(h.lastSeen).toLocaleString());
      el('td', {}, tr, h.agentVersion || '–');
      el('td', { class: 'n' }, tr, String(h.lastSequence));
      el('td', { class: 'n' }, tr, fmt(h.snapshots));
      el('td', { class: 'n' }, tr, fmt(h.packets));
      el('td', { class: 'n' }, tr, fmt(h.bytes) + 'B');
      el('td', { class: 'n' }, tr, String(h.gaps));
    }
    if (!r.hosts.length)
      el('td', { colspan: 8, class: 'empty' }, el('tr', {}, tbody), 'no hosts reported in this range');
    const gaps = r.hosts.reduce((s, h) => s + h.gaps, 0);
    text(
      'hosts-note',
      `${r.hosts.length} hosts${r.hosts.length > 500 ? ' (first 500 shown)' : ''} · ${gaps} sequence gaps`,
    );
  }

  load();
})();
