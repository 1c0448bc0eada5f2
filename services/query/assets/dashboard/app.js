// app.js — front-end of the Coalition Ledger live dashboard: polls the query service and renders tiles, inline-SVG charts and tables.
'use strict';

const $ = (id) => document.getElementById(id);
const NF = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const fmt = (n) => (n === '' || n == null || !Number.isFinite(+n) ? '–' : NF.format(+n));
const pct = (n) => `${fmt(n)}%`;
const sum = (arr, f) => arr.reduce((a, x) => a + (+f(x) || 0), 0);
const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#dc2626', '#0891b2'];
const PILLARS = { all: 'All pillars', labour_force: 'Labour force', ict_professionals: 'ICT professionals', education: 'Education' };
const STATUS_ORDER = ['draft', 'submitted', 'proposed', 'approved', 'published', 'active', 'in_progress', 'reporting', 'fulfilled', 'completed', 'withdrawn', 'cancelled', 'rejected'];

// Escape a user-supplied value for insertion into HTML text or a quoted attribute.
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
// "trainings_online" → "Trainings online".
const label = (s) => { s = String(s ?? '').replace(/_/g, ' '); return s.charAt(0).toUpperCase() + s.slice(1); };
const pillarName = (p) => PILLARS[p] || label(p);
// Array under d[section][field], or [] when missing.
const rows = (d, section, field = 'rows') => (d && d[section] && Array.isArray(d[section][field]) ? d[section][field] : []);
// Distinct values: the known ones first in their given order, then the rest alphabetically.
const ordered = (known, values) => {
  const set = new Set(values);
  return [...known.filter((k) => set.has(k)), ...[...set].filter((v) => !known.includes(v)).sort()];
};
const emptyRow = (cols, text = 'no data yet') => `<tr class="empty-row"><td colspan="${cols}">${text}</td></tr>`;

// Month "YYYY-MM" and quarter "YYYY-Qn" <-> a linear integer, so charts get a true time axis.
const monthNum = (s) => { const m = /^(\d{4})-(\d{2})$/.exec(s || ''); return m ? +m[1] * 12 + +m[2] - 1 : NaN; };
const monthLabel = (n) => `${Math.floor(n / 12)}-${String((n % 12) + 1).padStart(2, '0')}`;
const quarterNum = (s) => { const m = /^(\d{4})-Q([1-4])$/.exec(s || ''); return m ? +m[1] * 4 + +m[2] - 1 : NaN; };
const quarterLabel = (n) => `${Math.floor(n / 4)}-Q${(n % 4) + 1}`;

/* ---------- error reporting: never through the console ---------- */

function reportError(msg) {
  const pre = $('errors');
  if (!pre) return;
  pre.textContent += (pre.textContent ? '\n' : '') + msg;
  pre.hidden = false;
}
window.onerror = (msg, src, line, col) => { reportError(`${msg} (${src || '?'}:${line || 0}:${col || 0})`); return true; };
window.addEventListener('unhandledrejection', (e) => {
  e.preventDefault();
  reportError(`unhandled rejection: ${(e.reason && e.reason.message) || e.reason}`);
});
// Run one renderer; a failure is reported in #errors without stopping the others.
function safely(fn) {
  try { fn(); } catch (e) { reportError(`render failed: ${(e && e.stack) || e}`); }
}

/* ---------- polling ---------- */

// `token`: the bearer token the user signed in with, in memory only (never stored, never sent elsewhere).
const state = { status: null, dash: null, key: null, coalition: '', sort: { field: null, dir: 1 }, selectKey: '', token: '', gen: 0 };

// Changes whenever the log end or any projection position moves.
const statusKey = (s) => [s.log_end, ...(s.projections || []).map((p) => `${p.name}@${p.position}`)].join('|');

class AuthError extends Error {}

async function getJSON(url) {
  const headers = { accept: 'application/json' };
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  const r = await fetch(url, { cache: 'no-store', headers, credentials: 'omit' });
  if (r.status === 401 || r.status === 403) {
    let msg = `HTTP ${r.status}`;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new AuthError(msg);
  }
  if (!r.ok) throw new Error(`${url} answered HTTP ${r.status}`);
  return r.json();
}

