// selftest.mjs: proves that push-service.mjs, the Web Push push service stand-in, accepts what a
// correct sender sends and refuses the rest
//
//   node selftest.mjs        (tests/webpush/run-selftest installs the packages first and runs this)
//
// The correct pushes are made by the npm web-push library (its own encryption and VAPID signing);
// the wrong ones by changing web-push's requests, or by signing JWTs here with node:crypto. The
// service is started as a child (HTTPS + HTTP/2 with a throwaway self-signed certificate made with
// openssl, then once more in plain HTTP), killed with SIGKILL and started again on the same state
// directory. Prints TAP-like lines "ok N - ..." / "not ok N - ...", then "N passed, M failed";
// exits 1 on any failure. A service that does not start is a failure, never a skip. The work
// directory (certificate, state, service.log) is removed after a clean run unless SELFTEST_KEEP=1.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import webpush from 'web-push';
import { decryptPush } from './push-service.mjs';

const require = createRequire(import.meta.url);
const ece = require('http_ece');
const here = path.dirname(fileURLToPath(import.meta.url));
const SERVICE = path.join(here, 'push-service.mjs');

let n = 0;
let failures = 0;
function ok(cond, desc, detail) {
  n++;
  if (cond) console.log(`ok ${n} - ${desc}`);
  else {
    failures++;
    console.log(`not ok ${n} - ${desc}`);
    if (detail !== undefined) console.log(`#   ${(typeof detail === 'string' ? detail : JSON.stringify(detail)).replace(/\n/g, '\n#   ')}`);
  }
  return cond;
}
function finish() {
  console.log(`${n - failures} passed, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pgpush-webpush-selftest.'));
const certFile = path.join(work, 'cert.pem');
const keyFile = path.join(work, 'key.pem');
const stateDir = path.join(work, 'state');
const serviceLog = path.join(work, 'service.log');

// --- the service as a child ---------------------------------------------------------------------
let child = null;
function startService(args) {
  return new Promise((resolve) => {
    const err = fs.openSync(serviceLog, 'a');
    const c = spawn(process.execPath, [SERVICE, ...args], { stdio: ['ignore', 'pipe', err] });
    fs.closeSync(err);
    let out = '';
    const timer = setTimeout(() => { c.kill('SIGKILL'); resolve({ error: 'no "listening P" within 10 s' }); }, 10_000);
    c.stdout.on('data', (d) => {
      out += d;
      const m = /^listening (\d+)\n/.exec(out);
      if (m) { clearTimeout(timer); child = c; resolve({ port: Number(m[1]), child: c }); }
    });
    c.on('exit', (code, sig) => { clearTimeout(timer); resolve({ error: `exited (${code ?? sig}) before listening` }); });
  });
}
function killService(sig = 'SIGKILL') {
  return new Promise((resolve) => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    c.kill(sig);
  });
}
process.on('exit', () => { if (child) child.kill('SIGKILL'); });
const logTail = () => { try { return fs.readFileSync(serviceLog, 'utf8').split('\n').slice(-15).join('\n'); } catch { return ''; } };

// --- HTTP helpers -----------------------------------------------------------------------------
let CA = null;
let BASE = null;
function request(method, url, { headers = {}, body, agent, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const opts = { method, headers, agent };
    if (u.protocol === 'https:' && !agent) opts.ca = CA;
    const r = mod.request(u, opts, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), socket: res.socket }));
    });
    r.setTimeout(timeoutMs, () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    r.end(body);
  });
}
async function control(method, what, input) {
  const body = input === undefined ? undefined : JSON.stringify(input);
  const r = await request(method, `${BASE}/control/${what}`, { headers: body ? { 'content-type': 'application/json' } : {}, body });
  let json = null;
  try { json = JSON.parse(r.body); } catch { /* left null */ }
  return { status: r.status, json };
}
const received = async (name) => (await control('GET', `received${name ? '?name=' + name : ''}`)).json;
const rejected = async (name) => (await control('GET', `rejected${name ? '?name=' + name : ''}`)).json;

// a push as web-push would send it, with changes: fn(details) may edit details.headers/body
// (Content-Length follows the body)
async function push(sub, payload, options, fn) {
  const d = webpush.generateRequestDetails(sub, payload, options);
  if (fn) fn(d);
  d.headers['Content-Length'] = d.body.length;
  return request(d.method, d.endpoint, { headers: d.headers, body: d.body });
}

// --- VAPID keys and hand-made JWTs (node:crypto, not jose: the service's verifier) --------------
const vapidA = webpush.generateVAPIDKeys();
const vapidB = webpush.generateVAPIDKeys();
const subject = 'mailto:selftest@example.org';
const vapidOf = (k) => ({ vapidDetails: { subject, publicKey: k.publicKey, privateKey: k.privateKey } });
function privateKeyObject(k) {
  const pub = Buffer.from(k.publicKey, 'base64url');
  return crypto.createPrivateKey({ format: 'jwk', key: { kty: 'EC', crv: 'P-256', d: k.privateKey,
    x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') } });
}
function jwt(k, claims, { header = { typ: 'JWT', alg: 'ES256' }, der = false } = {}) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc(header)}.${enc(claims)}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKeyObject(k), dsaEncoding: der ? 'der' : 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

// RFC 8291 Appendix A
const RFC8291 = {
  ua_private: 'q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94',
  ua_public: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
  auth: 'BTBZMqHH6r4Tts7J_aSIgg',
  body: 'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
  plaintext: 'When I grow up, I want to be a watermelon',
};

async function main() {
  // 1. the call shape of http_ece, on the RFC's own example
  try {
    const pt = decryptPush(Buffer.from(RFC8291.body, 'base64url'), { private: RFC8291.ua_private, auth: RFC8291.auth });
    ok(pt.toString() === RFC8291.plaintext, 'decryptPush (http_ece) decrypts the RFC 8291 Appendix A example', pt.toString());
  } catch (e) {
    ok(false, 'decryptPush (http_ece) decrypts the RFC 8291 Appendix A example', e.message);
  }

  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-keyout', keyFile, '-out', certFile, '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    CA = fs.readFileSync(certFile);
  } catch (e) {
    ok(false, 'openssl makes a self-signed certificate', String(e.stderr || e.message));
    return finish();
  }
  const agent = new https.Agent({ ca: CA, keepAlive: true, maxSockets: 1 });  // web-push's requests, on one connection

  let svc = await startService(['--port', '0', '--state', stateDir, '--cert', certFile, '--key', keyFile]);
  if (!ok(!svc.error, `the service starts (HTTPS, HTTP/2) and prints "listening P"${svc.port ? ` (${svc.port})` : ''}`, `${svc.error}\n${logTail()}`)) return finish();
  const PORT = svc.port;
  BASE = `https://127.0.0.1:${PORT}`;

  // --- subscriptions ---
  const s1r = await control('POST', 'subscribe', { name: 's1' });
  const s1 = s1r.json;
  const p256 = s1 && Buffer.from(s1.keys.p256dh, 'base64url');
  ok(s1r.status === 200 && s1.endpoint === `${BASE}/push/s1` && p256.length === 65 && p256[0] === 4 &&
     Buffer.from(s1.keys.auth, 'base64url').length === 16 && !/[=+/]/.test(s1.keys.p256dh + s1.keys.auth),
     'subscribe s1: the endpoint, a 65-byte p256dh and a 16-byte auth, base64url without padding', s1r);
  const again = await control('POST', 'subscribe', { name: 's1' });
  ok(JSON.stringify(again.json) === JSON.stringify(s1), 'subscribe s1 again: the same subscription', again.json);
  const s2 = (await control('POST', 'subscribe', { name: 's2' })).json;
  ok(s2.keys.p256dh !== s1.keys.p256dh && s2.keys.auth !== s1.keys.auth, 'subscribe s2: other keys');
  ok((await control('POST', 'subscribe', { name: 'a/b' })).status === 400 && (await control('POST', 'subscribe', {})).status === 400,
    'subscribe refuses a bad or missing name');

  // --- correct pushes, made by web-push ---
  const text = 'Grüße, 世界 🙂 {"id": 1, "title": "pgpush"}';
  let r;
  try {
    r = await webpush.sendNotification(s1, text, { ...vapidOf(vapidA), TTL: 60, urgency: 'high', topic: 'pgpush-t1', agent });
  } catch (e) {
    r = { statusCode: e.statusCode, error: e.message, body: e.body };
  }
  ok(r.statusCode === 201 && r.headers.location === '/message/1', 'web-push sendNotification: 201 with Location: /message/1', r);
  let rec = (await received('s1')).at(-1);
  ok(rec && rec.payload === text && rec.payload_b64 === Buffer.from(text).toString('base64') && rec.seq === 1,
    'received: the payload, byte for byte', rec);
  ok(rec && rec.ttl === 60 && rec.urgency === 'high' && rec.topic === 'pgpush-t1' && rec.http_version === '1.1' &&
     rec.vapid.k === vapidA.publicKey && rec.vapid.sub === subject && typeof rec.at === 'number' && typeof rec.session === 'string',
    'received: ttl, urgency, topic, HTTP/1.1, the VAPID key and subject', rec);

  const bin = crypto.randomBytes(3000);
  r = await webpush.sendNotification(s1, bin, { ...vapidOf(vapidA), TTL: 0, agent });
  rec = (await received('s1')).at(-1);
  ok(r.statusCode === 201 && rec.seq === 2 && rec.payload_b64 === bin.toString('base64') && rec.ttl === 0 && rec.urgency === 'normal' && rec.topic === null,
    'a 3000-byte binary payload, TTL 0: received exactly (payload_b64), no topic', rec);
  const first = (await received('s1'))[0];
  ok(rec.session === first.session, 'web-push\'s two pushes on a keep-alive agent: the same session id', [first.session, rec.session]);

  // the size limit: 4096 bytes of body (86 header + 3993 plaintext + 1 delimiter + 16 tag) pass, 4097 do not
  r = await push(s1, crypto.randomBytes(3993), vapidOf(vapidA));
  ok(r.status === 201, 'a 4096-byte body (web-push, 3993-byte plaintext): 201', r.body);
  r = await push(s1, crypto.randomBytes(3994), vapidOf(vapidA), (d) => {
    if (d.body.length !== 4097) throw new Error(`web-push made ${d.body.length} bytes`);
  });
  ok(r.status === 413, 'a 4097-byte body: 413', r.body);
  r = await push(s1, 'x', vapidOf(vapidA), (d) => { d.body = crypto.randomBytes(100_000); });
  ok(r.status === 413, 'a 100 000-byte body: 413, over the hard cap', r.body);
  r = await new Promise((resolve) => {
    // no Content-Length (chunked): the service stops reading at the hard cap
    const d = webpush.generateRequestDetails(s1, 'x', vapidOf(vapidA));
    delete d.headers['Content-Length'];
    const req = https.request(d.endpoint, { method: 'POST', headers: d.headers, ca: CA }, (res) => { res.resume(); resolve({ status: res.statusCode }); });
    req.on('error', (e) => resolve({ error: e.message }));
    const chunk = crypto.randomBytes(16384);
    let sent = 0;
    const more = () => { while (sent < 1_000_000) { sent += chunk.length; if (!req.write(chunk)) return req.once('drain', more); } req.end(); };
    more();
  });
  ok(r.status === 413, 'a chunked 1 MB body: 413 without reading it all', r);

  // --- HTTP/2 ---
  // abandonAfter: ms after which the stream is cancelled (RST_STREAM), as a client giving up
  const h2push = (session, sub, payload, abandonAfter) => new Promise((resolve) => {
    const d = webpush.generateRequestDetails(sub, payload, vapidOf(vapidA));
    const headers = { ':method': 'POST', ':path': new URL(d.endpoint).pathname };
    for (const [k, v] of Object.entries(d.headers)) headers[k.toLowerCase()] = String(v);
    const st = session.request(headers);
    let status = 0;
    st.on('response', (h) => { status = h[':status']; });
    st.on('data', () => {});
    st.on('end', () => resolve({ status }));
    st.on('error', (e) => resolve({ error: e.message }));
    st.end(d.body);
    if (abandonAfter) setTimeout(() => { st.close(http2.constants.NGHTTP2_CANCEL); resolve({ abandoned: true }); }, abandonAfter);
  });
  const h2a = http2.connect(BASE, { ca: CA });
  const h2b = http2.connect(BASE, { ca: CA });
  h2a.on('error', () => {});
  h2b.on('error', () => {});
  const [a1, a2] = await Promise.all([h2push(h2a, s1, 'h2 one'), h2push(h2a, s2, 'h2 two')]);
  const b1 = await h2push(h2b, s1, 'h2 three');
  h2a.close();
  h2b.close();
  const all = await received();
  const [ra1, ra2, rb1] = ['h2 one', 'h2 two', 'h2 three'].map((p) => all.find((x) => x.payload === p));
  ok(a1.status === 201 && a2.status === 201 && b1.status === 201 && ra1 && ra2 && rb1 &&
     [ra1, ra2, rb1].every((x) => x.http_version === '2.0') && ra2.name === 's2',
    'HTTP/2: three pushes on two sessions, received as 2.0', { a1, a2, b1 });
  ok(ra1 && ra2 && rb1 && ra1.session === ra2.session && ra1.session !== rb1.session && ra1.session !== rec.session,
    'HTTP/2: the same session id on one connection, another on the other', [ra1?.session, ra2?.session, rb1?.session]);
  ok(all.every((x, i) => x.seq === i + 1), 'received: seq 1, 2, 3, ... in order', all.map((x) => x.seq));

  // --- the VAPID key set with /control/vapid ---
  r = await push(s1, 'key B before /control/vapid', vapidOf(vapidB));
  ok(r.status === 201, 'before /control/vapid, any valid VAPID key is accepted', r.body);
  ok((await control('POST', 'vapid', { key: vapidA.publicKey })).status === 200, 'POST /control/vapid with key A');
  ok((await control('POST', 'vapid', { key: 'AAAA' })).status === 400, '/control/vapid refuses a key that is not a point');
  r = await push(s1, 'key B after', vapidOf(vapidB));
  const rj = (await rejected('s1')).at(-1);
  ok(r.status === 403 && rj.status === 403 && /control\/vapid/.test(rj.reason), 'a push signed with key B after /control/vapid A: 403, with the reason', [r.body, rj]);
  r = await push(s1, 'key A after', vapidOf(vapidA));
  ok(r.status === 201, 'the push signed with key A: 201', r.body);

  // --- header checks ---
  const hdr = async (desc, status, fn) => {
    const before = (await rejected()).length;
    const res = await push(s1, 'header checks', vapidOf(vapidA), fn);
    const rjs = await rejected();
    ok(res.status === status && rjs.length === before + 1 && rjs.at(-1).status === status && rjs.at(-1).reason,
      `${desc}: ${status}, recorded with a reason`, [res.status, res.body]);
  };
  await hdr('no TTL', 400, (d) => { delete d.headers.TTL; });
  await hdr('TTL -1', 400, (d) => { d.headers.TTL = '-1'; });
  await hdr('TTL 1.5', 400, (d) => { d.headers.TTL = '1.5'; });
  await hdr('Urgency urgent', 400, (d) => { d.headers.Urgency = 'urgent'; });
  await hdr('a 33-character Topic', 400, (d) => { d.headers.Topic = 'a'.repeat(33); });
  await hdr('a Topic with "="', 400, (d) => { d.headers.Topic = 'abc='; });
  await hdr('no Content-Encoding', 415, (d) => { delete d.headers['Content-Encoding']; });
  await hdr('Content-Encoding aesgcm', 415, (d) => { d.headers['Content-Encoding'] = 'aesgcm'; });
  await hdr('an unknown subscription', 404, (d) => { d.endpoint = `${BASE}/push/nobody`; });

  // --- VAPID checks (the JWTs made here, signed with node:crypto) ---
  const aud = new URL(BASE).origin;
  const good = { aud, exp: now() + 3600, sub: subject };
  const withAuth = (value) => (d) => { d.headers.Authorization = value; };
  const vapidHeader = (t, k = vapidA.publicKey) => `vapid t=${t}, k=${k}`;
  r = await push(s1, 'hand-made JWT', vapidOf(vapidA), withAuth(vapidHeader(jwt(vapidA, good))));
  ok(r.status === 201, 'a JWT made here with node:crypto (ieee-p1363 signature): 201', r.body);
  r = await push(s1, 'quoted and reordered', vapidOf(vapidA), withAuth(`vapid k="${vapidA.publicKey}",t="${jwt(vapidA, good)}"`));
  ok(r.status === 201, 'Authorization params reordered and quoted: 201', r.body);
  await hdr('no Authorization', 401, (d) => { delete d.headers.Authorization; });
  await hdr('Authorization WebPush <jwt> (the old draft scheme)', 401, withAuth(`WebPush ${jwt(vapidA, good)}`));
  await hdr('vapid without k=', 401, withAuth(`vapid t=${jwt(vapidA, good)}`));
  await hdr('k= with base64 padding', 401, withAuth(vapidHeader(jwt(vapidA, good), vapidA.publicKey + '=')));
  await hdr('aud another origin (port + 1)', 401, withAuth(vapidHeader(jwt(vapidA, { ...good, aud: `https://127.0.0.1:${PORT + 1}` }))));
  await hdr('aud with a path', 401, withAuth(vapidHeader(jwt(vapidA, { ...good, aud: `${aud}/` }))));
  await hdr('aud as an array', 401, withAuth(vapidHeader(jwt(vapidA, { ...good, aud: [aud] }))));
  await hdr('exp in the past', 401, withAuth(vapidHeader(jwt(vapidA, { ...good, exp: now() - 10 }))));
  await hdr('exp 25 h ahead', 401, withAuth(vapidHeader(jwt(vapidA, { ...good, exp: now() + 25 * 3600 }))));
  await hdr('no exp', 401, withAuth(vapidHeader(jwt(vapidA, { aud, sub: subject }))));
  await hdr('no sub', 401, withAuth(vapidHeader(jwt(vapidA, { aud, exp: good.exp }))));
  await hdr('sub an http: URI', 401, withAuth(vapidHeader(jwt(vapidA, { ...good, sub: 'http://example.org/' }))));
  await hdr('sub not a URI', 401, withAuth(vapidHeader(jwt(vapidA, { ...good, sub: 'selftest@example.org' }))));
  await hdr('a DER signature (not JWS\'s r||s)', 401, withAuth(vapidHeader(jwt(vapidA, good, { der: true }))));
  await hdr('alg ES384 in the header', 401, withAuth(vapidHeader(jwt(vapidA, good, { header: { typ: 'JWT', alg: 'ES384' } }))));
  await hdr('alg none, no signature', 401, withAuth(vapidHeader(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(good)).toString('base64url')}.`)));
  await hdr('a JWT signed by B, k= A', 401, withAuth(vapidHeader(jwt(vapidB, good), vapidA.publicKey)));
  {
    const [h, , s] = jwt(vapidA, good).split('.');
    await hdr('claims changed after signing', 401, withAuth(vapidHeader(`${h}.${Buffer.from(JSON.stringify({ ...good, exp: good.exp + 1 })).toString('base64url')}.${s}`)));
  }
  await hdr('garbage Authorization', 401, withAuth('vapid t=!!.@@@.##, k=%%%'));

  // --- encryption checks ---
  await hdr('encrypted for another auth secret', 400, (d) => {
    const other = webpush.generateRequestDetails({ ...s1, keys: { ...s1.keys, auth: crypto.randomBytes(16).toString('base64url') } }, 'x', vapidOf(vapidA));
    d.body = other.body;
  });
  await hdr('encrypted for another subscription (s2)', 400, (d) => { d.body = webpush.generateRequestDetails(s2, 'x', vapidOf(vapidA)).body; });
  await hdr('random bytes as the body', 400, (d) => { d.body = crypto.randomBytes(200); });
  await hdr('an empty body', 400, (d) => { d.body = Buffer.alloc(0); });
  const eceBody = (payload, rs) => {
    // http_ece's own encryption, as web-push calls it, with a chosen record size
    const local = crypto.createECDH('prime256v1');
    local.generateKeys();
    return ece.encrypt(Buffer.from(payload), { version: 'aes128gcm', dh: s1.keys.p256dh, privateKey: local, salt: crypto.randomBytes(16), authSecret: s1.keys.auth, rs });
  };
  r = await push(s1, 'x', vapidOf(vapidA), (d) => { d.body = eceBody('rs checks', 4096); });
  ok(r.status === 201, 'http_ece.encrypt as the control for the rs checks: 201', r.body);
  await hdr('two records (rs 100, 200-byte payload)', 400, (d) => { d.body = eceBody('y'.repeat(200), 100); });
  await hdr('rs equal to the record (RFC 8291: greater)', 400, (d) => { d.body = eceBody('z'.repeat(20), 20 + 17); });

  // --- fault modes ---
  const st = async (sub, payload) => (await push(sub, payload, vapidOf(vapidA))).status;
  ok((await control('POST', 'mode', { name: 's1', status: 410, count: 2 })).status === 200, 'mode s1 410, count 2');
  const seen410 = [await st(s1, 'm1'), await st(s1, 'm2'), await st(s1, 'm3')];
  ok(JSON.stringify(seen410) === '[410,410,201]', 'mode 410 count 2: 410, 410, then 201', seen410);
  ok(JSON.stringify((await control('GET', 'modes')).json) === '{}', 'the counted-down mode is gone from /control/modes');
  const fr = (await rejected('s1')).filter((x) => x.status === 410);
  ok(fr.length === 2 && fr.every((x) => /fault mode/.test(x.reason)), 'the two 410s are in rejected as fault-mode refusals', fr);
  ok(!(await received('s1')).some((x) => x.payload === 'm1' || x.payload === 'm2') && (await received('s1')).some((x) => x.payload === 'm3'),
    'only the 201 push is in received');
  await control('POST', 'mode', { name: 's1', status: 429, retry_after: '2', count: 1 });
  r = await push(s1, 'm4', vapidOf(vapidA));
  ok(r.status === 429 && r.headers['retry-after'] === '2', 'mode 429 retry_after "2": 429 with Retry-After: 2', [r.status, r.headers]);
  ok((await st(s1, 'm5')) === 201, 'then 201');
  await control('POST', 'mode', { name: 's1', status: 500 });
  const seen500 = [await st(s1, 'm6'), await st(s1, 'm7')];
  await control('POST', 'mode', { name: 's1', clear: true });
  ok(JSON.stringify(seen500) === '[500,500]' && (await st(s1, 'm8')) === 201, 'mode 500 without count: 500 until cleared, then 201', seen500);
  await control('POST', 'mode', { name: '*', status: 503, retry_after: '120' });
  await control('POST', 'mode', { name: 's1', status: 201 });
  const star = [await st(s2, 'm9'), await st(s1, 'm10')];
  await control('POST', 'mode', { name: '*', clear: true });
  ok(JSON.stringify(star) === '[503,201]' && (await st(s2, 'm11')) === 201 && JSON.stringify((await control('GET', 'modes')).json) === '{}',
    'mode "*" 503 applies to s2, not to s1 with a mode of its own; "*" clear removes every mode', star);
  ok((await control('POST', 'mode', { name: 's1', status: 302 })).status === 400 && (await control('POST', 'mode', { name: 's1', status: 500, count: 0 })).status === 400,
    '/control/mode refuses another status or count 0');

  // delay: answered after it, with the status set
  await control('POST', 'mode', { name: 's1', delay_ms: 800, count: 1 });
  let t0 = Date.now();
  const d1 = await st(s1, 'slow');
  const dt1 = Date.now() - t0;
  t0 = Date.now();
  const d2 = await st(s1, 'fast');
  const dt2 = Date.now() - t0;
  ok(d1 === 201 && dt1 >= 800 && d2 === 201 && dt2 < 800, `delay_ms 800 count 1: 201 after ${dt1} ms, then 201 after ${dt2} ms`);
  await control('POST', 'mode', { name: 's1', status: 503, delay_ms: 300, count: 1 });
  t0 = Date.now();
  ok((await st(s1, 'slow 503')) === 503 && Date.now() - t0 >= 300, 'delay_ms 300 with status 503: 503 after the delay');
  // a client that gives up during the delay: not delivered, noted in rejected
  await control('POST', 'mode', { name: 's1', delay_ms: 1000, count: 1 });
  r = await (async () => {
    const d = webpush.generateRequestDetails(s1, 'abandoned', vapidOf(vapidA));
    return request(d.method, d.endpoint, { headers: d.headers, body: d.body, timeoutMs: 200 }).catch((e) => ({ error: e.message }));
  })();
  await sleep(1300);
  let ab = (await rejected('s1')).at(-1);
  ok(r.error === 'timeout' && !(await received('s1')).some((x) => x.payload === 'abandoned') && /went away/.test(ab.reason),
    'a client gone during the delay (HTTP/1.1): not in received, in rejected', [r, ab]);
  await control('POST', 'mode', { name: 's1', delay_ms: 1000, count: 1 });
  const h2c = http2.connect(BASE, { ca: CA });
  h2c.on('error', () => {});
  r = await h2push(h2c, s1, 'abandoned h2', 200);
  await sleep(1300);
  r = { first: r, then: await h2push(h2c, s1, 'after abandoned h2') };
  h2c.close();
  ab = (await rejected('s1')).at(-1);
  ok(!(await received('s1')).some((x) => x.payload === 'abandoned h2') && /went away/.test(ab.reason) && ab.http_version === '2.0' && r.then.status === 201,
    'a stream cancelled during the delay (HTTP/2): not in received, in rejected; the session goes on', [r, ab]);

  // --- garbage ---
  r = await request('POST', `${BASE}/control/mode`, { body: '{"name": ', headers: { 'content-type': 'application/json' } });
  ok(r.status === 400, 'control: invalid JSON is 400', r.body);
  r = await request('GET', `${BASE}/nowhere`);
  ok(r.status === 404, 'a path outside /push/ and /control/: 404', r.body);
  r = await request('GET', `${BASE}/push/s1`);
  ok(r.status === 405, 'GET /push/s1: 405', r.body);
  await new Promise((resolve) => {
    // not HTTP at all, over TLS
    const s = tls.connect({ host: '127.0.0.1', port: PORT, ca: CA, ALPNProtocols: ['http/1.1'] }, () => s.end('\u0000\u0001garbage\r\n\r\n'));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.resume();
  });
  await new Promise((resolve) => {
    // nor TLS: plain bytes at the TLS port
    const s = net.connect(PORT, '127.0.0.1', () => s.end('GET / HTTP/1.1\r\n\r\n'));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.resume();
  });
  r = await request('GET', `${BASE}/control/modes`, { headers: { 'x-big': 'a'.repeat(20000) } });
  ok(r.status === 431, 'HTTP/1.1 with 20 KB of header: 431', r.status);
  r = await new Promise((resolve) => {
    const h2 = http2.connect(BASE, { ca: CA });
    h2.on('error', (e) => resolve({ error: e.message }));
    const st = h2.request({ ':path': '/push/s1', ':method': 'POST', 'x-big': 'a'.repeat(20000) });
    st.on('response', (h) => { resolve({ status: h[':status'] }); h2.close(); });
    st.on('error', (e) => resolve({ error: e.message }));
    st.end();
  });
  ok(r.status === 431 || r.error, `HTTP/2 with 20 KB of header: refused (${JSON.stringify(r)})`, r);
  ok((await control('GET', 'modes')).status === 200, 'the service is still up after the garbage');

  // --- state across kill -9 ---
  await control('POST', 'mode', { name: 's2', status: 410, count: 2 });
  ok((await st(s2, 'before kill')) === 410, 'mode s2 410 count 2: the first 410 before the kill');
  const beforeKill = await received();
  const rejectedBeforeKill = await rejected();
  await killService('SIGKILL');
  svc = await startService(['--port', String(PORT), '--state', stateDir, '--cert', certFile, '--key', keyFile]);
  if (!ok(!svc.error && svc.port === PORT, `after kill -9, the service starts again on the same port and state directory`, `${svc.error}\n${logTail()}`)) return finish();
  ok(JSON.stringify((await control('POST', 'subscribe', { name: 's1' })).json) === JSON.stringify(s1), 'subscription s1 is the same after the restart');
  ok(JSON.stringify(await received()) === JSON.stringify(beforeKill) && JSON.stringify(await rejected()) === JSON.stringify(rejectedBeforeKill),
    `received (${beforeKill.length}) and rejected (${rejectedBeforeKill.length}) are the same after the restart`);
  const after = [await st(s2, 'after kill 1'), await st(s2, 'after kill 2')];
  ok(JSON.stringify(after) === '[410,201]', 'the mode\'s count went on: 410 once more, then 201', after);
  ok((await push(s1, 'key B after restart', vapidOf(vapidB))).status === 403, 'the /control/vapid key is still enforced (key B: 403)');
  r = await webpush.sendNotification(s1, 'after restart', { ...vapidOf(vapidA), agent: new https.Agent({ ca: CA }) }).catch((e) => e);
  const last = (await received()).at(-1);
  ok(r.statusCode === 201 && last.payload === 'after restart' && last.seq === beforeKill.at(-1).seq + 2 && last.session.startsWith('2.'),
    'a push to s1 (its old keys) after the restart: 201, seq goes on, a session id of the new boot', last);

  // --- reset ---
  const seqBefore = last.seq;
  ok((await control('POST', 'reset')).status === 200, 'POST /control/reset');
  ok((await received()).length === 0 && (await rejected()).length === 0, 'reset empties received and rejected');
  r = await push(s1, 'after reset', vapidOf(vapidA));
  ok(r.status === 201 && r.headers.location === `/message/${seqBefore + 1}` && (await received()).length === 1,
    'subscriptions stay after reset; seq is not restarted', [r.status, r.headers.location]);

  // RFC 8291 Appendix A end to end: a subscription with the RFC's keys, its body with a VAPID JWT
  const rfcSub = await control('POST', 'subscribe', { name: 'rfc8291', private_key: RFC8291.ua_private, auth: RFC8291.auth });
  ok(rfcSub.status === 200 && rfcSub.json.keys.p256dh === RFC8291.ua_public, 'subscribe with fixed keys: the RFC 8291 user agent\'s public key', rfcSub);
  ok((await control('POST', 'subscribe', { name: 'rfc8291', private_key: vapidA.privateKey, auth: RFC8291.auth })).status === 409,
    'the same name with other fixed keys: 409');
  r = await request('POST', `${BASE}/push/rfc8291`, { body: Buffer.from(RFC8291.body, 'base64url'),
    headers: { TTL: '10', 'Content-Encoding': 'aes128gcm', Authorization: vapidHeader(jwt(vapidA, good)) } });
  rec = (await received('rfc8291')).at(-1);
  ok(r.status === 201 && rec?.payload === RFC8291.plaintext, 'the RFC 8291 Appendix A message, pushed: 201, "When I grow up, ..."', [r.status, r.body, rec]);
  await killService('SIGTERM');

  // --- plain HTTP ---
  const plainDir = path.join(work, 'state-plain');
  svc = await startService(['--port', '0', '--state', plainDir, '--max-body', '1000']);
  if (!ok(!svc.error, 'the service starts in plain HTTP (no --cert)', `${svc.error}\n${logTail()}`)) return finish();
  BASE = `http://127.0.0.1:${svc.port}`;
  const p1 = (await control('POST', 'subscribe', { name: 'p1' })).json;
  ok(p1.endpoint === `${BASE}/push/p1`, 'the endpoint is http://', p1);
  r = await push(p1, 'plain', vapidOf(vapidA));
  rec = (await received()).at(-1);
  ok(r.status === 201 && rec?.payload === 'plain' && rec.http_version === '1.1', 'a web-push push over plain HTTP (aud http://...): 201', [r.status, r.body]);
  r = await push(p1, 'x', vapidOf(vapidA), withAuth(vapidHeader(jwt(vapidA, { ...good, aud: `https://127.0.0.1:${svc.port}` }))));
  ok(r.status === 401, 'aud https:// at the http:// service: 401', r.body);
  r = await push(p1, 'y'.repeat(900), vapidOf(vapidA));
  ok(r.status === 413, '--max-body 1000: a 1003-byte body is 413', r.body);
  await killService('SIGTERM');

  if (failures || process.env.SELFTEST_KEEP) console.log(`# the work directory is kept: ${work}\n# service log tail:\n#   ${logTail().replace(/\n/g, '\n#   ')}`);
  else fs.rmSync(work, { recursive: true, force: true });
  finish();
}

main().catch((e) => {
  ok(false, 'the self-test ran to its end', e.stack || String(e));
  console.log(`# work directory: ${work}\n# service log tail:\n#   ${logTail().replace(/\n/g, '\n#   ')}`);
  finish();
});
