// The threats panel: alerts of the range on a timeline (one row per alert, open to resolved, events as dots), and a
// table with each alert's evidence (estimates with their bounds) and the hosts that saw it; below, the block rules
// with their actions (propose, approve, reject, remove over REST /v1/mitigation with the tab's token) and audit trails.
import { api, post } from './api.js';
import { COLORS, el, fmt, text } from './dom.js';

// the kinds of libs/threats THREAT_KINDS, in its order (checked by src/dashboard/dashboard-kinds.spec.ts)
const KINDS = [
  'flood',
  'heavy-change',
  'traffic-surge',
  'source-surge',
  'port-scan',
  'superspreader',
  'low-and-slow',
  'syn-flood',
];
const color = (kind) => COLORS[Math.max(0, KINDS.indexOf(kind)) % COLORS.length];
const WINDOW_MS = 60_000;

function timeline(container, r) {
  container.textContent = '';
  const alerts = r.alerts.slice(0, 20);
  if (!alerts.length) return;
  const W = 1000,
    L = 200,
    R = 10,
    ROW = 18,
    T = 4,
    B = 20;
  const H = T + B + ROW * alerts.length;
  const svg = el('svg:svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' }, container);
  const from = Date.parse(r.scope.from);
  const to = Date.parse(r.scope.to);
  const x = (t) => L + ((Math.min(Math.max(t, from), to) - from) * (W - L - R)) / Math.max(1, to - from);
  for (let k = 0; k <= 4; k++) {
    const t = from + ((to - from) * k) / 4;
    el('svg:line', { x1: x(t), x2: x(t), y1: T, y2: H - B, class: 'axis' }, svg);
    el(
      'svg:text',
      { x: x(t), y: H - 6, 'text-anchor': 'middle' },
      svg,
      new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
    );
  }
  alerts.forEach((a, i) => {
    const y = T + i * ROW;
    const end = a.resolvedAt ? Date.parse(a.resolvedAt) : Date.parse(a.lastSeen) + WINDOW_MS;
    el('svg:text', { x: L - 6, y: y + ROW - 5, 'text-anchor': 'end' }, svg, `${a.kind} ${a.subject}`.slice(0, 34));
    el(
      'svg:rect',
      {
        x: x(Date.parse(a.openedAt)),
        y: y + 3,
        width: Math.max(2, x(end) - x(Date.parse(a.openedAt))),
        height: ROW - 6,
        fill: color(a.kind),
        'fill-opacity': a.status === 'open' ? 0.9 : 0.45,
        'data-alert': a.id,
      },
      svg,
    );
    for (const e of a.timeline)
      el('svg:circle', { cx: x(Date.parse(e.t)), cy: y + ROW / 2, r: 2.5, class: 'event ' + e.event }, svg);
  });
}

const evidenceText = (e) =>
  `${e.name} ${fmt(e.value)}` +
  (e.lower !== undefined && e.upper !== undefined ? ` [${fmt(e.lower)}–${fmt(e.upper)}]` : '');

export function renderThreats(r) {
  timeline(document.getElementById('threats-chart'), r);
  const tbody = document.querySelector('#threats tbody');
  tbody.textContent = '';
  for (const a of r.alerts) {
    const tr = el('tr', { 'data-kind': a.kind, 'data-status': a.status }, tbody);
    const kind = el('td', {}, tr);
    el('span', { class: 'swatch', style: `background:${color(a.kind)}` }, kind);
    kind.append(a.kind);
    el('td', {}, tr, a.subject);
    el('td', { class: a.status === 'open' ? 'open' : '' }, tr, a.status);
    el('td', {}, tr, new Date(a.openedAt).toLocaleString());
    el('td', {}, tr, new Date(a.resolvedAt || a.lastSeen).toLocaleString());
    el('td', { class: 'n' }, tr, a.peakScore.toFixed(1));
    el(
      'td',
      {},
      tr,
      a.hosts.length > 3 ? `${a.hosts.slice(0, 3).join(', ')} +${a.hosts.length - 3}` : a.hosts.join(', '),
    );
    const ev = el('td', { class: 'evidence' }, tr);
    for (const e of a.evidence) el('div', {}, ev, evidenceText(e));
    for (const s of a.related) el('div', { class: 'related' }, ev, s);
    // a flood alert carries a proposal (its top sources, its destination, its hosts): the API derives it
    if (a.kind === 'flood' && a.related.length)
      el('button', { type: 'button', 'data-propose-alert': a.id }, el('td', {}, tr), 'Propose block');
    else el('td', {}, tr);
  }
  if (!r.alerts.length) el('td', { colspan: 9, class: 'empty' }, el('tr', {}, tbody), 'no alerts in this range');
  const open = r.alerts.filter((a) => a.status === 'open').length;
  text('threats-note', `${r.alerts.length} alerts, ${open} open · ${r.windowsEvaluated} windows evaluated`);
}

const ruleText = (r) =>
  r.srcPrefix +
  (r.dst || r.port || r.protocol !== 'any'
    ? ` → ${r.dst || 'any'}${r.port ? ':' + r.port : ''}${r.protocol !== 'any' ? '/' + r.protocol : ''}`
    : '');
const when = (t) => (t ? new Date(t).toLocaleString() : '');