// Shows the sign-in form (with why, if a token was refused) and stops polling until the user signs in.
function askForToken(msg) {
  state.token = '';
  state.dash = null;
  state.key = null;
  $('who').hidden = true;
  $('signin').hidden = false;
  const err = $('signin-error');
  err.textContent = msg || '';
  err.hidden = !msg;
  $('token').focus();
}

function showWho(d) {
  const p = d && d.principal;
  if (!p || !state.token) { $('who').hidden = true; return; }
  $('who-name').textContent = p.subject;
  $('who-scope').textContent = p.coalitions === '*' ? 'every coalition' : `coalitions ${[].concat(p.coalitions).join(', ')}`;
  $('who').hidden = false;
}

function banner(msg) {
  const b = $('banner');
  b.textContent = msg ? `cannot reach the query service: ${msg} — retrying` : '';
  b.hidden = !msg;
}

// One polling round: read the status, refetch the dashboard if anything moved, schedule the next round.
async function poll() {
  const gen = state.gen;
  try {
    const status = await getJSON('/api/status');
    state.status = status;
    const key = statusKey(status);
    if (key !== state.key || !state.dash) {
      state.dash = await getJSON('/api/dashboard');
      state.key = key;
      renderAll();
    } else {
      safely(() => renderStatus(state.dash));
    }
    banner('');
  } catch (e) {
    if (e instanceof AuthError) {
      banner('');
      askForToken(state.token ? `refused: ${e.message}` : '');
      return; // polling resumes when the user signs in
    }
    banner((e && e.message) || String(e));
  }
  // A sign-in meanwhile started a new round of polling: this one ends.
  setTimeout(() => { if (gen === state.gen) poll(); }, 2000);
}

function initSignIn() {
  $('signin').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value.trim();
    $('token').value = '';
    $('signin').hidden = true;
    state.gen += 1;
    poll();
  });
  $('signout').addEventListener('click', () => askForToken(''));
}

function renderAll() {
  const d = state.dash || {};
  showWho(d);
  for (const f of [renderTiles, renderGrowth, renderNational, renderCoalitions, renderByType, renderPipeline,
    renderScoreboard, renderOutcomes, renderParticipation, renderContent, renderDormant, renderProgrammes,
    renderCoordinators, renderTargets, renderStatus]) {
    safely(() => f(d));
  }
  document.body.dataset.ready = '1';
}

/* ---------- charts ---------- */

// A "nice" tick step (1, 2 or 5 × 10^k) giving roughly n intervals over span.
function niceStep(span, n = 4) {
  const raw = span / n || 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

// Inline SVG line chart with axes, tick labels and an HTML legend.
// series: [{name, pts: [[x, y], …]}] with integer x; opts: xLabel(x), yFmt(y), step (draw as steps), yMax (fixed top).
function lineChart(series, opts = {}) {
  const live = series.map((s, i) => ({ ...s, color: s.color || PALETTE[i % PALETTE.length] })).filter((s) => s.pts.length);
  if (!live.length) return '<p class="empty">no data yet</p>';
  const W = 600, H = 220, L = 58, R = 20, T = 10, B = 26;
  const all = live.flatMap((s) => s.pts);
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const yLo = Math.min(0, ...all.map((p) => p[1])), yHi = Math.max(...all.map((p) => p[1]));
  const step = niceStep((opts.yMax ?? yHi) - yLo || 1);
  const y0 = Math.floor(yLo / step) * step;
  const y1 = opts.yMax ?? Math.max(y0 + step, Math.ceil(yHi / step) * step);
  const sx = (x) => (L + ((x - x0) / (x1 - x0)) * (W - L - R)).toFixed(1);
  const sy = (y) => (T + ((y1 - y) / (y1 - y0)) * (H - T - B)).toFixed(1);
  const xf = opts.xLabel || String, yf = opts.yFmt || fmt;
  let g = '';
  for (let i = 0; y0 + i * step <= y1 + step / 2; i++) {
    const y = y0 + i * step;
    g += `<line class="grid" x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}"/>`
      + `<text class="ytick" x="${L - 6}" y="${+sy(y) + 4}">${esc(yf(y))}</text>`;
  }
  const xStep = Math.max(1, Math.ceil((x1 - x0) / 5));
  for (let x = x0; x <= x1; x += xStep) {
    const anchor = +sx(x) > W - R - 24 ? ' style="text-anchor:end"' : ''; // keep the last label inside
    g += `<line class="axis" x1="${sx(x)}" x2="${sx(x)}" y1="${H - B}" y2="${H - B + 4}"/>`
      + `<text class="xtick" x="${sx(x)}" y="${H - B + 16}"${anchor}>${esc(xf(x))}</text>`;
  }
  g += `<line class="axis" x1="${L}" x2="${W - R}" y1="${sy(y0)}" y2="${sy(y0)}"/><line class="axis" x1="${L}" x2="${L}" y1="${T}" y2="${H - B}"/>`;
  for (const s of live) {
    const d = s.pts.map(([x, y], j) => (!j ? `M${sx(x)} ${sy(y)}` : opts.step ? `H${sx(x)}V${sy(y)}` : `L${sx(x)} ${sy(y)}`)).join('');
    g += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"/>`;
    if (s.pts.length <= 60) {
      g += s.pts.map(([x, y]) => `<circle cx="${sx(x)}" cy="${sy(y)}" r="2.5" fill="${s.color}"><title>${esc(s.name)} · ${esc(xf(x))}: ${esc(yf(y))}</title></circle>`).join('');
    }
  }
  const legend = live.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join('');
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(live.map((s) => s.name).join(', '))}">${g}</svg><div class="legend">${legend}</div>`;
}

