// test.mjs: pgpush browser tests: the demo page and pgpush.js in Debian's headless Chromium (playwright-core)
//
// Run by tests/browser/run, which starts PostgreSQL and lighttpd and sets BASE (the server), TOP (the
// source tree), SCREENSHOT (where the demo page's picture goes) and the PG* variables. Prints
// TAP-like lines; the runner counts them.
import { chromium } from 'playwright-core';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';

const BASE = process.env.BASE;
const TOP = process.env.TOP;
const POLL_MS = 2000;                      // PushClient's default pollInterval
let n = 0;
let failures = 0;

function ok(cond, desc, detail) {
  n++;
  if (cond) console.log(`ok ${n} - ${desc}`);
  else {
    failures++;
    console.log(`not ok ${n} - ${desc}`);
    if (detail !== undefined) console.log(`#   ${String(detail).replace(/\n/g, '\n#   ')}`);
  }
  return cond;
}

// SQL through psql; values go in as psql variables (:'v1', ...), never spliced into the text
function sql(text, vars = {}) {
  const args = ['-qAtX', '-v', 'ON_ERROR_STOP=1'];
  for (const [k, v] of Object.entries(vars)) args.push('-v', `${k}=${v}`);
  const r = spawnSync('psql', args, { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}
const send = (recipient, title, body = '') =>
  sql(recipient ? "INSERT INTO push.message (recipient, title, body) VALUES (:'r', :'t', :'b')"
    : "INSERT INTO push.message (recipient, title, body) VALUES (NULL, :'t', :'b')", { r: recipient || '', t: title, b: body });

function pgcluster(cmd) {
  const r = spawnSync(path.join(TOP, 'tests/lib/pgcluster'), [cmd, path.dirname(process.env.PGDATA)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pgcluster ${cmd} failed: ${r.stderr}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// a token as README "Token format" mints it, good for ttl seconds; every one minted is remembered,
// so that the runner can check none of them reached the access log
const TOKENS_FILE = process.env.TOKENS_FILE;
function mint(user, ttl) {
  const p = `v1.${Buffer.from(user).toString('base64url')}.${Math.floor(Date.now() / 1000) + ttl}`;
  const t = `${p}.${crypto.createHmac('sha256', process.env.PUSH_TOKEN_SECRET).update(p).digest('hex')}`;
  if (TOKENS_FILE) fs.appendFileSync(TOKENS_FILE, t + '\n');
  return t;
}

// --- page helpers
const badge = (page) => page.evaluate(() => Number(document.getElementById('badge').dataset.count || 0));
const countTitle = (page, title) => page.evaluate((t) =>
  [...document.querySelectorAll('#list li[data-id] .title')].filter((e) => e.textContent === t).length, title);

async function connected(page, transport, timeout = 15000) {
  try {
    await page.waitForFunction((t) => {
      const s = document.getElementById('state');
      return s.dataset.status === 'connected' && (!t || s.dataset.transport === t);
    }, transport, { timeout, polling: 50 });
    return true;
  } catch (e) {
    return false;
  }
}
async function waitFor(page, fn, arg, timeout) {
  const t0 = Date.now();
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 20 });
    return Date.now() - t0;
  } catch (e) {
    return null;
  }
}
const shows = (page, title, timeout) => waitFor(page, (t) =>
  [...document.querySelectorAll('#list li[data-id] .title')].some((e) => e.textContent === t), title, timeout);
const badgeIs = (page, v, timeout) => waitFor(page, (x) => document.getElementById('badge').dataset.count === String(x), v, timeout);
const stateOf = (page) => page.evaluate(() => ({ ...document.getElementById('state').dataset }));

async function open(context, query) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
  await page.goto(`${BASE}/?${query}`);
  return page;
}

// the streaming requests of a browser context that are open now
function trackStreams(context) {
  const open = new Set();
  let started = 0;
  const streaming = (req) => /\/cgi-bin\/push-(sse|longpoll|iframe)\b/.test(req.url());
  context.on('request', (req) => { if (streaming(req)) { open.add(req); started++; } });
  // WebSockets are not requests: each page reports its own
  context.on('page', (page) => page.on('websocket', (ws) => {
    if (!/\/cgi-bin\/push-ws\b/.test(ws.url())) return;
    open.add(ws);
    started++;
    ws.on('close', () => open.delete(ws));
    page.on('close', () => open.delete(ws));
  }));
  context.on('requestfinished', (req) => open.delete(req));
  context.on('requestfailed', (req) => open.delete(req));
  // a closed tab's requests end without an event
  context.on('page', (page) => page.on('close', () => {
    for (const req of open) {
      let owner = null;
      if (typeof req.frame !== 'function') continue;   // a WebSocket: handled above
      try { owner = req.frame().page(); } catch (e) { /* frame gone */ }
      if (!owner || owner === page) open.delete(req);
    }
  }));
  return { open, started: () => started };
}

const XSS = '<img src=x onerror=window.__xss=1></script><script>window.__xss=1</script><!-- \u2028 "q" \'s\' \\ \\u0041 ${x} \u2029 é 🔔';
const XSS_BODY = 'body: <b>bold</b> <svg onload=window.__xss=1> </script><script>window.__xss=1</script> <!-- -->\n"\\" \u2028end';

async function transportSuite(browser, t) {
  console.log(`# --- transport ${t} (forced)`);
  const limit = t === 'poll' ? POLL_MS + 1000 : 1000;
  const context = await browser.newContext();
  const p1 = await open(context, `user=alice&transport=${t}`);
  ok(await connected(p1, t), `${t}: the page loads and connects`, JSON.stringify(await stateOf(p1)));
  const before = await badge(p1);
  const title = `live ${t} ${Date.now()}`;
  send('alice', title, 'inserted by SQL');
  const ms = await shows(p1, title, limit + 4000);
  ok(ms !== null && ms <= limit, `${t}: a message INSERTed by SQL appears within ${limit} ms${t === 'poll' ? ' (poll interval 2 s + 1 s)' : ''}`, `took ${ms} ms`);
  const bms = await badgeIs(p1, before + 1, limit);
  ok(bms !== null, `${t}: the badge goes up by one`, `badge ${await badge(p1)}, expected ${before + 1}`);

  // a second tab: marking read in one lowers the badge in the other
  const p2 = await open(context, `user=alice&transport=${t}`);
  ok(await connected(p2, t), `${t}: a second tab connects (through the first tab's stream)`, JSON.stringify(await stateOf(p2)));
  ok(await shows(p2, title, 3000) !== null, `${t}: the second tab shows the message`);
  const count = await badge(p1);
  let posts = 0;
  context.on('request', (r) => { if (r.method() === 'POST' && /\/cgi-bin\/push-poll/.test(r.url())) posts++; });
  await p1.locator('#list li[data-id].unread', { hasText: title }).first().click();
  const d2 = await badgeIs(p2, count - 1, limit + 2000);
  ok(d2 !== null, `${t}: marking read in tab 1 lowers the badge in tab 2`, `tab 2 badge ${await badge(p2)}, expected ${count - 1}`);
  ok(await badgeIs(p1, count - 1, 2000) !== null, `${t}: and in tab 1`);
  if (t === 'ws') ok(posts === 0, 'ws: the leader tab marked read over its socket, not with a POST', `${posts} POSTs`);
  ok(await waitFor(p2, (tt) => [...document.querySelectorAll('#list li.read .title')].some((e) => e.textContent === tt), title, 3000) !== null,
    `${t}: tab 2 shows the message as read`);

  // an XSS payload shows as plain text, byte for byte, in both tabs
  send('alice', XSS, XSS_BODY);
  for (const [name, p] of [['tab 1', p1], ['tab 2', p2]]) {
    const shown = await shows(p, XSS, limit + 3000);
    const got = await p.evaluate((x) => {
      const li = [...document.querySelectorAll('#list li[data-id]')].find((l) => l.querySelector('.title').textContent === x);
      return li ? { title: li.querySelector('.title').textContent, body: li.querySelector('.body').textContent,
        elements: li.querySelectorAll('img, script, svg, b').length } : null;
    }, XSS);
    ok(shown !== null && got && got.title === XSS && got.body === XSS_BODY && got.elements === 0,
      `${t}: an XSS title and body show as text, byte for byte (${name})`, JSON.stringify(got));
    ok(await p.evaluate(() => window.__xss === undefined), `${t}: window.__xss stays undefined (${name})`);
  }

  // an edit, a retraction and an expiry while connected: the list and the badge right after each,
  // in both tabs (the second takes them through the first one's stream)
  const stamp = Date.now();
  const eid = sql("INSERT INTO push.message (recipient, title) VALUES ('alice', :'t') RETURNING id", { t: `edit me ${t} ${stamp}` });
  for (const p of [p1, p2]) await shows(p, `edit me ${t} ${stamp}`, limit + 3000);
  const b0 = await badge(p1);
  sql("SELECT push.edit(:'i'::bigint, title => :'t')", { i: eid, t: `edited ${t} ${stamp}` });
  for (const [name, p] of [['tab 1', p1], ['tab 2', p2]]) {
    const ems = await shows(p, `edited ${t} ${stamp}`, limit + 3000);
    ok(ems !== null && await countTitle(p, `edit me ${t} ${stamp}`) === 0 && await countTitle(p, `edited ${t} ${stamp}`) === 1,
      `${t}: an edit replaces the message in the list, in its place (${name}, ${ems} ms)`);
    ok(await badgeIs(p, b0, 1000) !== null, `${t}: ... the badge unchanged (${name})`, `badge ${await badge(p)}, expected ${b0}`);
  }
  sql("SELECT push.retract(:'i'::bigint)", { i: eid });
  for (const [name, p] of [['tab 1', p1], ['tab 2', p2]]) {
    const gone = await waitFor(p, (x) => ![...document.querySelectorAll('#list li[data-id] .title')].some((e) => e.textContent === x),
      `edited ${t} ${stamp}`, limit + 3000);
    ok(gone !== null, `${t}: a retraction takes the message off the list (${name})`);
    ok(await badgeIs(p, b0 - 1, limit) !== null, `${t}: ... and the badge goes down by one (${name})`, `badge ${await badge(p)}, expected ${b0 - 1}`);
  }
  sql("INSERT INTO push.message (recipient, title, expires_at) VALUES ('alice', :'t', now() + interval '2 s')", { t: `expiring ${t} ${stamp}` });
  ok(await shows(p1, `expiring ${t} ${stamp}`, limit + 3000) !== null && await badgeIs(p1, b0, limit) !== null,
    `${t}: a message with an expiry shows, and counts`, `badge ${await badge(p1)}, expected ${b0}`);
  const xgone = await waitFor(p1, (x) => ![...document.querySelectorAll('#list li[data-id] .title')].some((e) => e.textContent === x),
    `expiring ${t} ${stamp}`, limit + 5000);
  ok(xgone !== null && await badgeIs(p1, b0 - 1, limit) !== null, `${t}: at its expiry it leaves the list and the badge`,
    `badge ${await badge(p1)}, expected ${b0 - 1}`);

  // PostgreSQL restarted: messages before, around and after all shown exactly once, an edit among them
  const tag = `${t}-${Date.now()}`;
  const titles = [`before 1 ${tag}`, `before 2 ${tag}`, `at the stop ${tag}`, `after 1 ${tag}`, `after 2 ${tag}`];
  send('alice', titles[0]);
  send('alice', titles[1]);
  await sleep(300);
  send('alice', titles[2]);
  pgcluster('stop');
  await sleep(1500);
  pgcluster('start');
  send('alice', titles[3]);
  send(null, titles[4]);
  // titles[1] edited to itself and something more: the list shows it once, as it is now
  sql("UPDATE push.message SET body = 'edited after the restart' WHERE title = :'t'", { t: titles[1] });
  for (const [name, p] of [['tab 1', p1], ['tab 2', p2]]) {
    await waitFor(p, (ts) => ts.every((x) => [...document.querySelectorAll('#list li[data-id] .title')].some((e) => e.textContent === x)), titles, 25000);
    await sleep(t === 'poll' ? POLL_MS + 500 : 700);   // time for any duplicate to show up
    const counts = [];
    for (const x of titles) counts.push(await countTitle(p, x));
    ok(counts.every((c) => c === 1), `${t}: across a PostgreSQL restart every message shows exactly once (${name})`, `counts ${counts.join(',')}`);
  }
  const ids = await p1.evaluate(() => [...document.querySelectorAll('#list li[data-id]')].map((l) => l.dataset.id));
  ok(ids.length === new Set(ids).size && ids.length > 0, `${t}: no message id twice in the list`, ids.join(','));
  ok(await connected(p1, t, 10000), `${t}: connected again after the restart, still on ${t}`, JSON.stringify(await stateOf(p1)));
  await context.close();
}

// A stream crosses its token's expiry: getToken hands out tokens good for 3 s; messages sent every
// 400 ms for 8 s all arrive once, the stream reopened with a fresh token before PUSH_LIFETIME
// (20 s), and no URL carried a token (the streams a ticket, the rest Authorization: Bearer).
async function tokenExpiry(browser, t) {
  console.log(`# --- token expiry: ${t} with getToken`);
  const user = `exp-${t}-${Date.now() % 100000}`;
  const context = await browser.newContext();
  const urls = [];
  let streams = 0, expired401 = 0, ws4401 = 0, minted = 0;
  const tokens = [];
  context.on('request', (r) => {
    urls.push(r.url());
    if (new RegExp(`/cgi-bin/push-${t}\\b`).test(r.url())) streams++;
  });
  context.on('response', (r) => { if (/push-longpoll/.test(r.url()) && r.status() === 401) expired401++; });
  const p = await context.newPage();
  p.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
  p.on('websocket', (ws) => {
    urls.push(ws.url());
    streams++;
    ws.on('framereceived', (f) => { if (/"close"/.test(String(f.payload))) ws4401 += /token expired/.test(String(f.payload)) ? 1 : 0; });
  });
  await p.exposeFunction('mintToken', () => { minted++; const k = mint(user, 3); tokens.push(k); return k; });
  await p.goto(`${BASE}/pgpush.classic.js`);
  await p.setContent('<!doctype html><body></body>');
  await p.addScriptTag({ url: `${BASE}/pgpush.classic.js` });
  await p.evaluate((tr) => {
    window.got = [];
    window.states = [];
    const c = new window.PushClient({ transport: tr, shared: false, getToken: () => window.mintToken() });
    c.on('message', (m) => window.got.push(m.title));
    c.on('state', (st) => window.states.push(st.status + ':' + st.transport));
    window.client = c;
    c.start();
  }, t);
  const up = await waitFor(p, (tr) => window.states.includes('connected:' + tr), t, 10000);
  ok(up !== null, `${t}: connects with a token from getToken`, JSON.stringify(await p.evaluate(() => window.states)));
  const titles = [];
  for (let i = 0; i < 20; i++) {
    titles.push(`across the expiry ${t} ${i}`);
    send(user, titles[i]);
    await sleep(400);
  }
  await waitFor(p, (ts) => ts.every((x) => window.got.includes(x)), titles, 8000);
  await sleep(700);
  const got = await p.evaluate(() => window.got);
  const counts = titles.map((x) => got.filter((g) => g === x).length);
  ok(counts.every((c) => c === 1), `${t}: across the token's expiry every message arrives exactly once`, `counts ${counts.join(',')}`);
  ok(minted >= 3 && streams >= 2, `${t}: the stream reopened with a fresh token from getToken (${minted} tokens, ${streams} streams in 8 s, lifetime 20 s)`);
  if (t === 'longpoll') ok(expired401 >= 1, 'longpoll: the held poll ended 401 token_expired, and the client asked getToken', `${expired401} 401s`);
  if (t === 'ws') ok(ws4401 >= 1, 'ws: the socket closed at the expiry (4401, "token expired")', `${ws4401}`);
  const leaked = urls.filter((u) => tokens.some((k) => u.includes(k)) || /[?&]token=/.test(u));
  ok(leaked.length === 0, `${t}: no URL carried a token`, leaked.join('\n'));
  if (t !== 'longpoll') {
    ok(urls.some((u) => new RegExp(`push-${t}\\?.*ticket=t1\\.`).test(u)), `${t}: the stream opened with a stream ticket`, urls.filter((u) => /push-/.test(u)).join('\n'));
  }
  await p.evaluate(() => window.client.stop());
  await context.close();
}

// params.token, as pages had it: short polling and marking read send it as a header, not in the URL
async function tokenParam(browser) {
  console.log('# --- params.token: Authorization header, never the URL');
  const context = await browser.newContext();
  const urls = [];
  context.on('request', (r) => urls.push(r.url() + ' ' + (r.headers().authorization ? 'auth' : '')));
  const p = await context.newPage();
  await p.goto(`${BASE}/pgpush.classic.js`);
  await p.setContent('<!doctype html><body></body>');
  await p.addScriptTag({ url: `${BASE}/pgpush.classic.js` });
  const token = mint('erin', 600);
  send('erin', 'for erin');
  const r = await p.evaluate(async (tk) => {
    const c = new window.PushClient({ params: { token: tk }, transport: 'poll', shared: false });
    const s = await c.state();
    const m = s.messages.find((x) => x.title === 'for erin');
    await c.markRead(m.id);
    return s.user;
  }, token);
  ok(r === 'erin', 'params.token still identifies the user', r);
  const polls = urls.filter((u) => /push-poll/.test(u));
  ok(polls.length >= 2 && polls.every((u) => !u.includes(token) && u.endsWith(' auth')),
    'push-poll GET and the mark POST send the token as Authorization: Bearer, not in the URL', polls.join('\n'));
  await context.close();
}

// the demo page sends the user's token only to its own origin: ?base= and ?mqtt= elsewhere are ignored
async function demoForeignBase(browser) {
  console.log('# --- the demo page: ?base= and ?mqtt= of another origin');
  const context = await browser.newContext();
  const foreign = [];
  await context.route((url) => url.hostname === 'evil.example', (route) => { foreign.push(route.request().url()); route.abort(); });
  const sockets = [];
  context.on('page', (pg) => pg.on('websocket', (ws) => sockets.push(ws.url())));
  const token = mint('alice', 600);
  let p = await open(context, `transport=poll&base=${encodeURIComponent('http://evil.example/cgi-bin')}#token=${token}`);
  ok(await connected(p, 'poll'), 'with ?base= of another origin the page still connects, to its own /cgi-bin', JSON.stringify(await stateOf(p)));
  ok(foreign.length === 0, 'and sends nothing to the other origin', foreign.join(' '));
  ok(/Ignored \?base=/.test(await p.textContent('#notice')) && await p.isVisible('#notice'), 'it says so on the page', await p.textContent('#notice'));
  await p.close();
  p = await open(context, `transport=poll&base=${encodeURIComponent('//evil.example/cgi-bin')}#token=${token}`);
  ok(await connected(p, 'poll') && foreign.length === 0, 'a protocol-relative ?base= is refused too', foreign.join(' '));
  await p.close();
  p = await open(context, `transport=poll&base=${encodeURIComponent(BASE + '/cgi-bin')}#token=${token}`);
  ok(await connected(p, 'poll') && await p.isHidden('#notice'), 'a ?base= of the page\'s own origin is taken', await p.textContent('#notice'));
  await p.close();
  p = await open(context, `user=alice&transport=mqtt&mqtt=${encodeURIComponent('ws://evil.example:9001/mqtt')}`);
  await connected(p, null);
  await sleep(500);
  ok(!sockets.some((u) => /evil\.example/.test(u)) && foreign.length === 0, 'an ?mqtt= broker on another host gets no connection', sockets.join(' '));
  ok(/Ignored \?mqtt=/.test(await p.textContent('#notice')), 'and the page says so', await p.textContent('#notice'));
  await context.close();
}

// --- Web Push: the service worker pgpush-sw.js and client.webPush. Chromium here reaches no push
// service (no FCM), so pushes come through CDP (ServiceWorker.deliverPushMessage); the page's
// {"webpush": ...} POSTs and the worker's marks go to push-poll, which has push-webpush's key.

// a page of the origin running pgpush.js that calls webPush.enable() at load (no user gesture) and
// from its button (one); what the client emits is logged
const WEBPUSH_PAGE = `<!doctype html><meta charset="utf-8"><title>web push test</title><button id="on" type="button">on</button>
<script type="module">
import { PushClient } from '/pgpush.js';
const user = new URLSearchParams(location.search).get('user');
const c = new PushClient({ params: { user }, transport: 'poll', shared: false, subscribeTimeout: 3000 });
window.c = c;
window.log = [];
for (const type of ['unread', 'opened']) c.on(type, (v) => window.log.push([type, v]));
c.start();
window.atLoad = c.webPush.enable().then((st) => 'resolved ' + st, (e) => e.message);
document.getElementById('on').addEventListener('click', () => {
  window.clicked = c.webPush.enable().then((st) => 'resolved ' + st, (e) => e.message);
});
</script>`;

function webPushPayload(id, title, body, unread, more = {}) {
  return JSON.stringify({
    v: 1, type: 'message',
    message: { id: String(id), cursor: 'c', kind: 'notice', title, body, data: null, link: null,
      created_at: new Date().toISOString(), read: false, broadcast: false, ...more },
    unread: unread || { total: 1, by_kind: { notice: 1 } },
  });
}

// the test page, served by a route; every {"webpush": ...} POST the pages send is recorded on its way to
// push-poll (which answers them itself, with push-webpush's key: tests/browser/run runs it)
async function webPushRoute(context) {
  const r = { posts: [] };
  await context.route((url) => url.pathname === '/webpush-test.html', (route) =>
    route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: WEBPUSH_PAGE }));
  context.on('request', async (req) => {
    if (req.method() !== 'POST' || new URL(req.url()).pathname !== '/cgi-bin/push-poll') return;
    let body = null;
    try { body = JSON.parse(req.postData()); } catch (e) { body = null; }
    if (body && body.webpush) r.posts.push({ body, url: req.url(), headers: await req.allHeaders() });
  });
  return r;
}

