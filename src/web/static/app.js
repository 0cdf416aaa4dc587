// The live page of `uvs run --listen`: the director's state pushed by server-sent events
// (/events, a few times a second) and the packet-path view (/events/path). Plain DOM, text
// only (never innerHTML with data), charts with uPlot.

const HISTORY = 120; // points kept per chart (one per push)

/** h('td', {class: 'x'}, 'text', child...) */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function num(n, digits = 0) {
  if (!Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}K`;
  return n.toFixed(digits);
}

function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
}

// ---------------------------------------------------------------- in-place updates
// A push a few times a second changes a few numbers; rebuilding the tables for it made the
// browser restyle and lay out every cell each time (measured: headless chromium spent
// ~50 ms of CPU a second on the open page, the largest part of what watching a director
// costs the machine). These change only the text and attributes that differ.

function setAttr(el, k, v) {
  if (v === undefined || v === null || v === '') {
    if (el.hasAttribute(k)) el.removeAttribute(k);
  } else if (el.getAttribute(k) !== String(v)) el.setAttribute(k, String(v));
}

function setText(el, text) {
  if (el.childElementCount > 0 || el.textContent !== text) el.textContent = text;
}

/** Cell j of row tr: a string, or { text, class, colspan, th, badge, title }. */
function setCell(tr, j, spec) {
  const c = typeof spec === 'object' ? spec : { text: spec };
  const tag = c.th ? 'TH' : 'TD';
  let cell = tr.cells[j];
  if (!cell || cell.tagName !== tag) {
    const fresh = document.createElement(tag);
    if (cell) cell.replaceWith(fresh);
    else tr.append(fresh);
    cell = fresh;
  }
  setAttr(cell, 'class', c.class);
  setAttr(cell, 'colspan', c.colspan);
  const text = String(c.text);
  if (c.badge === undefined) {
    setText(cell, text);
    return;
  }
  let b = cell.firstElementChild;
  if (!b || cell.childNodes.length !== 1) {
    b = document.createElement('span');
    cell.replaceChildren(b);
  }
  setAttr(b, 'class', `badge ${c.badge}`);
  setAttr(b, 'title', c.title);
  setText(b, text);
}

/** table shows a header row (none if empty), then `rows` ({ attrs, cells }), reusing what it has. */
function fillTable(table, header, rows) {
  const head = header.length > 0 ? [{ cells: header.map((t) => ({ text: t, th: true })) }] : [];
  const all = [...head, ...rows];
  while (table.rows.length > all.length) table.deleteRow(-1);
  all.forEach((r, i) => {
    const tr = table.rows[i] || table.appendChild(document.createElement('tr'));
    for (const [k, v] of Object.entries(r.attrs || {})) setAttr(tr, k, v);
    while (tr.cells.length > r.cells.length) tr.deleteCell(-1);
    r.cells.forEach((c, j) => {
      setCell(tr, j, c);
    });
  });
}

/** The children of `box` are `els`, in order; moved only when they are not already. */
function setChildren(box, els) {
  const same = box.children.length === els.length && els.every((el, i) => box.children[i] === el);
  if (!same) box.replaceChildren(...els);
}

// ---------------------------------------------------------------- tabs

function showTab(which) {
  document.getElementById('view-live').hidden = which !== 'live';
  document.getElementById('view-path').hidden = which !== 'path';
  document.getElementById('tab-live').classList.toggle('active', which === 'live');
  document.getElementById('tab-path').classList.toggle('active', which === 'path');
}
document.getElementById('tab-live').addEventListener('click', () => showTab('live'));
document.getElementById('tab-path').addEventListener('click', () => showTab('path'));

// ---------------------------------------------------------------- live view

let prev = null; // the state rates are measured against: at least a second older
const recent = []; // states of the last few seconds
const charts = new Map(); // service key -> { plot, data, dests, box }

function rate(now, before, dt) {
  return before === undefined || dt <= 0 ? 0 : Math.max(0, (now - before) / dt);
}

/** The summary cards: label, value, hint and a fill bar (0..1), kept in place. */
function setCards(box, cards) {
  while (box.children.length > cards.length) box.lastElementChild.remove();
  cards.forEach((c, i) => {
    let el = box.children[i];
    if (!el) {
      el = h(
        'div',
        { class: 'card' },
        h('div', { class: 'label' }),
        h('div', { class: 'value' }),
        h('div', { class: 'hint' }),
        h('div', { class: 'bar' }, h('div', {})),
      );
      box.append(el);
    }
    setText(el.children[0], c.label);
    setText(el.children[1], c.value);
    setText(el.children[2], c.hint || '');
    el.children[2].hidden = !c.hint;
    el.children[3].hidden = c.fill === undefined;
    if (c.fill !== undefined)
      setAttr(
        el.children[3].firstElementChild,
        'style',
        `width:${Math.min(100, c.fill * 100).toFixed(1)}%`,
      );
  });
}

function renderSummary(s, dt) {
  const f = s.frames;
  const p = prev ? prev.frames : undefined;
  const t = s.table;
  const masters = (s.vrrp || []).filter((v) => v.state === 'MASTER').length;
  const card = (label, value, hint, fill) => ({ label, value, hint, fill });
  const cards = [
    card('Transmitted', `${num(rate(f.tx, p?.tx, dt))}/s`, `${num(f.tx)} frames`),
    card('Passed to host', `${num(rate(f.pass, p?.pass, dt))}/s`, `${num(f.pass)} frames`),
    card('Dropped', `${num(rate(f.drop, p?.drop, dt))}/s`, `${num(f.drop)} frames`),
    card(
      'Connection table',
      `${(t.fill * 100).toFixed(t.fill < 0.01 ? 3 : 1)}%`,
      `${num(t.entries)} entries, ${num(t.templates)} templates of ${num(t.capacity)}`,
      t.fill,
    ),
    card('Active / inactive', `${num(t.active)} / ${num(t.inactive)}`, 'connections'),
    card('Datapath threads', String(s.threads), null),
  ];
  if (s.vrrp) cards.push(card('VRRP', `${masters} master`, `${s.vrrp.length} instances`));
  setCards(document.getElementById('summary'), cards);
}

/** The health cell of a real server: a badge, its checkers' results in the title. */
function healthCell(d) {
  if (!d.health) return { text: '—', badge: 'none', title: 'no health checker' };
  const title = d.health.checkers
    .map(
      (c) =>
        `${c.kind}: ${c.state}${c.reason ? ` (${c.reason})` : ''}${c.latencyMs !== null ? ` ${c.latencyMs.toFixed(1)} ms` : ''}`,
    )
    .join('\n');
  const alive = d.health.alive;
  return { text: alive ? 'up' : 'down', badge: alive ? 'up' : 'down', title };
}

function ensureChart(svc, box) {
  let c = charts.get(svc.key);
  const names = svc.dests.map((d) => d.name).join('|');
  if (c && c.names === names && c.box === box) return c;
  if (c) c.plot.destroy();
  const data = [[], ...svc.dests.map(() => [])];
  const palette = [
    '#2457c5',
    '#c2410c',
    '#15803d',
    '#7e22ce',
    '#0e7490',
    '#be123c',
    '#4d7c0f',
    '#a16207',
  ];
  const opts = {
    width: Math.max(260, box.clientWidth || 320),
    height: 150,
    legend: { show: true, live: false },
    scales: { x: { time: true } },
    axes: [{}, { size: 50, values: (_u, vals) => vals.map((v) => num(v)) }],
    series: [
      {},
      ...svc.dests.map((d, i) => ({
        label: d.name,
        stroke: palette[i % palette.length],
        width: 1.5,
      })),
    ],
  };
  const plot = typeof uPlot === 'function' ? new uPlot(opts, data, box) : null;
  c = { plot: plot || { setData() {}, destroy() {} }, data, names, box };
  charts.set(svc.key, c);
  return c;
}

function renderServices(s) {
  const box = document.getElementById('services');
  const keep = new Set(s.services.map((x) => x.key));
  for (const k of [...charts.keys()])
    if (!keep.has(k)) {
      charts.get(k).plot.destroy();
      charts.delete(k);
    }
  const frag = [];
  for (const svc of s.services) {
    let el = box.querySelector(`[data-svc="${CSS.escape(svc.key)}"]`);
    if (!el) {
      el = h(
        'div',
        { class: 'service', 'data-svc': svc.key },
        h('h3', {}, svc.name, h('span', { class: 'meta' }, '')),
        h(
          'div',
          { class: 'service-body' },
          h('div', { class: 'dests-box' }, h('table', { class: 'grid dests' })),
          h('div', { class: 'chart' }),
        ),
      );
    }
    setText(
      el.querySelector('.meta'),
      `${svc.scheduler}${svc.persistent ? `, persistent ${svc.persistent}s` : ''} · ` +
        `${num(svc.stats.cps, 1)} conn/s · ${num(svc.stats.inpps)} in pkt/s · ${num(svc.stats.outpps)} out pkt/s · ` +
        `${bytes(svc.stats.inbps)}/s in · ${bytes(svc.stats.outbps)}/s out`,
    );
    fillTable(
      el.querySelector('table'),
      [
        'Real server',
        'Forward',
        'Weight',
        'Health',
        'ActiveConn',
        'InActConn',
        'Conn/s',
        'In pkt/s',
        'Out pkt/s',
        'In B/s',
        'Out B/s',
        'Conns',
      ],
      svc.dests.map((d) => ({
        attrs: { 'data-rs': d.name },
        cells: [
          d.name,
          d.method,
          { text: String(d.weight), class: 'weight' },
          healthCell(d),
          { text: String(d.active), class: 'active' },
          { text: String(d.inactive), class: 'inactive' },
          num(d.stats.cps, 1),
          num(d.stats.inpps),
          num(d.stats.outpps),
          bytes(d.stats.inbps),
          bytes(d.stats.outbps),
          { text: String(d.stats.conns), class: 'conns' },
        ],
      })),
    );
    frag.push(el);
  }
  setChildren(box, frag);
  for (const svc of s.services) {
    const el = box.querySelector(`[data-svc="${CSS.escape(svc.key)}"] .chart`);
    const c = ensureChart(svc, el);
    c.data[0].push(s.at / 1000);
    svc.dests.forEach((d, i) => {
      c.data[i + 1].push(d.stats.inpps + d.stats.outpps);
    });
    if (c.data[0].length > HISTORY) for (const col of c.data) col.shift();
    c.plot.setData(c.data);
  }
}

function renderCounts(id, counts, before, dt, empty) {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  fillTable(
    document.getElementById(id),
    ['Reason', 'Frames', 'Per second'],
    rows.length === 0
      ? [{ attrs: { 'data-reason': '' }, cells: [{ text: empty, colspan: '3', class: 'muted' }] }]
      : rows.map(([k, v]) => ({
          attrs: { 'data-reason': k },
          cells: [k, num(v), num(rate(v, before?.[k], dt), 1)],
        })),
  );
}

function renderLinks(s, dt) {
  const before = prev ? prev.links : {};
  fillTable(
    document.getElementById('links'),
    ['Link', 'Rx frames/s', 'Tx frames/s', 'Rx', 'Tx', 'Ring drops', 'Tx errors'],
    Object.entries(s.links).map(([name, c]) => {
      const b = before[name] || {};
      return {
        cells: [
          name,
          num(rate(c.rxFrames, b.rxFrames, dt)),
          num(rate(c.txFrames, b.txFrames, dt)),
          bytes(c.rxBytes),
          bytes(c.txBytes),
          num(c.ringDrops),
          num(c.txErrors + c.txDropped),
        ],
      };
    }),
  );
}

function renderVrrp(s) {
  const t = document.getElementById('vrrp');
  if (!s.vrrp) {
    fillTable(
      t,
      [],
      [{ cells: [{ text: 'VRRP is not running in this director', class: 'muted' }] }],
    );
    return;
  }
  fillTable(
    t,
    ['Instance', 'State', 'Priority', 'Became master'],
    s.vrrp.map((v) => ({
      cells: [
        v.instance,
        { text: v.state, badge: v.state },
        String(v.priority),
        String(v.becomeMaster),
      ],
    })),
  );
}

let services = [];

function render(s) {
  // Rates of counters over at least a second (pushes come about once a second).
  recent.push(s);
  while (recent.length > 1 && s.at - recent[1].at >= 1000) recent.shift();
  prev = recent[0] !== s && s.at - recent[0].at >= 900 ? recent[0] : null;
  const dt = prev ? (s.at - prev.at) / 1000 : 0;
  renderSummary(s, dt);
  renderServices(s);
  renderCounts('drops', s.drops, prev?.drops, dt, 'no frame dropped');
  renderCounts('passes', s.passes, prev?.passes, dt, 'no frame passed');
  renderLinks(s, dt);
  renderVrrp(s);
  services = s.services;
  updateServiceChoices();
}

const status = document.getElementById('status');
function connectLive() {
  const es = new EventSource('/events');
  es.onopen = () => {
    status.textContent = 'live';
    status.className = 'status ok';
  };
  es.onmessage = (ev) => {
    status.textContent = `live · ${new Date().toLocaleTimeString()}`;
    render(JSON.parse(ev.data));
  };
  es.onerror = () => {
    status.textContent = 'reconnecting…';
    status.className = 'status bad';
  };
}
connectLive();

// ---------------------------------------------------------------- packet-path view

const select = document.getElementById('path-service');
function updateServiceChoices() {
  const have = [...select.options].map((o) => o.value).join('|');
  const want = ['', ...services.filter((s) => !s.key.startsWith('FWM')).map((s) => s.key)].join(
    '|',
  );
  if (have === want) return;
  const chosen = select.value;
  select.replaceChildren(
    h('option', { value: '' }, 'any'),
    ...services
      .filter((s) => !s.key.startsWith('FWM'))
      .map((s) => h('option', { value: s.key }, s.name)),
  );
  select.value = chosen;
}

let pathSource = null;
const pathStatus = document.getElementById('path-status');
const connBox = document.getElementById('path-conns');
const startBtn = document.getElementById('path-start');
const stopBtn = document.getElementById('path-stop');

function stopPath(text) {
  if (pathSource) pathSource.close();
  pathSource = null;
  startBtn.disabled = false;
  stopBtn.disabled = true;
  if (text) pathStatus.textContent = text;
}

document.getElementById('path-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  stopPath();
  connBox.replaceChildren();
  const q = new URLSearchParams({
    service: select.value,
    client: document.getElementById('path-client').value.trim(),
    count: document.getElementById('path-count').value,
    seconds: document.getElementById('path-seconds').value,
  });
  let got = 0;
  pathSource = new EventSource(`/events/path?${q}`);
  startBtn.disabled = true;
  stopBtn.disabled = false;
  pathStatus.textContent = 'waiting for packets…';
  pathSource.addEventListener('start', () => {
    pathStatus.textContent = 'waiting for packets…';
  });
  pathSource.onmessage = (e) => {
    got++;
    pathStatus.textContent = `${got} packet${got === 1 ? '' : 's'}`;
    addPacket(JSON.parse(e.data));
  };
  pathSource.addEventListener('error', (e) => {
    if (e.data) stopPath(`error: ${JSON.parse(e.data).error}`);
  });
  pathSource.addEventListener('end', () => stopPath(`done: ${got} packet${got === 1 ? '' : 's'}`));
  pathSource.onerror = () => {
    if (pathSource && pathSource.readyState === EventSource.CLOSED)
      stopPath(`stopped: ${got} packets`);
    else if (pathSource) stopPath(`ended: ${got} packets`);
  };
});
stopBtn.addEventListener('click', () => stopPath('stopped'));

function hdrLines(x, other) {
  const lines = [];
  const kv = (k, v, o) => lines.push([k, String(v), o !== undefined && String(o) !== String(v)]);
  kv('link', x.link, other?.link);
  kv('eth src', x.ethSrc, other?.ethSrc);
  kv('eth dst', x.ethDst, other?.ethDst);
  const ip = x.ip;
  const oip = other && (other.inner && !x.inner ? other.inner : other.ip);
  if (!ip) {
    kv('frame', x.kind);
    return lines;
  }
  const side = (v, o, title) => {
    kv(`${title}src`, v.src, o?.src);
    kv(`${title}dst`, v.dst, o?.dst);
    kv(`${title}ttl`, v.ttl, o?.ttl);
    kv(`${title}id`, v.id, o?.id);
    kv(`${title}ip csum`, v.checksum, o?.checksum);
    const l4 = v.l4 || {};
    const ol = o?.l4 || {};
    if (l4.sport !== undefined) {
      kv(
        `${title}${l4.proto}`,
        `${l4.sport} → ${l4.dport}${l4.flags ? ` [${l4.flags}]` : ''}`,
        ol.sport !== undefined
          ? `${ol.sport} → ${ol.dport}${ol.flags ? ` [${ol.flags}]` : ''}`
          : undefined,
      );
      kv(`${title}l4 csum`, l4.checksum, ol.checksum);
    } else if (l4.icmpType !== undefined)
      kv(`${title}ICMP`, `type ${l4.icmpType} code ${l4.icmpCode}`);
    else kv(`${title}proto`, l4.proto);
  };
  if (x.inner) {
    side(ip, undefined, 'outer ');
    side(x.inner, other?.ip, '');
  } else side(ip, oip, '');
  if (x.quoted)
    kv('quotes', `${x.quoted.src}:${x.quoted.l4?.sport} → ${x.quoted.dst}:${x.quoted.l4?.dport}`);
  return lines;
}

function hdrBox(title, x, other) {
  const box = h('div', { class: 'hdr' }, h('div', {}, h('b', {}, title)));
  for (const [k, v, changed] of hdrLines(x, other)) {
    box.append(
      h(
        'div',
        {},
        h('span', { class: 'k' }, `${k.padEnd(12)} `),
        h('span', { class: changed ? 'chg' : '' }, v),
      ),
    );
  }
  return box;
}

function addPacket(e) {
  const key = e.conn || `no connection (${e.outcome})`;
  let conn = connBox.querySelector(`[data-conn="${CSS.escape(key)}"]`);
  if (!conn) {
    conn = h(
      'div',
      { class: 'conn', 'data-conn': key },
      h(
        'h3',
        {},
        e.conn ? `${e.conn}  ·  ${e.service} ${e.scheduler} → ${e.realServer} (${e.method})` : key,
      ),
      h(
        'div',
        { class: 'dirs' },
        h('div', { class: 'dir-in' }, h('h4', {}, 'client → real server')),
        h('div', { class: 'dir-out' }, h('h4', {}, 'real server → client')),
      ),
    );
    connBox.append(conn);
  }
  const toClient = e.direction === 'out' || e.direction === 'icmp-out';
  const col = conn.querySelector(toClient ? '.dir-out' : '.dir-in');
  const sent = e.sent[0];
  col.append(
    h(
      'div',
      { class: `pkt ${e.verdict}`, 'data-direction': e.direction, 'data-outcome': e.outcome },
      h(
        'div',
        { class: 'title' },
        `#${e.seq} ${e.outcome}${e.newConnection ? ' (new connection)' : ''}`,
      ),
      h(
        'ol',
        { class: 'stages' },
        e.stages.map((s) => h('li', {}, h('span', { class: 'st' }, s.stage), s.text)),
      ),
      h(
        'div',
        { class: 'hdrs' },
        hdrBox('as received', e.received),
        sent
          ? hdrBox(
              `as sent${e.sent.length > 1 ? ` (1 of ${e.sent.length})` : ''}`,
              sent,
              e.received,
            )
          : h('div', { class: 'hdr' }, `not sent: ${e.verdict} ${e.outcome}`),
      ),
    ),
  );
}
