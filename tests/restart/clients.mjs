// clients.mjs: the 1,000 SSE clients of tests/restart/run, in one node process
//
// JS_CLIENTS (900) PushClient instances from htdocs/pgpush.js (transport 'sse', each its own
// "browser": shared false) and BARE_CLIENTS (100) spec EventSources (the eventsource package, no
// pgpush.js) that rely only on retry: and Last-Event-ID, spread over the users of TOKENS_FILE
// ("user token" a line). It talks with the runner through files in DIR:
//   it writes  ready       every client streams (its first event came)
//   it reads   sigterm     the SIGTERM's time (ms since the epoch)
//              restarted   when the new push-sse listened on the socket path, just before (ms)
//              numbered    how many checks the runner printed (ours are numbered on)
//              messages    push.message once the publisher is done: "id<tab>recipient<tab>ms"
//                          (recipient empty: a broadcast; ms: created_at), then waits for every client to catch up (CATCHUP_MS)
// and prints the checks as "ok N - ..." / "not ok N - ..." lines, the reconnect histogram and a
// table, then exits (the runner counts the lines).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { EventSource } from 'eventsource';

const env = (k, d) => process.env[k] || d;
const BASE = env('BASE');                          // nginx: http://127.0.0.1:PORT
const DIR = env('DIR');
const JS_CLIENTS = +env('JS_CLIENTS', 900);
const BARE_CLIENTS = +env('BARE_CLIENTS', 100);
const RAMP_PER_S = +env('RAMP_PER_S', 250);         // clients started per second
const READY_MS = +env('READY_MS', 40000);
const CATCHUP_MS = +env('CATCHUP_MS', 20000);
const MAX_SECOND_SHARE = +env('MAX_SECOND_SHARE', 0.40);
const MIN_SPAN_MS = +env('MIN_SPAN_MS', 3000);
const BIN_MS = 500;

// --- what node lacks of a browser page, for pgpush.js: the page's location (the channel key),
// its pagehide listeners, EventSource. Each client is a browser of its own (shared: false), so
// neither BroadcastChannel nor navigator.locks (leader election between tabs) is used.
globalThis.location = new URL(BASE + '/');
const page = new EventTarget();
setMaxListeners(0, page);   // a pagehide listener per client
globalThis.addEventListener = page.addEventListener.bind(page);
globalThis.removeEventListener = page.removeEventListener.bind(page);
if (!('navigator' in globalThis)) globalThis.navigator = {};

// Every EventSource (pgpush.js's and the bare ones) is this one: it tells its owner when it
// opens and what comes on the wire. A pgpush.js stream is found by its URL's ticket, which the
// owner fetched just before (see track_tickets).
const ticketOwner = new Map();
const reasons = new Map();  // pgpush.js's error events, by message
class TrackedEventSource extends EventSource {
  constructor(url, init) {
    super(url, init);
    const ticket = new URL(url).searchParams.get('ticket');
    const owner = this.owner || ticketOwner.get(ticket);
    ticketOwner.delete(ticket);
    if (!owner) throw new Error('an EventSource of no client: ' + url);
    owner.attach(this);
  }
}
globalThis.EventSource = TrackedEventSource;
const { PushClient } = await import(new URL('../../htdocs/pgpush.js', import.meta.url));

const parseCursor = (c) => {
  const m = /^([0-9a-f]+)-([0-9a-f]+)-[0-9a-f]{8}$/.exec(c || '');
  return m ? { p: parseInt(m[1], 16), b: parseInt(m[2], 16) } : null;
};