async function webPush(browser) {
  console.log('# --- Web Push: pgpush-sw.js and client.webPush (pushes through CDP)');
  const user = `wp-${Date.now() % 100000}`;
  const context = await browser.newContext();
  await context.grantPermissions(['notifications'], { origin: BASE });
  const route = await webPushRoute(context);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
  await page.goto(`${BASE}/pgpush.classic.js`);
  const cdp = await context.newCDPSession(page);
  let regId = null;
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
    for (const r of e.registrations) if (r.scopeURL === `${BASE}/` && !r.isDeleted) regId = r.registrationId;
  });
  await cdp.send('ServiceWorker.enable');
  const poll = `${BASE}/cgi-bin/push-poll?user=${user}`;
  await page.evaluate(async ([p, icon]) => {
    await navigator.serviceWorker.register(`/pgpush-sw.js?poll=${encodeURIComponent(p)}&icon=${encodeURIComponent(icon)}`, { scope: '/' });
    await navigator.serviceWorker.ready;
  }, [poll, `${BASE}/icon.png`]);
  for (let i = 0; i < 50 && regId === null; i++) await sleep(100);
  ok(regId !== null, 'pgpush-sw.js registers, and CDP names its registration');
  const push = (data) => cdp.send('ServiceWorker.deliverPushMessage', { origin: BASE, registrationId: regId, data });
  // the notifications shown, asked of the worker itself (a page of the origin would be visible)
  const shown = async () => {
    const sw = context.serviceWorkers().at(-1) || await context.waitForEvent('serviceworker', { timeout: 5000 });
    return sw.evaluate(async () => (await self.registration.getNotifications()).map((n) =>
      ({ title: n.title, body: n.body, tag: n.tag, icon: n.icon, data: n.data })));
  };
  const closeAll = async () => (context.serviceWorkers().at(-1)).evaluate(async () => {
    for (const n of await self.registration.getNotifications()) n.close();
  });
  const until = async (pred, ms = 3000) => {
    let v = [];
    for (const t0 = Date.now(); Date.now() - t0 < ms; await sleep(50)) if (pred(v = await shown())) break;
    return v;
  };

  // no page of the origin open (headless shows every tab as visible and focused: only
  // about:blank is left); the message is a real one, for the click below
  await page.goto('about:blank');
  const id = sql("INSERT INTO push.message (recipient, title, body) VALUES (:'u', 'wp title', 'wp body') RETURNING id", { u: user });
  await push(webPushPayload(id, 'wp title', 'wp body'));
  let notes = await until((ns) => ns.length > 0);
  ok(notes.length === 1 && notes[0].title === 'wp title' && notes[0].body === 'wp body' && notes[0].tag === `pgpush-${id}`
    && notes[0].data && notes[0].data.id === id && notes[0].icon === `${BASE}/icon.png`,
    'no page of the site open: a push shows a notification (title, body, tag pgpush-<id>, data.id, the ?icon=)', JSON.stringify(notes));
  await push(webPushPayload(id, 'wp title', 'wp body again'));
  notes = await until((ns) => ns.some((x) => x.body === 'wp body again'));
  ok(notes.length === 1 && notes[0].body === 'wp body again', 'the same message pushed again replaces its notification, no second one',
    JSON.stringify(notes));
  const keep = notes;
  await push('{"v": 1, "type": "message", "message": {');
  notes = await until((ns) => ns.length > 1);
  ok(notes.length === 2 && notes.some((x) => x.tag === 'pgpush-generic' && x.title === 'New notification'),
    'a malformed payload still shows a (generic) notification', JSON.stringify(notes));
  await closeAll();
  await push(JSON.stringify({ v: 2, type: 'message', message: { id: '7', title: 'from the future' } }));
  notes = await until((ns) => ns.length > 0);
  ok(notes.length === 1 && notes[0].tag === 'pgpush-generic', 'so does a payload of a later version (v 2)', JSON.stringify(notes));
  await closeAll();
  await push(webPushPayload(id, 'wp title', 'wp body'));
  await until((ns) => ns.length > 0);

  // notifications with links, shown while no page is visible, clicked below
  const leads = [['https://example.org/p/1?x=1', 'https://example.org/p/1?x=1'], ['/inbox?m=2', `${BASE}/inbox?m=2`],
    ['javascript:alert(1)', `${BASE}/`], ['data:text/html,<script>alert(1)</script>', `${BASE}/`],
    ['http://evil.example/x', `${BASE}/`], [null, `${BASE}/`]];
  for (let k = 0; k < leads.length; k++) {
    const lid = String(Number(id) + 500000 + k);
    await push(webPushPayload(lid, 'lead ' + k, '', null, { link: leads[k][0] }));
    await until((ns) => ns.some((x) => x.tag === `pgpush-${lid}`));
  }

  // a click: no CDP command clicks a notification, so the worker dispatches a NotificationEvent
  // itself. Untrusted: waitUntil throws and focus()/openWindow() are refused (they need a real
  // click); the mark and the message to the pages still happen, and are checked
  const tp = await context.newPage();
  tp.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
  await tp.goto(`${BASE}/webpush-test.html?user=${user}`);
  await tp.waitForFunction(() => window.c && window.c.status.status === 'connected', null, { timeout: 10000 });
  const clicked = await context.serviceWorkers().at(-1).evaluate(async (tag) => {
    const [n] = await self.registration.getNotifications({ tag });
    if (!n) return false;
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    return true;
  }, `pgpush-${id}`);
  let read = '0';
  for (let i = 0; i < 60 && read === '0'; i++, await sleep(50)) {
    read = sql("SELECT count(*) FROM push.message_read WHERE recipient = :'u' AND message_id = :'i'", { u: user, i: id });
  }
  ok(clicked && read === '1', 'a click on the notification marks the message read (push-poll POST {"mark": "one"} from the worker)', `read rows ${read}`);
  ok(await waitFor(tp, (x) => window.log.some(([t, v]) => t === 'opened' && v.id === x), id, 3000) !== null,
    'and the page\'s client emits \'opened\' with its id', JSON.stringify(await tp.evaluate(() => window.log)));
  notes = await shown();
  ok(!notes.some((x) => x.tag === `pgpush-${id}`), 'the clicked notification is closed', JSON.stringify(notes));
  // where a click leads (the worker focuses or opens it; here only told, the event being untrusted):
  // the message's link when it is of the site or https, never a javascript: or data: URL
  for (let k = 0; k < leads.length; k++) {
    const [link, want] = leads[k];
    const lid = String(Number(id) + 500000 + k);
    await context.serviceWorkers().at(-1).evaluate(async (tag) => {
      const [n] = await self.registration.getNotifications({ tag });
      if (n) self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    }, `pgpush-${lid}`);
    await waitFor(tp, (x) => window.log.some(([t, v]) => t === 'opened' && v.id === x), lid, 3000);
    const got = await tp.evaluate((x) => (window.log.find(([t, v]) => t === 'opened' && v.id === x) || [])[1], lid);
    ok(got && got.url === want, `a click on a message linking ${link} leads to ${want}`, JSON.stringify(got) || 'no opened event');
  }

  // a page of the site visible: no notification, the counts go to the page (the demo page's badge)
  const demo = await open(context, `user=${user}&transport=sse`);
  ok(await connected(demo, 'sse'), 'the demo page connects (for the visible-page push)');
  await demo.evaluate(() => { window.unreads = []; window.pgpushClient.on('unread', (u) => window.unreads.push(u)); });
  const id2 = String(Number(id) + 1000000);
  await push(webPushPayload(id2, 'not over a visible page', '', { total: 42, by_kind: { comment: 40, notice: 2 } }));
  ok(await badgeIs(demo, 42, 3000) !== null, 'with a page of the site visible, a push\'s counts reach the page: the badge shows 42',
    `badge ${await badge(demo)}`);
  const u = await demo.evaluate(() => window.unreads);
  ok(u.some((x) => x.total === 42 && x.by_kind.comment === 40 && x.by_kind.notice === 2), 'the client emitted \'unread\' with the push\'s counts',
    JSON.stringify(u));
  await sleep(300);
  notes = await shown();
  ok(!notes.some((x) => x.tag === `pgpush-${id2}`), 'and no notification is shown over the visible page', JSON.stringify(notes));
  ok(await countTitle(demo, 'not over a visible page') === 0 && await demo.evaluate((x) => !document.querySelector(`#list li[data-id="${x}"]`), id2),
    'the page lists only what its own stream brought (the push added no message)');

  // enable(): refused without a user gesture; from a click it gets the permission and the key,
  // and the subscription fails here (no push service): the error says so, and nothing hangs
  ok(/user gesture/.test(await tp.evaluate(() => window.atLoad)), 'enable() outside a user gesture rejects, saying why',
    await tp.evaluate(() => window.atLoad));
  ok(route.posts.length === 0, 'and asked push-poll nothing', JSON.stringify(route.posts));
  ok(await tp.evaluate(() => window.c.webPush.state()) === 'disabled', 'state() answers \'disabled\'');
  await tp.click('#on');
  const why = await tp.evaluate(() => window.clicked);
  ok(/push service refused to subscribe: AbortError: Registration failed/.test(why),
    'enable() from a click gets as far as subscribing, and rejects with the push service\'s error', why);
  const keyPost = route.posts.find((x) => x.body.webpush === 'key');
  ok(keyPost && keyPost.headers['content-type'] === 'application/json' && new URL(keyPost.url).searchParams.get('user') === user,
    'it asked push-poll for the key as marks are sent (JSON, the page\'s ?user=)', JSON.stringify(route.posts));
  ok(!route.posts.some((x) => x.body.webpush === 'subscribe'), 'and told push-poll of no subscription', JSON.stringify(route.posts));
  const script = await tp.evaluate(async () => (await navigator.serviceWorker.getRegistration('/')).active.scriptURL);
  ok(new URL(new URL(script).searchParams.get('poll')).searchParams.get('user') === user,
    'the worker it registered has push-poll\'s URL with the page\'s ?user= in its ?poll=', script);
  ok(await tp.evaluate(() => window.c.webPush.state()) === 'disabled', 'state() still answers \'disabled\'');
  ok(await tp.evaluate(() => window.c.webPush.disable()) === 'disabled', 'disable() with no subscription resolves \'disabled\'');
  const vapid = sql('SELECT public_key FROM push.webpush_vapid');
  ok(/^B[A-Za-z0-9_-]{86}$/.test(vapid), 'push-webpush recorded its key for push-poll to give', vapid);
  sql('DELETE FROM push.webpush_vapid'); // a site where push-webpush never ran
  await tp.click('#on');
  const why503 = await tp.evaluate(() => window.clicked);
  ok(/HTTP 503 webpush_unavailable/.test(why503), 'a site running no push-webpush: enable() rejects with push-poll\'s 503', why503);
  sql("INSERT INTO push.webpush_vapid (public_key) VALUES (:'k')", { k: vapid });

  // the demo page's switch: the error shows on the page, the switch off
  await demo.click('#webpush');
  await waitFor(demo, () => !['busy', ''].includes(document.getElementById('webpush-state').dataset.state), null, 10000);
  const sw = await demo.evaluate(() => ({ state: document.getElementById('webpush-state').dataset.state,
    checked: document.getElementById('webpush').checked, error: document.getElementById('webpush-error').textContent,
    shown: !document.getElementById('webpush-error').hidden }));
  ok(sw.state === 'disabled' && !sw.checked && sw.shown && /push service refused to subscribe/.test(sw.error),
    'the demo page\'s switch shows the failure and stays off', JSON.stringify(sw));
  await context.close();

  // notifications denied: enable() says so, state() answers 'denied'
  const denied = await browser.newContext();
  await webPushRoute(denied);
  const dp = await denied.newPage();
  await dp.goto(`${BASE}/webpush-test.html?user=${user}`);
  await dp.waitForFunction(() => window.atLoad, null, { timeout: 10000 });
  await dp.click('#on');
  const dwhy = await dp.evaluate(() => window.clicked);
  ok(/blocked/.test(dwhy) && await dp.evaluate(() => window.c.webPush.state()) === 'denied',
    'notifications not allowed: enable() rejects saying they are blocked, state() answers \'denied\'', dwhy);
  await denied.close();

  // a browser profile of its own (not the contexts above, where Chromium refuses push at once):
  // there the subscription waits for a push service it cannot reach, for ever; enable() gives up
  // after subscribeTimeout (3 s on the test page) instead of hanging
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'pgpush-profile-'));
  const profile = await chromium.launchPersistentContext(dir, { executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    await profile.grantPermissions(['notifications'], { origin: BASE });
    await webPushRoute(profile);
    const pp = profile.pages()[0] || await profile.newPage();
    await pp.goto(`${BASE}/webpush-test.html?user=${user}`);
    await pp.waitForFunction(() => window.atLoad, null, { timeout: 10000 });
    const t0 = Date.now();
    await pp.click('#on');
    const hwhy = await pp.evaluate(() => Promise.race([window.clicked, new Promise((r) => setTimeout(() => r('no answer in 8 s'), 8000))]));
    ok(/push service refused to subscribe: no answer in 3 s/.test(hwhy) && Date.now() - t0 < 8000,
      `a push service that never answers: enable() rejects after subscribeTimeout (${Date.now() - t0} ms)`, hwhy);
  } finally {
    await profile.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // first, so that its screenshot (README's picture) shows only its own messages
    await demoPage(browser);
    for (const t of (process.env.TRANSPORTS || 'ws sse longpoll iframe poll').split(' ')) {
      if (t === 'mqtt') continue;
      try { await transportSuite(browser, t); } catch (e) { ok(false, `${t}: suite ran to the end`, e.stack); }
    }
    if (!process.env.TRANSPORTS || process.env.TRANSPORTS.split(' ').includes('mqtt')) {
      try { await mqttSuite(browser); } catch (e) { ok(false, 'mqtt: suite ran to the end', e.stack); }
    }
    for (const t of (process.env.EXPIRY || 'sse iframe longpoll ws').split(' ')) {
      try { await tokenExpiry(browser, t); } catch (e) { ok(false, `${t}: token expiry suite ran to the end`, e.stack); }
    }
    await tokenParam(browser);
    await demoForeignBase(browser);
    await autoAndFallback(browser);
    await threeTabs(browser, false);
    await threeTabs(browser, true);
    await classic(browser);
    await bareEventSource(browser);
    await refusalRetry(browser);
    try { await webPush(browser); } catch (e) { ok(false, 'Web Push: suite ran to the end', e.stack); }
  } finally {
    await browser.close();
    silent.close();
  }
  console.log(`# browser tests: ${n - failures} of ${n} passed`);
  process.exitCode = failures ? 1 : 0;
}