// Horizontal bar list. items: [{key, name, segs: [{cls, value, name}], text}]; widths are relative to max (or 100 when percent).
function barList(items, attr, max) {
  if (!items.length) return '<p class="empty">no data yet</p>';
  const top = max || Math.max(1, ...items.map((it) => sum(it.segs, (s) => s.value)));
  return `<div class="bars">${items.map((it) => `<div class="hbar" ${attr}="${esc(it.key)}"><span class="lbl" title="${esc(it.name)}">${esc(it.name)}</span><span class="track">${
    it.segs.filter((s) => s.value > 0).map((s) => `<i class="seg ${s.cls}" style="width:${Math.min(100, (s.value / top) * 100).toFixed(2)}%" title="${esc(s.name)}: ${fmt(s.value)}"></i>`).join('')
  }</span><span class="val">${it.text}</span></div>`).join('')}</div>`;
}

/* ---------- sections ---------- */

function setFig(el, v) {
  if (!el) return;
  el.dataset.value = String(v);
  el.textContent = fmt(v);
}

// Coalition id → display name (falls back to the id).
function coalitionNames(d) {
  const m = new Map(rows(d, 'members', 'coalitions').map((c) => [c.coalition_id, c.name || c.coalition_id]));
  return { get: (id) => m.get(id) || id, map: m };
}

function renderTiles(d) {
  const cs = rows(d, 'members', 'coalitions');
  const live = (c) => !c.deactivated_on;
  const v = {
    members: sum(cs, (c) => c.members),
    coalitions: cs.length,
    'national-coalitions': cs.filter((c) => c.kind === 'national' && live(c)).length,
    'connected-sites': cs.filter((c) => c.website_url && live(c)).length,
    pledges: sum(rows(d, 'pipeline'), (r) => r.pledges),
    dormant: +(d.dormant && d.dormant.total) || 0,
  };
  for (const [k, n] of Object.entries(v)) setFig($('tiles').querySelector(`[data-k="${k}"]`), n);
}

