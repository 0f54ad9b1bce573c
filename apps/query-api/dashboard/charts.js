// Hand-drawn SVG charts (no library): line charts with optional bands, legends, and prefix icicles.
import { COLORS, el, fmt, pct } from './dom.js';

/**
 * Line chart: series = [{name, values, color, low?, high?}], times = ISO strings. `provisional`: the index of the
 * first point holding data of a window not yet final (shaded and its points marked), or -1.
 */
export function lineChart(container, times, series, unit, provisional = -1) {
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
  if (provisional >= 0 && provisional < times.length) {
    // Shaded from half a step before the first provisional point to the right edge.
    const x0 = provisional === 0 ? L : (x(provisional - 1) + x(provisional)) / 2;
    const band = el(
      'svg:rect',
      { x: x0, y: T, width: Math.max(4, W - R - x0), height: H - T - B, class: 'provisional' },
      svg,
    );
    el('svg:title', {}, band, 'provisional: windows not yet final, figures still grow');
    el('svg:text', { x: W - R - 4, y: T + 12, 'text-anchor': 'end', class: 'provisional-label' }, svg, 'provisional');
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
    if (provisional < 0) continue;
    s.values.forEach((v, i) => {
      if (i < provisional || v === null) return;
      const dot = el(
        'svg:circle',
        { cx: x(i), cy: y(v), r: 3.5, class: 'provisional-point', stroke: s.color, 'data-provisional': s.name },
        svg,
      );
      el('svg:title', {}, dot, `${fmt(v)}${unit || ''} (provisional)`);
    });
  }
}

/** Index of the first of `times` (bucket starts, `stepSeconds` wide) whose bucket reaches `provisionalFrom`, or -1. */
export function firstProvisional(times, stepSeconds, provisionalFrom) {
  if (!provisionalFrom) return -1;
  const from = Date.parse(provisionalFrom);
  return times.findIndex((t) => Date.parse(t) + stepSeconds * 1000 > from);
}
export function legend(container, series) {
  container.textContent = '';
  for (const s of series) {
    const span = el('span', {}, container);
    const i = el('i', {}, span);
    i.style.background = s.color;
    span.appendChild(document.createTextNode(s.label || s.name));
  }
}

/** Icicle: one row per prefix length, widths proportional to weight; reported heavy hitters outlined. */
export function icicleChart(container, result) {
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