// MQTT over WebSockets: Mosquitto with the pgpush plugin and push-mqtt, started by the runner
async function mqttSuite(browser) {
  console.log('# --- transport mqtt (MQTT over WebSockets through Mosquitto and push-mqtt)');
  const limit = 1500;
  const context = await browser.newContext();
  const sockets = [];
  context.on('page', (pg) => pg.on('websocket', (ws) => sockets.push(ws.url())));
  const p1 = await open(context, 'user=alice&transport=mqtt');
  ok(await connected(p1, 'mqtt'), 'mqtt: the page loads and connects over MQTT', JSON.stringify(await stateOf(p1)));
  ok(sockets.some((u) => u.startsWith('ws://127.0.0.1:') && u.endsWith('/mqtt')), 'mqtt: through the broker\'s WebSocket listener', sockets.join(' '));
  const before = await badge(p1);
  const title = `live mqtt ${Date.now()}`;
  send('alice', title, 'inserted by SQL');
  const ms = await shows(p1, title, limit + 4000);
  ok(ms !== null && ms <= limit, `mqtt: a message INSERTed by SQL appears within ${limit} ms`, `took ${ms} ms`);
  ok(await badgeIs(p1, before + 1, limit) !== null, 'mqtt: the badge goes up by one (the retained unread topic)', `badge ${await badge(p1)}`);
  const all = `to everyone over mqtt ${Date.now()}`;
  send(null, all);
  const bms = await shows(p1, all, limit + 4000);
  ok(bms !== null && bms <= limit, `mqtt: a message to everyone (the broadcast topic) appears within ${limit} ms`, `took ${bms} ms`);
  ok(await badgeIs(p1, before + 2, 3000) !== null, 'mqtt: and the badge counts it', `badge ${await badge(p1)}`);

  // a second tab gets the events from the first; marking read in one lowers both badges
  const p2 = await open(context, 'user=alice&transport=mqtt');
  ok(await connected(p2, 'mqtt'), 'mqtt: a second tab connects (through the first tab)', JSON.stringify(await stateOf(p2)));
  const count = await badge(p1);
  await p1.locator('#list li[data-id].unread', { hasText: title }).first().click();
  ok(await badgeIs(p2, count - 1, 3000) !== null, 'mqtt: marking read in tab 1 lowers the badge in tab 2', `badge ${await badge(p2)}`);

  send('alice', XSS, XSS_BODY);
  const shown = await shows(p1, XSS, limit + 3000);
  const got = await p1.evaluate((x) => {
    const li = [...document.querySelectorAll('#list li[data-id]')].find((l) => l.querySelector('.title').textContent === x);
    return li ? { title: li.querySelector('.title').textContent, body: li.querySelector('.body').textContent,
      elements: li.querySelectorAll('img, script, svg, b').length } : null;
  }, XSS);
  ok(shown !== null && got && got.title === XSS && got.body === XSS_BODY && got.elements === 0,
    'mqtt: an XSS title and body show as text, byte for byte', JSON.stringify(got));
  ok(await p1.evaluate(() => window.__xss === undefined), 'mqtt: window.__xss stays undefined');

  // the bridge killed: what is sent meanwhile arrives when it is back, once
  const tag = Date.now();
  const titles = [`bridge down 1 ${tag}`, `bridge down 2 ${tag}`, `bridge back ${tag}`];
  process.kill(Number(process.env.BRIDGE_PID), 'SIGKILL');
  send('alice', titles[0]);
  send(null, titles[1]);
  const bridge = spawn(process.env.BRIDGE_BIN, [], { stdio: ['ignore', 'ignore', fs.openSync(process.env.BRIDGE_LOG, 'a')] });
  send('alice', titles[2]);
  await waitFor(p1, (ts) => ts.every((x) => [...document.querySelectorAll('#list li[data-id] .title')].some((e) => e.textContent === x)), titles, 15000);
  await sleep(700);
  const counts = [];
  for (const x of titles) counts.push(await countTitle(p1, x));
  ok(counts.every((c) => c === 1), 'mqtt: across a bridge SIGKILL every message shows exactly once', `counts ${counts.join(',')}`);
  const ids = await p1.evaluate(() => [...document.querySelectorAll('#list li[data-id]')].map((l) => l.dataset.id));
  ok(ids.length === new Set(ids).size && ids.length > 0, 'mqtt: no message id twice in the list', ids.join(','));
  ok((await stateOf(p1)).transport === 'mqtt', 'mqtt: still on MQTT', JSON.stringify(await stateOf(p1)));
  await context.close();
  bridge.kill('SIGTERM');
}