// Rules whose audit trail is shown (kept across refreshes).
const expanded = new Set();
const ACTIONS = { proposed: ['approve', 'reject'], approved: ['remove'] };

function message(msg, error) {
  const m = document.getElementById('rules-message');
  m.textContent = msg;
  m.classList.toggle('error', !!error);
}

async function showAudit(tr, id) {
  const rule = await api(`/v1/mitigation/rules/${id}`, {});
  const row = el('tr', { class: 'audit', 'data-audit': id });
  tr.after(row);
  const table = el('table', {}, el('td', { colspan: 9 }, row));
  const head = el('tr', {}, el('thead', {}, table));
  for (const h of ['When', 'Who', 'Action', 'Why', 'Host']) el('th', {}, head, h);
  const body = el('tbody', {}, table);
  for (const a of rule.audit) {
    const line = el('tr', { 'data-step': a.step }, body);
    el('td', {}, line, when(a.at));
    el('td', {}, line, a.actor);
    el('td', {}, line, a.step);
    el('td', {}, line, a.detail);
    el('td', {}, line, a.host ? `${a.host}${a.packets ? ': ' + fmt(a.packets) + ' packets' : ''}` : '');
  }
}

/** Wires the rules table's buttons, row clicks, the proposal form and the alerts' "Propose block" buttons once;
 * `reload` refreshes the panels after a change. */
export function initRules(reload) {
  const act = async (what, run) => {
    try {
      const rule = await run();
      message(`${what}: rule ${rule.srcPrefix} is ${rule.status}`);
      await reload();
    } catch (e) {
      message(`${what} refused: ${e.message}`, true);
    }
  };
  document.querySelector('#rules tbody').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-rule]');
    if (!tr) return;
    const id = tr.dataset.rule;
    const action = e.target.dataset?.action;
    if (action) {
      const note = prompt(`Why ${action} ${tr.dataset.prefix}? (kept in the audit trail)`, '');
      if (note === null) return;
      act(action, () => post(`/v1/mitigation/rules/${id}/${action}`, note.trim() ? { note: note.trim() } : {}));
      return;
    }
    if (expanded.has(id)) {
      expanded.delete(id);
      document.querySelector(`#rules tr[data-audit="${id}"]`)?.remove();
    } else {
      expanded.add(id);
      showAudit(tr, id).catch((err) => message(`audit trail: ${err.message}`, true));
    }
  });
  const form = document.getElementById('propose');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = {
      srcPrefix: f.srcPrefix.value.trim(),
      ttlSeconds: Number(f.ttlSeconds.value),
      reason: f.reason.value.trim(),
      protocol: f.protocol.value,
      dryRun: f.dryRun.checked,
    };
    if (f.dst.value.trim()) body.dst = f.dst.value.trim();
    if (f.port.value !== '') body.port = Number(f.port.value);
    act('propose', () => post('/v1/mitigation/rules', body));
  });
  document.querySelector('#threats tbody').addEventListener('click', (e) => {
    const alertId = e.target.dataset?.proposeAlert;
    if (alertId) act('propose', () => post('/v1/mitigation/rules', { alertId, dryRun: true }));
  });
}

/** Block rules (newest proposal first): status, drop or dry-run, who proposed and decided, what each dropped on which
 * hosts, and the actions its status allows (deciding needs an admin token: the API's refusal is shown otherwise). A
 * click on a rule shows its audit trail. */
export function renderRules(r) {
  const tbody = document.querySelector('#rules tbody');
  tbody.textContent = '';
  for (const rule of r.rules.slice(0, 50)) {
    const tr = el('tr', { 'data-status': rule.status, 'data-rule': rule.id, 'data-prefix': rule.srcPrefix }, tbody);
    el('td', { title: 'show the audit trail' }, tr, ruleText(rule));
    el('td', { class: rule.status === 'approved' ? 'open' : '' }, tr, rule.status);
    const actions = el('td', {}, tr);
    for (const a of ACTIONS[rule.status] ?? [])
      el('button', { type: 'button', 'data-action': a }, actions, a[0].toUpperCase() + a.slice(1));
    el('td', {}, tr, rule.dryRun ? 'dry-run' : 'drop');
    el('td', {}, tr, `${rule.proposedBy}${rule.origin === 'detector' ? ' (detector)' : ''}, ${when(rule.proposedAt)}`);
    el('td', {}, tr, rule.decidedBy ? `${rule.decidedBy}, ${when(rule.decidedAt)}` : '');
    el('td', {}, tr, when(rule.expiresAt));
    const drops = el('td', { class: 'n' }, tr, fmt(rule.totalPackets));
    for (const d of rule.drops.slice(0, 3)) el('div', { class: 'related' }, drops, `${d.host}: ${fmt(d.packets)}`);
    el('td', {}, tr, rule.reason);
    if (expanded.has(rule.id)) showAudit(tr, rule.id).catch((err) => message(`audit trail: ${err.message}`, true));
  }
  if (!r.rules.length) el('td', { colspan: 9, class: 'empty' }, el('tr', {}, tbody), 'no block rules');
  const active = r.rules.filter((x) => x.status === 'approved').length;
  const waiting = r.rules.filter((x) => x.status === 'proposed').length;
  text('rules-note', `${active} in force, ${waiting} awaiting approval · cap ${r.cap}`);
}