// --- one client's record
class Client {
  constructor(i, kind, user, token) {
    Object.assign(this, { i, kind, user, token });
    this.start = null;      // the cursor it started from: it must get every message after it
    this.opens = [];        // times its connections opened
    this.firstEvent = null; // time of the first event (it streams)
    this.wire = [];         // message ids as they came on the wire, every connection
    this.wireCursors = [];  // the id: of every event on the wire, parsed
    this.app = [];          // message ids pgpush.js delivered to the page (its 'message' events)
    this.ends = [];         // [time, retry] of every end the server gave (close, reconnect)
    this.errors = 0;
    this.es = null;         // its current EventSource
  }
  attach(es) {
    this.es = es;
    es.addEventListener('open', () => this.opens.push(Date.now()));
    const seen = (e) => {
      if (this.firstEvent === null) this.firstEvent = Date.now();
      const c = parseCursor(e.lastEventId);
      if (c) this.wireCursors.push(c);
      if (this.kind === 'bare' && this.start === null) this.start = c;
    };
    es.addEventListener('unread', seen);
    es.addEventListener('message', (e) => {
      seen(e);
      try { this.wire.push(+JSON.parse(e.data).id); } catch (x) { this.wire.push(NaN); }
    });
    if (this.kind === 'bare') es.addEventListener('error', () => { this.errors++; });
    es.addEventListener('close', () => this.ends.push([Date.now(), 0]));
    es.addEventListener('reconnect', (e) => {
      let retry = NaN;
      try { retry = JSON.parse(e.data).retry; } catch (x) { /* counted as NaN */ }
      this.ends.push([Date.now(), retry]);
    });
  }
  streaming() {
    if (!this.es || this.es.readyState !== 1) return false;
    return this.kind === 'bare' || this.pc.status.status === 'connected';
  }
}

const tokens = readFileSync(env('TOKENS_FILE'), 'utf8').trim().split('\n').map((l) => l.split(' '));
const clients = [];
for (let i = 0; i < JS_CLIENTS + BARE_CLIENTS; i++) {
  const [user, token] = tokens[i % tokens.length];
  clients.push(new Client(i, i < JS_CLIENTS ? 'js' : 'bare', user, token));
}

function startJs(c) {
  const pc = new PushClient({ base: BASE + '/ext', transport: 'sse', shared: false, getToken: () => c.token });
  // track_tickets: the ticket it opens its next stream with names it
  const ticket = pc._ticket.bind(pc);
  pc._ticket = async () => { const t = await ticket(); ticketOwner.set(t, c); return t; };
  pc.on('snapshot', (s) => { c.start = parseCursor(s.cursor); });
  pc.on('message', (m) => c.app.push(+m.id));
  pc.on('error', (e) => { c.errors++; const why = e.message.replace(/[0-9]+/g, 'N'); reasons.set(why, (reasons.get(why) || 0) + 1); });
  c.pc = pc;
  pc.start();
}

function startBare(c) {
  // no Last-Event-ID at first: from now on; the token in the URL, as a page without pgpush.js would
  const Bare = class extends TrackedEventSource { get owner() { return c; } };
  new Bare(BASE + '/ext/push-sse?token=' + encodeURIComponent(c.token));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(cond, ms, step = 100) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(step)) if (cond()) return true;
  return cond();
}
const readNumber = (f) => (existsSync(f) ? +readFileSync(f, 'utf8').trim() : null);

// --- the checks, printed as the harness does, numbered on from the runner's (DIR/numbered)
let n = 0;
const results = [];
function check(cond, desc, why) {
  n++;
  console.log((cond ? 'ok ' : 'not ok ') + n + ' - ' + desc);
  if (!cond && why) console.log('#   ' + why);
  results.push(cond);
}
const groups = [['pgpush.js', (c) => c.kind === 'js'], ['bare EventSource', (c) => c.kind === 'bare']];

// --- 1. connect, ramped
const t0 = Date.now();
const order = [];  // the kinds interleaved, so that both meet the same load
for (let r = 0; r < 10; r++) for (let j = r; j < clients.length; j += 10) order.push(clients[j]);
for (let i = 0; i < order.length; i++) {
  if (order[i].kind === 'js') startJs(order[i]); else startBare(order[i]);
  if (i % 10 === 9) await sleep(10000 / RAMP_PER_S);
}
const allUp = await until(() => clients.every((c) => c.firstEvent !== null && c.start !== null), READY_MS);
const up = clients.filter((c) => c.firstEvent !== null && c.start !== null).length;
console.log(`# ${up} of ${clients.length} clients streaming after ${Date.now() - t0} ms`);
writeFileSync(DIR + '/ready', up + '\n');

// --- 2. the runner publishes, restarts push-sse, publishes, then writes the messages
await until(() => existsSync(DIR + '/messages'), 180000, 200);
n = readNumber(DIR + '/numbered') || 0;
const sigterm = readNumber(DIR + '/sigterm');
const restarted = readNumber(DIR + '/restarted');
const messages = readFileSync(DIR + '/messages', 'utf8').split('\n').filter(Boolean).map((l) => {
  const [id, recipient, at] = l.split('\t');
  return { id: +id, to: recipient || null, at: +at };
});
const recipientOf = new Map(messages.map((m) => [m.id, m.to]));
for (const c of clients) {
  c.expected = c.start ? messages.filter((m) => (m.to === c.user && m.id > c.start.p)
    || (m.to === null && m.id > c.start.b)).map((m) => m.id) : [];
}
const got = (c) => (c.kind === 'js' ? c.app : c.wire);
const tc = Date.now();
await until(() => clients.every((c) => got(c).length >= c.expected.length && c.streaming()), CATCHUP_MS, 200);
console.log(`# caught up ${Date.now() - tc} ms after the publisher ended`);