// a server that takes connections and never answers: a proxy that holds the upgrade
const silent = net.createServer(() => {});
const silentPort = new Promise((resolve) => silent.listen(0, '127.0.0.1', () => resolve(silent.address().port)));

// WebSocket made to fail in a context: every socket goes to a closed port (a proxy without WebSocket
// support, a firewall), or to the silent server
async function breakWebSocket(context, how) {
  const port = await silentPort;
  await context.addInitScript(([h, p]) => {
    const Real = window.WebSocket;
    window.WebSocket = function () { return new Real(h === 'fails' ? 'ws://127.0.0.1:1/' : `ws://127.0.0.1:${p}/`); };
    window.WebSocket.OPEN = Real.OPEN;
  }, [how, port]);
}

async function autoAndFallback(browser) {
  console.log('# --- auto mode and fallback');
  let context = await browser.newContext();
  let p = await open(context, 'user=bob');
  ok(await connected(p, 'ws'), 'auto mode picks WebSocket', JSON.stringify(await stateOf(p)));
  let title = `auto ws ${Date.now()}`;
  send('bob', title);
  ok(await shows(p, title, 1000) !== null, 'auto mode: a message arrives over the WebSocket within 1 s');
  await context.close();

  for (const how of ['fails', 'hangs']) {
    context = await browser.newContext();
    await breakWebSocket(context, how);
    p = await open(context, 'user=bob');
    ok(await connected(p, 'sse', 15000), `auto mode falls back to SSE when WebSocket ${how}`, JSON.stringify(await stateOf(p)));
    title = `fallback ws ${how} ${Date.now()}`;
    send('bob', title);
    ok(await shows(p, title, 3000) !== null, `after the fallback (WebSocket ${how}) a message is delivered`);
    await context.close();
  }

  for (const how of ['fails', 'hangs']) {
    context = await browser.newContext();
    await breakWebSocket(context, 'fails');
    await context.route('**/cgi-bin/push-sse*', (route) => {
      if (how === 'fails') route.abort('connectionrefused');
      // 'hangs': never answered, like a proxy that buffers the whole stream
    });
    p = await open(context, 'user=bob');
    ok(await connected(p, 'longpoll', 15000), `auto mode falls back to long polling when WebSocket fails and SSE ${how}`, JSON.stringify(await stateOf(p)));
    title = `fallback ${how} ${Date.now()}`;
    send('bob', title);
    ok(await shows(p, title, 3000) !== null, `after the fallback (SSE ${how}) a message is delivered`);
    await context.close();
  }
  // WebSocket, SSE and long polling all broken: the iframe stream
  context = await browser.newContext();
  await breakWebSocket(context, 'fails');
  await context.route('**/cgi-bin/push-sse*', (route) => route.abort('connectionrefused'));
  await context.route('**/cgi-bin/push-longpoll*', (route) => route.fulfill({ status: 502, body: 'bad gateway' }));
  p = await open(context, 'user=bob');
  ok(await connected(p, 'iframe', 20000), 'auto mode falls back to the iframe when SSE and long polling fail', JSON.stringify(await stateOf(p)));
  title = `fallback iframe ${Date.now()}`;
  send('bob', title);
  ok(await shows(p, title, 3000) !== null, 'after falling back to the iframe a message is delivered');
  await context.close();
}

