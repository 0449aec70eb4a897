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