// --- 3. checks, per kind of client
check(allUp, `all ${clients.length} clients streaming before the restart`, `${up} were`);
check(sigterm && restarted, 'the runner restarted push-sse', 'no sigterm/restarted time');

// what a client received against what PostgreSQL holds for it: ids in order per stream (its own,
// the broadcasts), none missing, none twice, none of anyone else's
function compare(c, ids) {
  const expected = new Set(c.expected);
  const seen = new Set();
  const last = { own: 0, all: 0 };
  const bad = { missing: 0, twice: 0, foreign: 0, order: 0 };
  for (const id of ids) {
    if (seen.has(id)) { bad.twice++; continue; }
    seen.add(id);
    if (!expected.has(id)) { bad.foreign++; continue; }
    const stream = recipientOf.get(id) === null ? 'all' : 'own';
    if (id < last[stream]) bad.order++;
    last[stream] = id;
  }
  for (const id of expected) if (!seen.has(id)) bad.missing++;
  return bad;
}
function cursorsInOrder(c) {
  for (let k = 1; k < c.wireCursors.length; k++) {
    const a = c.wireCursors[k - 1], b = c.wireCursors[k];
    if (b.p < a.p || b.b < a.b) return false;
  }
  return true;
}

const table = [];
const reconnect = (c) => { const t = c.opens.find((o) => o > sigterm); return t === undefined ? null : t - sigterm; };
// what the test is about: messages committed while the clients were away
const lastBack = Math.max(0, ...clients.map(reconnect).filter((t) => t !== null));
const away = messages.filter((m) => m.at > sigterm && m.at <= sigterm + lastBack);
check(away.length > 0, `${away.length} messages (${away.filter((m) => m.to === null).length} broadcasts) were published between the SIGTERM and the last client's return (${lastBack} ms)`);
for (const [name, is] of groups) {
  const cs = clients.filter(is);
  const row = { name, clients: cs.length };
  table.push(row);

  const back = cs.filter((c) => c.opens.some((o) => o > restarted) && c.streaming());
  row.streaming = back.length;
  check(back.length === cs.length, `${name}: every client (${cs.length}) streams again from the new push-sse`,
    `${cs.length - back.length} do not: ` + cs.filter((c) => !back.includes(c)).slice(0, 5)
      .map((c) => `#${c.i} ${c.user} opens ${c.opens.length}, last ${c.opens.length ? c.opens[c.opens.length - 1] - sigterm : '-'} ms, readyState ${c.es && c.es.readyState}, errors ${c.errors}`).join('; '));

  const total = cs.reduce((s, c) => s + c.expected.length, 0);
  row.expected = total;
  check(cs.every((c) => c.expected.length > 0) && total > 0, `${name}: each client has messages to receive (${total} in all)`);
  const levels = name === 'pgpush.js' ? [['the page got', (c) => c.app], ['on the wire', (c) => c.wire]] : [['on the wire', (c) => c.wire]];
  for (const [what, ids] of levels) {
    const sum = { missing: 0, twice: 0, foreign: 0, order: 0 };
    let wrong = 0, first = '';
    for (const c of cs) {
      const bad = compare(c, ids(c));
      for (const k in sum) sum[k] += bad[k];
      if (bad.missing || bad.twice || bad.foreign || bad.order) {
        if (!wrong) first = `#${c.i} ${c.user}: ${JSON.stringify(bad)} of ${c.expected.length}`;
        wrong++;
      }
    }
    row[what === 'on the wire' ? 'wire' : 'page'] = `${sum.missing}/${sum.twice}/${sum.foreign}/${sum.order}`;
    check(wrong === 0, `${name}: ${what} exactly each client's messages (its user's and the broadcasts), in cursor order: none missing, none twice, none foreign`,
      `${wrong} clients wrong; missing ${sum.missing}, twice ${sum.twice}, foreign ${sum.foreign}, out of order ${sum.order}; first: ${first}`);
  }
  const unordered = cs.filter((c) => !cursorsInOrder(c)).length;
  check(unordered === 0, `${name}: the event ids (cursors) on the wire never go back`, `${unordered} clients saw one go back`);

  // the reconnect times: each client's first new connection after the SIGTERM
  const times = cs.map(reconnect).filter((t) => t !== null).sort((a, b) => a - b);
  row.back = times.length;
  if (!times.length) { check(false, `${name}: reconnect times spread`, 'no client reconnected'); continue; }
  const bins = [];
  for (const t of times) { const b = Math.floor(t / BIN_MS); bins[b] = (bins[b] || 0) + 1; }
  console.log(`# ${name}: reconnections after the SIGTERM, per ${BIN_MS} ms (${times.length} clients)`);
  for (let b = 0; b < bins.length; b++) {
    const k = bins[b] || 0;
    console.log(`#   ${String(b * BIN_MS).padStart(6)}-${String((b + 1) * BIN_MS).padEnd(6)} ms ${String(k).padStart(4)} ${'#'.repeat(Math.ceil((k * 60) / cs.length))}`);
  }
  // how the server ended the streams, and how long a client took past the time it was given
  const told = cs.map((c) => c.ends.find(([t]) => t > sigterm)).filter(Boolean);
  const late = cs.map((c) => {
    const e = c.ends.find(([t]) => t > sigterm), o = c.opens.find((t) => t > sigterm);
    return e && o ? o - e[0] - (e[1] || 0) : null;
  }).filter((t) => t !== null).sort((x, y) => x - y);
  const retries = told.map(([, r]) => r).filter((r) => r > 0);
  console.log(`# ${name}: ${told.length} streams ended by the server after the SIGTERM`
    + (told.length ? `, within ${Math.max(...told.map(([t]) => t)) - sigterm} ms of it` : ' (they were cut)')
    + `; ${retries.length} given a time to come back` + (retries.length ? ` (${Math.min(...retries)}-${Math.max(...retries)} ms)` : '')
    + (late.length ? `; new connection past that time: median ${late[Math.floor(late.length / 2)]} ms, max ${late[late.length - 1]} ms` : ''));
  // the fullest second, a window sliding by half a second
  let most = 0, at = 0;
  for (let b = 0; b < bins.length; b++) {
    const k = (bins[b] || 0) + (bins[b + 1] || 0);
    if (k > most) { most = k; at = b * BIN_MS; }
  }
  const share = most / cs.length;
  const span = times[times.length - 1] - times[0];
  const median = times[Math.floor(times.length / 2)];
  Object.assign(row, { first_ms: times[0], median_ms: median, last_ms: times[times.length - 1], max_second: `${Math.round(share * 100)}%` });
  check(share <= MAX_SECOND_SHARE, `${name}: no second holds more than ${MAX_SECOND_SHARE * 100}% of the reconnections (fullest: ${most} of ${cs.length} in ${at}-${at + 1000} ms)`);
  check(span >= MIN_SPAN_MS, `${name}: the reconnections span at least ${MIN_SPAN_MS} ms (${times[0]} to ${times[times.length - 1]} ms after the SIGTERM)`);
}

console.log('# kind              clients  streaming  back  first  median  last  fullest-s  expected  missing/twice/foreign/out-of-order');
for (const r of table) {
  console.log(`# ${r.name.padEnd(17)} ${String(r.clients).padStart(7)} ${String(r.streaming).padStart(10)} ${String(r.back).padStart(5)} ${String(r.first_ms ?? '-').padStart(6)} ${String(r.median_ms ?? '-').padStart(7)} ${String(r.last_ms ?? '-').padStart(5)} ${String(r.max_second ?? '-').padStart(10)} ${String(r.expected).padStart(9)}  ${r.page ? 'page ' + r.page + ', ' : ''}wire ${r.wire}`);
}
const errs = groups.map(([name, is]) => `${name} ${clients.filter(is).reduce((s, c) => s + c.errors, 0)}`).join(', ');
console.log(`# error events (a bare EventSource fires one at each reconnect; pgpush.js: a failed connection): ${errs}; node peak memory ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
for (const [why, k] of reasons) console.log(`#   pgpush.js: ${k} x ${why}`);

for (const c of clients) { if (c.pc) c.pc.stop(); else if (c.es) c.es.close(); }
process.exit(results.every(Boolean) ? 0 : 1);