// three tabs, one stream; noLocks: the BroadcastChannel election instead of Web Locks
async function threeTabs(browser, noLocks) {
  const what = noLocks ? ' (no Web Locks: BroadcastChannel election)' : '';
  console.log(`# --- three tabs${what}`);
  const context = await browser.newContext();
  if (noLocks) await context.addInitScript(() => { delete Navigator.prototype.locks; });
  const streams = trackStreams(context);
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await open(context, 'user=carol'));
  for (const [i, p] of pages.entries()) ok(await connected(p, 'ws'), `tab ${i + 1} of 3 connected${what}`, JSON.stringify(await stateOf(p)));
  if (noLocks) ok(await pages[0].evaluate(() => !navigator.locks), 'Web Locks really are missing in this context');
  await sleep(2500);
  const leaders = [];
  for (const p of pages) leaders.push((await stateOf(p)).leader === 'true');
  ok(leaders.filter(Boolean).length === 1, `exactly one tab leads${what}`, leaders.join(','));
  ok(streams.open.size === 1, `exactly one streaming connection for three tabs${what}`,
    `${streams.open.size} open: ${[...streams.open].map((r) => r.url()).join(' ')}`);
  const before = [];
  for (const p of pages) before.push(await badge(p));
  const title = `three tabs ${Date.now()}`;
  send('carol', title);
  for (const [i, p] of pages.entries()) {
    const ms = await badgeIs(p, before[i] + 1, 1000);
    ok(ms !== null, `tab ${i + 1}: the badge goes up within 1 s${what}`, `badge ${await badge(p)}`);
  }
  // the leader leaves: another tab takes over from its last cursor
  const li = leaders.indexOf(true);
  await pages[li].close();
  const rest = pages.filter((_, i) => i !== li);
  const t2 = `after the leader left ${Date.now()}`;
  send('carol', t2);
  for (const [i, p] of rest.entries()) ok(await shows(p, t2, 8000) !== null, `after the leader tab closed, tab ${i + 1} of the others gets new messages${what}`);
  await sleep(1000);
  const lead2 = [];
  for (const p of rest) lead2.push((await stateOf(p)).leader === 'true');
  ok(lead2.filter(Boolean).length === 1, `one of the remaining tabs took over${what}`, lead2.join(','));
  for (const p of rest) ok(await countTitle(p, title) === 1 && await countTitle(p, t2) === 1, `nothing twice after the takeover${what}`);
  ok(streams.open.size === 1, `still exactly one streaming connection${what}`, `${streams.open.size} open`);
  await context.close();
}