// Cumulative members over time for the selected coalition, or summed over all (each carried forward between changes).
function renderGrowth(d) {
  const names = coalitionNames(d);
  const byC = new Map();
  for (const r of rows(d, 'growth', 'months')) {
    const x = monthNum(r.month);
    if (Number.isNaN(x)) continue;
    if (!byC.has(r.coalition_id)) byC.set(r.coalition_id, []);
    byC.get(r.coalition_id).push([x, +r.cumulative || 0]);
  }
  for (const pts of byC.values()) pts.sort((a, b) => a[0] - b[0]);

  // keep the options in sync without losing the selection
  const ids = [...new Set([...names.map.keys(), ...byC.keys()])].sort((a, b) => String(names.get(a)).localeCompare(String(names.get(b))));
  const sel = $('coalition-select');
  const key = ids.map((id) => `${id}\u0001${names.get(id)}`).join('\u0002');
  if (key !== state.selectKey) {
    sel.innerHTML = '<option value="">All coalitions</option>' + ids.map((id) => `<option value="${esc(id)}">${esc(names.get(id))}</option>`).join('');
    state.selectKey = key;
  }
  if (state.coalition && !ids.includes(state.coalition)) state.coalition = '';
  sel.value = state.coalition;

  let pts;
  if (state.coalition) {
    pts = byC.get(state.coalition) || [];
  } else {
    const lastAt = (ps, x) => { let y = 0; for (const p of ps) { if (p[0] > x) break; y = p[1]; } return y; };
    const xs = [...new Set([...byC.values()].flat().map((p) => p[0]))].sort((a, b) => a - b);
    pts = xs.map((x) => [x, sum([...byC.values()], (ps) => lastAt(ps, x))]);
  }
  const name = state.coalition ? names.get(state.coalition) : 'All coalitions';
  $('growth-chart').innerHTML = lineChart([{ name, pts }], { xLabel: monthLabel, step: true });
}

function renderNational(d) {
  if (d.national === null) {
    // The server left it out: it sums over every coalition, and the caller reads some coalitions only.
    $('national-chart').innerHTML = '<p class="empty">sums over every coalition: needs a reader grant for all of them</p>';
    return;
  }
  const ms = rows(d, 'national', 'months').map((r) => ({ ...r, x: monthNum(r.month) })).filter((r) => !Number.isNaN(r.x)).sort((a, b) => a.x - b.x);
  $('national-chart').innerHTML = lineChart([
    { name: 'National coalitions', pts: ms.map((r) => [r.x, +r.national_coalitions || 0]) },
    { name: 'Connected sites', pts: ms.map((r) => [r.x, +r.connected_sites || 0]) },
  ], { xLabel: monthLabel, step: true });
}

