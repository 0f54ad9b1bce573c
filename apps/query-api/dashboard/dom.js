// DOM and number formatting helpers shared by the charts and panels.
const SVG = 'http://www.w3.org/2000/svg';
export const COLORS = ['#4fa3ff', '#f5a623', '#7ed321', '#bd10e0', '#50e3c2', '#e94e77', '#b8e986', '#9b9b9b'];

export function fmt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e12) return (n / 1e12).toFixed(2) + ' T';
  if (a >= 1e9) return (n / 1e9).toFixed(2) + ' G';
  if (a >= 1e6) return (n / 1e6).toFixed(2) + ' M';
  if (a >= 1e4) return (n / 1e3).toFixed(1) + ' k';
  return String(Math.round(n));
}

export const pct = (x) => (x * 100).toFixed(2) + ' %';

/** Sets an element's text; `raw` also goes to data-value (the exact figure, for tools and tests). */
export const text = (id, v, raw) => {
  const e = document.getElementById(id);
  e.textContent = v;
  if (raw !== undefined) e.dataset.value = String(raw);
};

/** Creates an element (`svg:` prefix for SVG), sets attributes and text, appends it to `parent`. */
export function el(tag, attrs, parent, content) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (content !== undefined) e.textContent = content;
  if (parent) parent.appendChild(e);
  return e;
}