// pgpush.js refused for now (a 200 refusal stream with its retry, as push-sse answers 503s and
// 429s): it stays on the transport and comes back when told, not at its own short backoff and
// not on another transport (issue 16)
async function refusalRetry(browser) {
  console.log('# --- pgpush.js honours a refusal\'s retry');
  const context = await browser.newContext();
  await breakWebSocket(context, 'fails');
  const times = [];
  await context.route('**/cgi-bin/push-sse*', (route) => {
    times.push(Date.now());
    if (times.length > 1) return route.continue();
    return route.fulfill({
      status: 200,
      headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' },
      body: 'retry: 4000\n\nevent: error\ndata: {"error":"too_many_streams","message":"busy","status":503,"retry":4000}\n\n',
    });
  });
  const p = await open(context, 'user=bob');
  ok(await connected(p, 'sse', 20000), 'after the refusal it streams on SSE (no fall back to another transport)', JSON.stringify(await stateOf(p)));
  const gap = times.length > 1 ? times[1] - times[0] : -1;
  ok(gap >= 3800, `it came back after the refusal's retry (4000 ms): ${gap} ms`, JSON.stringify(times));
  await context.close();
}

// A plain EventSource, not pgpush.js, across a database outage: the HTML spec makes EventSource
// give up for good on any answer but 200 text/event-stream, so a refusal it meets while
// reconnecting must be a 200 stream with a retry and an error event (issue 16)
async function bareEventSource(browser) {
  console.log('# --- a bare EventSource across a database outage');
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${BASE}/pgpush.js`);
  await p.setContent('<!doctype html><body></body>');
  pgcluster('stop');
  try {
    await p.evaluate(() => {
      window.__log = [];
      const es = new EventSource('/cgi-bin/push-sse?user=erin');
      window.__es = es;
      const note = (type) => (e) => window.__log.push([type, es.readyState, e.data === undefined ? null : e.data]);
      for (const type of ['error', 'unread', 'message']) es.addEventListener(type, note(type));
    });
    await waitFor(p, () => window.__log.some((l) => l[0] === 'error' && l[2]), null, 15000);
  } finally {
    pgcluster('start');
  }
  const log = await p.evaluate(() => window.__log);
  const refusal = log.find((l) => l[0] === 'error' && l[2]);
  let why = null;
  try { why = refusal && JSON.parse(refusal[2]); } catch (e) { why = null; }
  ok(why && why.error === 'database_unavailable' && why.status === 503 && why.retry >= 5000,
    'during the outage the EventSource gets an error event (database_unavailable, retry 5 s or more), not a 503', JSON.stringify(log));
  ok(await waitFor(p, () => window.__log.some((l) => l[0] === 'unread'), null, 20000) !== null,
    'after the outage the same EventSource streams again by itself', JSON.stringify(await p.evaluate(() => window.__log)));
  ok(!(await p.evaluate(() => window.__log.some((l) => l[1] === 2) || window.__es.readyState === 2)),
    'it never went to CLOSED', JSON.stringify(await p.evaluate(() => window.__log)));
  send('erin', 'after the outage');
  ok(await waitFor(p, () => window.__log.some((l) => l[0] === 'message' && l[2].includes('after the outage')), null, 10000) !== null,
    'a message sent after the outage arrives');
  await context.close();
}

async function classic(browser) {
  console.log('# --- pgpush.classic.js');
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${BASE}/pgpush.classic.js`);
  await p.setContent('<!doctype html><body></body>');
  await p.addScriptTag({ url: `${BASE}/pgpush.classic.js` });
  const r = await p.evaluate(async () => {
    if (typeof window.PushClient !== 'function') return 'no window.PushClient';
    const c = new window.PushClient({ params: { user: 'alice' }, transport: 'poll', shared: false });
    const s = await c.state();
    return typeof s.cursor === 'string' && s.user === 'alice' ? 'ok' : JSON.stringify(s);
  });
  ok(r === 'ok', 'the classic script defines window.PushClient, which works', r);
  const gen = spawnSync(path.join(TOP, 'htdocs/make-classic'), [], { encoding: 'utf8' });
  ok(gen.status === 0 && gen.stdout === fs.readFileSync(path.join(TOP, 'htdocs/pgpush.classic.js'), 'utf8'),
    'pgpush.classic.js is what make-classic makes of pgpush.js');
  await context.close();
}