// Website as a plain link (only http/https; anything else as text).
const siteLink = (u) => (/^https?:\/\//i.test(u || '') ? `<a href="${esc(u)}" rel="noopener noreferrer nofollow" target="_blank">${esc(u)}</a>` : esc(u));

function renderCoalitions(d) {
  const cs = [...rows(d, 'members', 'coalitions')].sort((a, b) =>
    (a.kind === b.kind ? 0 : a.kind === 'eu' ? -1 : b.kind === 'eu' ? 1 : 0) || String(a.name).localeCompare(String(b.name)));
  $('coalitions').tBodies[0].innerHTML = cs.length ? cs.map((c) => `<tr data-coalition="${esc(c.coalition_id)}"${c.deactivated_on ? ` class="inactive" title="deactivated on ${esc(c.deactivated_on)}"` : ''}>`
    + `<td>${esc(c.name)}</td><td><span class="pill ${c.kind === 'eu' ? 'eu' : 'nat'}">${esc(c.kind)}</span></td><td>${esc(c.country)}</td>`
    + `<td>${esc(c.launched_on)}</td><td class="num" data-k="members" data-value="${+c.members || 0}">${fmt(+c.members || 0)}</td>`
    + `<td class="url">${siteLink(c.website_url)}</td><td>${esc(c.connected_on)}</td></tr>`).join('') : emptyRow(7);
}

// Current members per organisation type = sum of net over all months and coalitions, split by size.
function renderByType(d) {
  const t = new Map();
  for (const r of rows(d, 'by_type')) {
    const k = r.organisation_type || 'unknown';
    if (!t.has(k)) t.set(k, { sme: 0, large: 0, other: 0 });
    const e = t.get(k);
    e[r.size === 'sme' || r.size === 'large' ? r.size : 'other'] += +r.net || 0;
  }
  const items = [...t].map(([k, e]) => {
    const segs = [['sme', 'SME'], ['large', 'Large'], ['other', 'Other']].map(([cls, name]) => ({ cls, name, value: Math.max(0, e[cls]) }));
    return { key: k, name: label(k), segs, total: sum(segs, (s) => s.value) };
  }).sort((a, b) => b.total - a.total);
  items.forEach((it) => { it.text = fmt(it.total); });
  const other = items.some((it) => it.segs[2].value > 0);
  $('by-type').innerHTML = barList(items, 'data-type')
    + (items.length ? `<div class="legend"><span><i class="seg sme"></i>SME</span><span><i class="seg large"></i>Large</span>${other ? '<span><i class="seg other"></i>Other</span>' : ''}</div>` : '');
}

function renderPipeline(d) {
  const t = new Map();
  for (const r of rows(d, 'pipeline')) t.set(r.status, (t.get(r.status) || 0) + (+r.pledges || 0));
  const items = ordered(STATUS_ORDER, [...t.keys()]).map((s) => ({
    key: s, name: label(s), text: fmt(t.get(s)), segs: [{ cls: `st st-${String(s).replace(/[^a-z0-9_-]/gi, '')}`, name: label(s), value: t.get(s) }],
  }));
  $('pipeline').innerHTML = barList(items, 'data-status');
}

const NUMERIC = new Set(['target', 'achieved', 'pct_attained', 'corrections']);

// Scoreboard rows in the current sort (coalition sorts by display name, numeric columns numerically).
function renderScoreboard(d) {
  const names = coalitionNames(d);
  const rs = [...rows(d, 'scoreboard')];
  const { field, dir } = state.sort;
  if (field) {
    const val = field === 'coalition_id' ? (r) => names.get(r.coalition_id) : (r) => r[field];
    rs.sort((a, b) => dir * (NUMERIC.has(field)
      ? (+val(a) || 0) - (+val(b) || 0)
      : String(val(a) ?? '').localeCompare(String(val(b) ?? ''), 'en', { numeric: true })));
  }
  for (const th of $('scoreboard').tHead.querySelectorAll('th[data-sort]')) {
    const on = th.dataset.sort === field;
    th.querySelector('.arrow').textContent = on ? (dir > 0 ? ' ▲' : ' ▼') : '';
    if (on) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending'); else th.removeAttribute('aria-sort');
  }
  $('scoreboard').tBodies[0].innerHTML = rs.length ? rs.map((r) => {
    const p = +r.pct_attained || 0;
    return `<tr data-pledge="${esc(r.pledge_id)}" data-indicator="${esc(r.indicator)}">`
      + `<td class="mono" title="organisation ${esc(r.organisation_id)}">${esc(r.pledge_id)}</td><td>${esc(r.title)}</td>`
      + `<td>${esc(names.get(r.coalition_id))}</td><td><span class="pill">${esc(r.status)}</span></td><td>${esc(label(r.indicator))}</td>`
      + `<td class="num">${fmt(r.target)}</td><td class="num">${fmt(r.achieved)}</td>`
      + `<td class="num nowrap"><span class="mini"><i style="width:${Math.min(100, Math.max(0, p)).toFixed(1)}%"></i></span>${p.toFixed(1)}%</td>`
      + `<td>${esc(r.last_report_on)}</td><td class="num">${fmt(r.corrections)}</td></tr>`;
  }).join('') : emptyRow(10);
}

// Amount per indicator × pillar, and women / people per pillar (people counted once per year/pillar/country).
function renderOutcomes(d) {
  const rs = rows(d, 'outcomes');
  const pillars = ordered(Object.keys(PILLARS), rs.map((r) => r.pillar));
  const inds = [...new Set(rs.map((r) => r.indicator))].sort();
  const amount = new Map(), ppl = new Map(), seen = new Set();
  for (const r of rs) {
    const k = `${r.indicator}\u0001${r.pillar}`;
    amount.set(k, (amount.get(k) || 0) + (+r.amount || 0));
    const once = `${r.year}\u0001${r.pillar}\u0001${r.country}`;
    if (seen.has(once)) continue;
    seen.add(once);
    if (!ppl.has(r.pillar)) ppl.set(r.pillar, { people: 0, women: 0 });
    ppl.get(r.pillar).people += +r.people || 0;
    ppl.get(r.pillar).women += +r.women || 0;
  }
  const head = `<thead><tr><th>Indicator</th>${pillars.map((p) => `<th class="num">${esc(pillarName(p))}</th>`).join('')}</tr></thead>`;
  const body = inds.map((i) => `<tr data-indicator="${esc(i)}"><td>${esc(label(i))}</td>${pillars.map((p) => {
    const v = amount.get(`${i}\u0001${p}`);
    return `<td class="num" data-pillar="${esc(p)}">${v == null ? '–' : fmt(v)}</td>`;
  }).join('')}</tr>`).join('');
  const foot = ['people', 'women'].map((f) => `<tr class="foot"><td>${f === 'people' ? 'People reached' : 'of whom women'}</td>${pillars.map((p) => `<td class="num">${fmt((ppl.get(p) || {})[f] || 0)}</td>`).join('')}</tr>`).join('');
  $('outcomes').innerHTML = rs.length ? `${head}<tbody>${body}${foot}</tbody>` : `<tbody>${emptyRow(1)}</tbody>`;
  const items = pillars.filter((p) => ppl.get(p) && ppl.get(p).people > 0).map((p) => {
    const e = ppl.get(p), share = (e.women / e.people) * 100;
    return { key: p, name: pillarName(p), text: `${share.toFixed(1)}%`, segs: [{ cls: 'women', name: "Women's share (%)", value: share }] };
  });
  $('women-share').innerHTML = barList(items, 'data-pillar', 100);
}

// Participants per quarter per source, and women's share of all participants per quarter.
function renderParticipation(d) {
  const rs = rows(d, 'participation');
  const sources = ordered(['course_runs', 'activities'], rs.map((r) => r.source));
  const q = new Map();
  for (const r of rs) {
    const x = quarterNum(r.quarter);
    if (Number.isNaN(x)) continue;
    if (!q.has(x)) q.set(x, { people: 0, women: 0 });
    const e = q.get(x);
    e[`s:${r.source}`] = (e[`s:${r.source}`] || 0) + (+r.participants || 0);
    e.people += +r.participants || 0;
    e.women += +r.women || 0;
  }
  const xs = [...q.keys()].sort((a, b) => a - b);
  $('participation-chart').innerHTML = lineChart(sources.map((s) => ({
    name: label(s), pts: xs.map((x) => [x, q.get(x)[`s:${s}`] || 0]),
  })), { xLabel: quarterLabel });
  $('participation-women').innerHTML = lineChart([{
    name: "Women's share", color: '#db2777', pts: xs.filter((x) => q.get(x).people > 0).map((x) => [x, (q.get(x).women / q.get(x).people) * 100]),
  }], { xLabel: quarterLabel, yMax: 100, yFmt: pct });
}

// Sum of shared content items: coalition rows × content type columns.
function renderContent(d) {
  const names = coalitionNames(d);
  const rs = rows(d, 'content');
  const types = [...new Set(rs.map((r) => r.content_type))].sort();
  const ids = [...new Set(rs.map((r) => r.coalition_id))].sort((a, b) => String(names.get(a)).localeCompare(String(names.get(b))));
  const t = new Map();
  for (const r of rs) { const k = `${r.coalition_id}\u0001${r.content_type}`; t.set(k, (t.get(k) || 0) + (+r.shared || 0)); }
  const cell = (id, ty) => t.get(`${id}\u0001${ty}`) || 0;
  $('content').innerHTML = rs.length
    ? `<thead><tr><th>Coalition</th>${types.map((ty) => `<th class="num">${esc(label(ty))}</th>`).join('')}<th class="num">Total</th></tr></thead><tbody>${
      ids.map((id) => `<tr data-coalition="${esc(id)}"><td>${esc(names.get(id))}</td>${types.map((ty) => `<td class="num" data-type="${esc(ty)}">${fmt(cell(id, ty))}</td>`).join('')}<td class="num"><b>${fmt(sum(types, (ty) => cell(id, ty)))}</b></td></tr>`).join('')
    }<tr class="foot"><td>All coalitions</td>${types.map((ty) => `<td class="num">${fmt(sum(ids, (id) => cell(id, ty)))}</td>`).join('')}<td class="num">${fmt(sum(rs, (r) => r.shared))}</td></tr></tbody>`
    : `<tbody>${emptyRow(1)}</tbody>`;
}

function renderDormant(d) {
  const names = coalitionNames(d);
  const dm = d.dormant || {};
  const rs = Array.isArray(dm.rows) ? dm.rows : [];
  const total = +dm.total || 0;
  $('dormant-summary').textContent = `${fmt(total)} dormant member${total === 1 ? '' : 's'}${dm.as_of ? ` as of ${dm.as_of}` : ''}`
    + (rs.length && rs.length < total ? ` — showing the first ${fmt(rs.length)}` : '');
  $('dormant-table').innerHTML = '<thead><tr><th>Organisation</th><th>Coalition</th><th>Country</th><th>Joined</th><th>Last engaged</th></tr></thead><tbody>'
    + (rs.length ? rs.map((r) => `<tr data-organisation="${esc(r.organisation_id)}"><td title="${esc(r.organisation_id)}">${esc(r.name || r.organisation_id)}</td>`
      + `<td>${esc(names.get(r.coalition_id))}</td><td>${esc(r.country)}</td><td class="nowrap">${esc(r.joined_on)}</td><td class="nowrap">${esc(r.last_engaged_on) || '<span class="muted">never</span>'}</td></tr>`).join('')
      : emptyRow(5, 'no dormant members')) + '</tbody>';
}

// Each programme's overview row; its partnership group by sector; meetings per quarter over every working group;
// the partnership group as composed today.
function renderProgrammes(d) {
  const ps = rows(d, 'programmes');
  $('programmes').querySelector('tbody').innerHTML = ps.length ? ps.map((p) => `<tr data-programme="${esc(p.programme_id)}">`
    + `<td title="${esc(p.owner)}">${esc(p.name)}</td><td>${esc(p.country)}</td><td class="nowrap">${esc(p.launched_on)}${p.ended_on ? ` – ${esc(p.ended_on)}` : ''}</td>`
    + `<td class="num">${fmt(p.priority_areas)}</td><td class="num" data-k="groups" data-value="${+p.working_groups}">${fmt(p.working_groups)}${+p.open_groups !== +p.working_groups ? ` <span class="muted">(${fmt(p.open_groups)} open)</span>` : ''}</td>`
    + `<td class="num" data-k="members" data-value="${+p.members}">${fmt(p.members)}</td><td class="num">${fmt(p.participants)}</td><td class="num" data-k="meetings" data-value="${+p.meetings}">${fmt(p.meetings)}</td>`
    + `<td class="num">${+p.meetings ? pct(p.anchoring_rate) : '–'}</td><td class="num">${fmt(p.deliverables)}</td></tr>`).join('')
    : emptyRow(10, 'no programme recorded');
  const bySector = new Map();
  for (const r of rows(d, 'sectors')) bySector.set(r.sector, (bySector.get(r.sector) || 0) + (+r.members || 0));
  const sectors = ordered(['large_company', 'small_company', 'higher_education', 'government_agency', 'civil_society', 'public_sector'], [...bySector.keys()]);
  $('sectors').innerHTML = barList(sectors.map((s) => ({
    key: s, name: label(s), segs: [{ cls: 'st', value: bySector.get(s), name: label(s) }], text: fmt(bySector.get(s)),
  })), 'data-sector');
  const q = new Map();
  for (const r of rows(d, 'working_groups')) {
    const x = quarterNum(r.quarter);
    if (Number.isNaN(x)) continue;
    const e = q.get(x) || { meetings: 0, anchored: 0 };
    e.meetings += +r.meetings || 0;
    e.anchored += +r.anchored || 0;
    q.set(x, e);
  }
  const xs = [...q.keys()].sort((a, b) => a - b);
  $('meetings-chart').innerHTML = lineChart([
    { name: 'Meetings', pts: xs.map((x) => [x, q.get(x).meetings]) },
    { name: 'Anchored with the partnership group', pts: xs.map((x) => [x, q.get(x).anchored]) },
  ], { xLabel: quarterLabel });
  const ms = rows(d, 'partnership');
  $('partnership').innerHTML = '<thead><tr><th>Member</th><th>Organisation</th><th>Sector</th><th>Role</th><th>Since</th></tr></thead><tbody>'
    + (ms.length ? ms.map((m) => `<tr data-member="${esc(m.member_id)}"><td>${esc(m.name)}</td><td>${esc(m.organisation)}</td><td>${esc(label(m.sector))}</td>`
      + `<td>${esc(m.role)}</td><td class="nowrap">${esc(m.appointed_on)}</td></tr>`).join('') : emptyRow(5, 'no members')) + '</tbody>';
}

// The current coordinator of each member state, with the number of earlier ones.
function renderCoordinators(d) {
  const cs = rows(d, 'coordinators');
  const current = cs.filter((c) => !c.until_on);
  const earlier = (country) => cs.filter((c) => c.country === country && c.until_on).length;
  $('coordinators').innerHTML = '<thead><tr><th>Member state</th><th>Coordinator</th><th>Body</th><th>Since</th><th class="num">Earlier</th></tr></thead><tbody>'
    + (current.length ? current.map((c) => `<tr data-country="${esc(c.country)}"><td>${esc(c.country)}</td><td>${esc(c.name)}</td><td>${esc(c.body)}</td>`
      + `<td class="nowrap">${esc(c.from_on)}</td><td class="num">${fmt(earlier(c.country))}</td></tr>`).join('') : emptyRow(5, 'no coordinator recorded')) + '</tbody>';
}

// Progress of each Digital Decade target: latest value as a share of the target value (qualitative targets get no bar).
function renderTargets(d) {
  const ts = d.targets && Array.isArray(d.targets.targets) ? d.targets.targets : [];
  const v = (x, unit) => (unit === 'percent' ? pct(x) : fmt(x));
  $('targets').innerHTML = ts.length ? ts.map((t) => {
    const goal = +t.target_value || 0, latest = +t.latest_value || 0, has = +t.latest_year > 0;
    const progress = goal > 0 && has ? (latest / goal) * 100 : null;
    const text = (has ? `${v(latest, t.unit)} in ${esc(t.latest_year)}` : 'no value yet')
      + (+t.earlier_year > 0 ? ` (${v(t.earlier_value, t.unit)} in ${esc(t.earlier_year)})` : '')
      + (goal > 0 ? ` — target ${v(goal, t.unit)} by ${esc(t.target_year)}` : ` — qualitative target${+t.target_year ? ` for ${esc(t.target_year)}` : ''}`);
    return `<div class="target" data-target="${esc(t.code)}"><div class="t-head"><b>${esc(t.description || t.code)}</b><span class="muted">${esc(t.code)}</span></div>`
      + (progress == null ? '' : `<div class="progress" title="${progress.toFixed(1)}% of target"><i style="width:${Math.min(100, progress).toFixed(1)}%"></i></div>`)
      + `<div class="t-text">${text}${progress == null ? '' : ` <span class="muted">· ${progress.toFixed(0)}% of target</span>`}</div></div>`;
  }).join('') : '<p class="empty">no data yet</p>';
}

// Header log position and the projections table, from the newest /api/status answer.
function renderStatus(d) {
  const s = state.status || (d && d.status) || {};
  setFig(document.querySelector('header [data-k="position"]'), +s.log_end || 0);
  $('updated').textContent = `updated ${new Date().toLocaleTimeString('en-GB')}`;
  const ps = Array.isArray(s.projections) ? s.projections : [];
  const q = (x) => (typeof x === 'boolean' ? (x ? 'yes' : 'no') : fmt(x));
  $('projections').tBodies[0].innerHTML = ps.length ? ps.map((p) => `<tr data-projection="${esc(p.name)}"${p.state === 'failed' ? ' class="failed"' : ''}>`
    + `<td class="mono">${esc(p.name)}</td><td class="num">${fmt(p.version)}</td><td><span class="pill state-${esc(p.state)}">${esc(p.state)}</span></td>`
    + `<td class="num">${fmt(p.position)}</td><td class="num${+p.lag > 0 ? ' lagging' : ''}">${fmt(p.lag)}</td><td class="num">${q(p.quarantined)}</td>`
    + `<td class="err" title="${esc(p.last_error)}">${esc(p.last_error)}</td></tr>`).join('') : emptyRow(7);
}

/* ---------- start ---------- */

function init() {
  const sel = $('coalition-select');
  sel.addEventListener('change', () => { state.coalition = sel.value; safely(() => renderGrowth(state.dash || {})); });
  const head = $('scoreboard').tHead;
  const sortBy = (e) => {
    const th = e.target.closest('th[data-sort]');
    if (!th) return;
    const f = th.dataset.sort;
    state.sort = { field: f, dir: state.sort.field === f ? -state.sort.dir : 1 };
    safely(() => renderScoreboard(state.dash || {}));
  };
  head.addEventListener('click', sortBy);
  head.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(e); } });
  initSignIn();
  poll();
}

init();