async function demoPage(browser) {
  console.log('# --- the demo page');
  const context = await browser.newContext({ viewport: { width: 820, height: 700 } });
  const p = await open(context, 'user=alice');
  ok(await connected(p, 'ws'), 'the demo page connects (WebSocket)');
  // the publish form (push-demo)
  await p.fill('#pub-title', 'Published from the form');
  await p.fill('#pub-body', 'push-demo inserted this; the stream brought it back');
  await p.selectOption('#pub-to', 'alice');
  await p.click('#publish button[type=submit]');
  ok(await shows(p, 'Published from the form', 3000) !== null, 'the publish form sends a message that appears',
    await p.textContent('#pub-result'));
  await p.selectOption('#pub-to', '');
  await p.fill('#pub-title', 'Maintenance tonight');
  await p.fill('#pub-body', 'To everyone: the service restarts at 22:00.');
  await p.click('#publish button[type=submit]');
  ok(await shows(p, 'Maintenance tonight', 3000) !== null, 'a message to everyone from the form appears');
  // mark all read
  await p.click('#mark-all');
  ok(await badgeIs(p, 0, 3000) !== null, 'mark all read clears the badge');
  ok(await p.evaluate(() => document.querySelectorAll('#list li.unread').length === 0), 'and no message is shown unread');
  send('alice', 'Your export is ready', 'orders-2026-11.csv can be downloaded for 7 days.');
  send('alice', 'A new comment', 'Bob replied to your post.');
  await shows(p, 'A new comment', 2000);
  // the user switch
  await p.selectOption('#user', 'bob');
  await p.waitForURL(/user=bob/);
  ok(await connected(p, 'ws'), 'the user switch reloads the page as bob');
  await p.selectOption('#user', 'alice');
  await p.waitForURL(/user=alice/);
  await connected(p, 'ws');
  ok(await badgeIs(p, 2, 2000) !== null, 'back as alice, the badge shows her two unread messages');
  fs.mkdirSync(path.dirname(process.env.SCREENSHOT), { recursive: true });
  await p.screenshot({ path: process.env.SCREENSHOT });
  ok(fs.statSync(process.env.SCREENSHOT).size > 10000, `screenshot saved to ${path.relative(TOP, process.env.SCREENSHOT)}`);
  // a phone-sized screen: nothing wider than the viewport
  await p.setViewportSize({ width: 360, height: 720 });
  ok(await p.evaluate(() => document.documentElement.scrollWidth <= 360), 'the page fits a 360 px wide phone screen');
  await context.close();
}

main().catch((e) => { ok(false, 'the browser tests ran to the end', e.stack); process.exitCode = 1; });
