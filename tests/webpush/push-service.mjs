// push-service.mjs: a local Web Push "push service" stand-in for pgpush's tests
//
// It plays the part of a browser vendor's push service (FCM, Mozilla autopush, ...) for
// push-webpush, and checks what it receives strictly, with implementations that owe nothing to
// the C code under test: the message encryption (RFC 8291 / RFC 8188 aes128gcm) is undone with the
// npm package http_ece, the VAPID JWT (RFC 8292, ES256) is verified with jose. Versions are pinned
// in package.json / package-lock.json; install with `npm ci` (tests/webpush/run-selftest does).
//
// Usage (from tests/webpush, where node_modules is):
//
//   node push-service.mjs --port P --state DIR [--cert FILE --key FILE] [--max-body N]
//
//   --port P       port on 127.0.0.1 (0: a free one); "listening P" is printed on stdout when ready
//                  (the only thing ever printed on stdout; a log of requests goes to stderr)
//   --state DIR    where everything lives, so that the service can be killed (even with -9) and
//                  started again with the same DIR and go on: state.json (subscriptions with their
//                  private keys, the VAPID key, fault modes; replaced atomically: tmp + fsync +
//                  rename), received.jsonl and rejected.jsonl (logs, a line appended and fsynced
//                  per request before it is answered)
//   --cert/--key   PEM files: HTTPS, HTTP/2 with HTTP/1.1 allowed (ALPN); without them plain HTTP/1.1
//   --max-body N   largest body accepted (default 4096, the size RFC 8030 section 7.2 makes every
//                  push service accept); larger => 413. Bodies over max(N, 64 KiB) are not even read.
//
// Control API (JSON in and out, no authentication: a loopback test tool):
//
//   POST /control/subscribe {"name": "s1"}
//        => {"endpoint": "<scheme>://127.0.0.1:P/push/s1", "keys": {"p256dh": ..., "auth": ...}}
//        a fresh P-256 key pair and 16-byte auth secret (base64url without padding, as
//        PushSubscription.toJSON()); the same name again => the same subscription. Names:
//        1-64 of [A-Za-z0-9_.-]. Extension: {"name", "private_key": b64url(32), "auth": b64url(16)}
//        makes a subscription with fixed keys (e.g. RFC 8291 Appendix A's), 409 if it exists with others.
//   POST /control/vapid {"key": b64url(65-byte uncompressed P-256 point)}
//        from then on a push whose VAPID k= differs is refused 403; {"key": null} forgets it
//        (before a key is set any valid key is accepted)
//   POST /control/mode {"name": "s1" | "*", "status": 201|400|401|403|404|410|413|429|500|503,
//                       "retry_after": "2", "count": N, "delay_ms": M}
//        a fault mode for the pushes to s1 (or to any subscription without a mode of its own: "*")
//        that pass every check: answered with that status (and Retry-After when given), after
//        delay_ms if given; with count, only the next N such pushes, then back to normal (201).
//        status defaults to 201 (a delay alone). {"name": ..., "clear": true} removes the mode;
//        {"name": "*", "clear": true} removes every mode. GET /control/modes shows them.
//   GET  /control/received[?name=s1]
//        every push answered 201, in order: {"name", "seq" (1, 2, 3, ... over the service's whole
//        life, not restarted by reset, also the Location: /message/<seq>), "payload" (the decrypted
//        bytes as UTF-8), "payload_b64" (base64 of the exact bytes), "ttl" (number), "urgency",
//        "topic" (null when the header was absent), "http_version" ("2.0" | "1.1"), "session" (an
//        id of the TCP or TLS connection, "<boot>.<n>": equal ids = the connection was reused),
//        "at" (ms epoch), "vapid": {"sub", "exp", "k"}}
//   GET  /control/rejected[?name=s1]
//        every request to /push/ (or elsewhere outside /control/) answered 4xx/5xx, fault modes
//        included: {"name", "status", "reason", "http_version", "session", "at"}; also a push whose
//        client went away during a delay_ms (it was not answered, and is not in received)
//   POST /control/reset   empties both logs (subscriptions, the VAPID key and modes stay)
//
// The push endpoint, POST /push/<name>, checks like a strict RFC 8030/8291/8292 push service, in
// this order, each refusal recorded in rejected with its reason: header fields at most 16 KiB
// (431); POST (405); a body no larger than the hard cap (413, unread); a known name (404); TTL a
// non-negative integer (400); Urgency, if present, very-low|low|normal|high (400); Topic, if
// present, 1-32 base64url characters (400); Content-Encoding: aes128gcm (415; an empty push
// without it is refused too: pgpush always has a payload); Authorization: vapid t=<JWT>, k=<key>
// with an ES256 JWT signed by k, aud exactly this service's origin, exp in the future and at most
// 24 h ahead, sub a mailto: or https: URI (401), k the key given to /control/vapid (403); the body
// at most --max-body bytes (413); the body an aes128gcm message of a single record (RFC 8291
// section 4: keyid the sender's 65-byte public key, rs greater than the record) that decrypts with
// the subscription's keys (400). Then the fault mode, else 201 with Location: /message/<seq>,
// recorded (durably) in received before the answer is sent. Fault modes apply only to pushes that
// pass every check; a refused push does not count down a mode's count.
//
// Imported as a module (the self-test does), it starts nothing and exports decryptPush.
import http from 'node:http';
import http2 from 'node:http2';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import * as jose from 'jose';

const require = createRequire(import.meta.url);
const ece = require('http_ece');  // CommonJS

const HARD_BODY_CAP = 64 * 1024;   // bodies above max(--max-body, this) are refused unread
const CONTROL_BODY_CAP = 64 * 1024;
const MAX_HEADER_BYTES = 16 * 1024;
const BODY_TIMEOUT_MS = 30_000;
const MAX_DELAY_MS = 600_000;
const FAULT_STATUSES = [201, 400, 401, 403, 404, 410, 413, 429, 500, 503];
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const B64URL_RE = /^[A-Za-z0-9_-]*$/;
const URGENCIES = ['very-low', 'low', 'normal', 'high'];

// ---------------------------------------------------------------------------------------------
// base64url, strictly: RFC 7515 base64url has no padding and no other characters; Node's decoder
// would silently skip anything it does not know
function b64urlDecode(s, what) {
  if (typeof s !== 'string' || !B64URL_RE.test(s) || s.length % 4 === 1)
    throw new Error(`${what} is not base64url without padding`);
  return Buffer.from(s, 'base64url');
}
const b64url = (buf) => Buffer.from(buf).toString('base64url');

// ---------------------------------------------------------------------------------------------
// aes128gcm decryption (RFC 8291 over RFC 8188), with http_ece. The header is checked here first,
// for clear reasons and because http_ece takes it on trust; the crypto is http_ece's alone.
//   body: the whole request body; sub: {private: b64url(32), auth: b64url(16)}
export function decryptPush(body, sub) {
  if (body.length < 21) throw new Error(`body of ${body.length} bytes is shorter than the aes128gcm header (21 bytes + keyid)`);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  if (idlen !== 65) throw new Error(`aes128gcm keyid is ${idlen} bytes, not the sender's 65-byte P-256 public key (RFC 8291 section 4)`);
  if (body[21] !== 0x04) throw new Error('aes128gcm keyid is not an uncompressed P-256 point (0x04 ...)');
  if (rs < 18) throw new Error(`aes128gcm rs ${rs} is below 18 (RFC 8188 section 2)`);
  const record = body.length - 86;
  if (record < 17) throw new Error(`aes128gcm record of ${record} bytes is shorter than tag + delimiter (17)`);
  // a push message is one record, and rs is greater than it (RFC 8291 section 4)
  if (record >= rs) throw new Error(`aes128gcm record of ${record} bytes is not below rs ${rs}: RFC 8291 section 4 wants one record, rs greater than it`);
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(sub.private, 'base64url'));
  // http_ece (aes128gcm): the sender's public key comes from the header's keyid; privateKey
  // must be an ECDH object (it calls getPublicKey/computeSecret on it), not the key's bytes
  return ece.decrypt(body, { version: 'aes128gcm', privateKey: ecdh, authSecret: Buffer.from(sub.auth, 'base64url') });
}

// ---------------------------------------------------------------------------------------------
// VAPID (RFC 8292 section 3): Authorization: vapid t=<JWT>, k=<base64url public key>
function parseVapidHeader(h) {
  if (h === undefined) return { error: 'no Authorization header (VAPID required)' };
  if (h.length > 2048) return { error: `Authorization header of ${h.length} characters` };
  const m = /^vapid[ \t]+(.*)$/is.exec(h);
  if (!m) return { error: `Authorization scheme is not "vapid": ${JSON.stringify(h.slice(0, 40))}` };
  const params = {};
  for (const part of m[1].split(',')) {
    const pm = /^[ \t]*([A-Za-z0-9!#$%&'*+.^_`|~-]+)[ \t]*=[ \t]*(?:"([^"\\]*)"|([^ \t",]*))[ \t]*$/.exec(part);
    if (!pm) return { error: `malformed auth-param in Authorization: ${JSON.stringify(part.slice(0, 40))}` };
    const name = pm[1].toLowerCase();
    if (name in params) return { error: `auth-param ${name} twice in Authorization` };
    params[name] = pm[2] ?? pm[3];
  }
  if (!params.t) return { error: 'Authorization vapid without t=' };
  if (!params.k) return { error: 'Authorization vapid without k=' };
  let k;
  try { k = b64urlDecode(params.k, 'k='); } catch (e) { return { error: e.message }; }
  if (k.length !== 65 || k[0] !== 0x04) return { error: `k= is ${k.length} bytes, not an uncompressed P-256 point (65 bytes, 0x04 ...)` };
  return { t: params.t, k };
}

// Verifies the JWT with jose; returns {claims} or {status: 401, error}
async function verifyVapid(t, k, origin) {
  let key;
  try {
    key = await jose.importJWK({ kty: 'EC', crv: 'P-256', x: b64url(k.subarray(1, 33)), y: b64url(k.subarray(33, 65)) }, 'ES256');
  } catch (e) {
    return { error: `k= is not a point on P-256: ${e.message}` };
  }
  let payload;
  try {
    // exp is checked by jose with no clock tolerance: it must be in the future
    ({ payload } = await jose.jwtVerify(t, key, { algorithms: ['ES256'], requiredClaims: ['exp', 'sub', 'aud'] }));
  } catch (e) {
    return { error: `VAPID JWT refused by jose: ${e.code || e.name}: ${e.message}` };
  }
  if (typeof payload.aud !== 'string') return { error: `VAPID JWT aud is not a string: ${JSON.stringify(payload.aud)}` };
  if (payload.aud !== origin) return { error: `VAPID JWT aud ${JSON.stringify(payload.aud)} is not this push service's origin ${JSON.stringify(origin)}` };
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.exp !== 'number' || !Number.isInteger(payload.exp)) return { error: 'VAPID JWT exp is not an integer' };
  if (payload.exp > now + 86400) return { error: `VAPID JWT exp is ${payload.exp - now} s ahead, more than 24 h (RFC 8292 section 2)` };
  if (typeof payload.sub !== 'string') return { error: 'VAPID JWT sub is not a string' };
  let subUrl;
  try { subUrl = new URL(payload.sub); } catch { subUrl = null; }
  if (!subUrl || !['mailto:', 'https:'].includes(subUrl.protocol) || (subUrl.protocol === 'mailto:' && !/^mailto:[^@\s]+@[^@\s]+$/.test(payload.sub)))
    return { error: `VAPID JWT sub ${JSON.stringify(payload.sub)} is not a mailto: or https: URI` };
  return { claims: payload };
}

// ---------------------------------------------------------------------------------------------
// State in DIR. state.json is replaced atomically; the logs are append-only JSON lines (one
// write(2) each, fsynced), so an accepted push costs one append, not a rewrite of the whole log.
class Store {
  constructor(dir) {
    this.dir = dir;
    fs.mkdirSync(dir, { recursive: true });
    this.statePath = path.join(dir, 'state.json');
    this.receivedPath = path.join(dir, 'received.jsonl');
    this.rejectedPath = path.join(dir, 'rejected.jsonl');
    if (fs.existsSync(this.statePath)) {
      this.state = JSON.parse(fs.readFileSync(this.statePath, 'utf8'));  // corrupt => throw: never start over silently
    } else {
      this.state = { format: 1, boots: 0, last_seq: 0, vapid_key: null, subscriptions: {}, modes: {} };
    }
    this.received = this.loadLog(this.receivedPath);
    this.rejected = this.loadLog(this.rejectedPath);
    this.seq = this.received.reduce((m, r) => Math.max(m, r.seq), this.state.last_seq);
    this.state.boots++;
    this.saveState();
  }

  // a line cut short by a crash (no newline) is dropped, and the file rewritten without it, so
  // that the next append does not glue onto it
  loadLog(file) {
    if (!fs.existsSync(file)) return [];
    const text = fs.readFileSync(file, 'utf8');
    const lines = text.split('\n');
    const tail = lines.pop();
    if (tail !== '') {
      process.stderr.write(`push-service: dropping a torn last line of ${file}\n`);
      this.writeAtomic(file, lines.map((l) => l + '\n').join(''));
    }
    return lines.filter((l) => l !== '').map((l) => JSON.parse(l));
  }

  writeAtomic(file, text) {
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w', 0o600);  // private keys inside
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dfd = fs.openSync(this.dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  }

  append(file, obj) {
    const fd = fs.openSync(file, 'a', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(obj) + '\n');
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  saveState() { this.writeAtomic(this.statePath, JSON.stringify(this.state, null, 1) + '\n'); }

  addReceived(rec) {
    this.seq++;
    const full = { name: rec.name, seq: this.seq, ...rec };
    this.append(this.receivedPath, full);  // durable before the 201 goes out
    this.received.push(full);
    return full;
  }

  addRejected(rec) {
    this.append(this.rejectedPath, rec);
    this.rejected.push(rec);
  }

  reset() {
    this.state.last_seq = this.seq;  // seq goes on after a reset: Location URLs stay unique
    this.saveState();
    this.writeAtomic(this.receivedPath, '');
    this.writeAtomic(this.rejectedPath, '');
    this.received = [];
    this.rejected = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Reading a body with bounds: at most `keep` bytes are kept; past `cap` the read stops at once
function readBody(req, keep, cap) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => finish({ error: `body not complete after ${BODY_TIMEOUT_MS} ms`, status: 408 }), BODY_TIMEOUT_MS);
    req.on('data', (c) => {
      if (done) return;
      size += c.length;
      if (size > cap) {
        req.pause();
        finish({ size, overCap: true });
      } else if (size <= keep) {
        chunks.push(c);
      } else {
        chunks.length = 0;  // over the limit: counted to the end, not kept
      }
    });
    req.on('end', () => finish({ size, body: size <= keep ? Buffer.concat(chunks) : null }));
    req.on('error', (e) => finish({ error: `request error: ${e.message}`, status: 400 }));
    req.on('close', () => finish({ error: 'request closed before its body ended', status: 400 }));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const opts = { port: null, state: null, cert: null, key: null, maxBody: 4096 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(val());
    else if (a === '--state') opts.state = val();
    else if (a === '--cert') opts.cert = val();
    else if (a === '--key') opts.key = val();
    else if (a === '--max-body') opts.maxBody = Number(val());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('--port P (0-65535) is required');
  if (!opts.state) throw new Error('--state DIR is required');
  if (!!opts.cert !== !!opts.key) throw new Error('--cert and --key go together');
  if (!Number.isInteger(opts.maxBody) || opts.maxBody < 1) throw new Error('--max-body must be a positive integer');
  return opts;
}

// ---------------------------------------------------------------------------------------------
export async function main(argv) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`push-service: ${e.message}\nusage: node push-service.mjs --port P --state DIR [--cert FILE --key FILE] [--max-body N]\n`);
    process.exit(2);
  }
  const store = new Store(opts.state);
  const tls = !!opts.cert;
  const scheme = tls ? 'https' : 'http';
  let port = opts.port;  // the real one once listening
  const origin = () => new URL(`${scheme}://127.0.0.1:${port}`).origin;
  const endpointOf = (name) => `${origin()}/push/${name}`;
  const bodyCap = Math.max(opts.maxBody, HARD_BODY_CAP);

  // connection ids: a TLS connection becomes either an HTTP/2 session or an HTTP/1.1 socket
  const connIds = new WeakMap();
  let connCount = 0;
  const newConnId = (obj) => connIds.set(obj, `${store.state.boots}.${++connCount}`);
  // taken when the request arrives (handle() stores it in req.pgpushSession): an HTTP/2 stream
  // forgets its session once it is closed, e.g. by a client that went away
  const sessionOf = (req) => {
    if (req.pgpushSession) return req.pgpushSession;
    const key = req.httpVersionMajor === 2 ? req.stream?.session : req.socket;
    if (!key) return null;
    if (!connIds.has(key)) newConnId(key);
    return connIds.get(key);
  };

  const log = (msg) => process.stderr.write(`push-service ${new Date().toISOString()} ${msg}\n`);

  function send(req, res, status, headers, body) {
    if (res.headersSent || res.destroyed) return;
    const h = { ...headers };
    if (body !== undefined) {
      body = typeof body === 'string' ? body : JSON.stringify(body) + '\n';
      h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(body);
    } else {
      h['content-length'] = 0;
    }
    res.writeHead(status, h);
    res.end(body);
  }

  // a refusal of a push (or of a request outside /control/): recorded, then answered
  function refuse(req, res, name, status, reason, { headers = {}, close = false } = {}) {
    store.addRejected({ name, status, reason, http_version: req.httpVersion, session: sessionOf(req), at: Date.now() });
    log(`${status} ${req.method} ${req.url.slice(0, 80)}: ${reason}`);
    if (close) {
      // the rest of an oversized body is not read: HTTP/1.1 ends the connection (an HTTP/2
      // stream is reset by node once the answer is out and the request still open)
      if (req.httpVersionMajor === 1) headers = { ...headers, connection: 'close' };
    }
    send(req, res, status, headers, { status, reason });
  }

  async function handlePush(req, res, name) {
    if (req.method !== 'POST') return refuse(req, res, name, 405, `method ${req.method} (POST only)`, { headers: { allow: 'POST' } });
    const declared = req.headers['content-length'];
    if (declared !== undefined && !(Number(declared) <= bodyCap))
      return refuse(req, res, name, 413, `Content-Length ${String(declared).slice(0, 20)} over the hard cap of ${bodyCap} bytes (not read)`, { close: true });
    const got = await readBody(req, opts.maxBody, bodyCap);
    if (got.error) return refuse(req, res, name, got.status, got.error, { close: true });
    if (got.overCap) return refuse(req, res, name, 413, `body over the hard cap of ${bodyCap} bytes (not read to the end)`, { close: true });

    const sub = Object.hasOwn(store.state.subscriptions, name) ? store.state.subscriptions[name] : null;
    if (!sub) return refuse(req, res, name, 404, `no subscription ${JSON.stringify(name)}`);

    const ttlH = req.headers.ttl;
    if (ttlH === undefined) return refuse(req, res, name, 400, 'no TTL header (RFC 8030 section 5.2)');
    if (!/^[0-9]{1,10}$/.test(ttlH)) return refuse(req, res, name, 400, `TTL ${JSON.stringify(ttlH.slice(0, 40))} is not a non-negative integer (at most 10 digits)`);
    const urgency = req.headers.urgency ?? null;
    if (urgency !== null && !URGENCIES.includes(urgency))
      return refuse(req, res, name, 400, `Urgency ${JSON.stringify(urgency.slice(0, 40))} is not one of ${URGENCIES.join(', ')} (RFC 8030 section 5.3)`);
    const topic = req.headers.topic ?? null;
    if (topic !== null && !/^[A-Za-z0-9_-]{1,32}$/.test(topic))
      return refuse(req, res, name, 400, `Topic ${JSON.stringify(topic.slice(0, 40))} is not 1-32 base64url characters (RFC 8030 section 5.4)`);
    const ce = req.headers['content-encoding'];
    if (ce === undefined || ce.trim().toLowerCase() !== 'aes128gcm')
      return refuse(req, res, name, 415, `Content-Encoding ${JSON.stringify(ce ?? null)} is not aes128gcm (RFC 8291 section 4)`);

    const vh = parseVapidHeader(req.headers.authorization);
    if (vh.error) return refuse(req, res, name, 401, vh.error, { headers: { 'www-authenticate': 'vapid' } });
    const vr = await verifyVapid(vh.t, vh.k, origin());
    if (vr.error) return refuse(req, res, name, 401, vr.error, { headers: { 'www-authenticate': 'vapid' } });
    const wanted = store.state.vapid_key;
    if (wanted && !vh.k.equals(Buffer.from(wanted, 'base64url')))
      return refuse(req, res, name, 403, `VAPID key k=${b64url(vh.k)} is not the one set with /control/vapid (${wanted})`);

    if (got.size > opts.maxBody) return refuse(req, res, name, 413, `body of ${got.size} bytes over the limit of ${opts.maxBody}`);
    let plain;
    try {
      plain = decryptPush(got.body, sub);
    } catch (e) {
      return refuse(req, res, name, 400, `aes128gcm decryption failed: ${e.message}`);
    }

    // the fault mode, if any: the name's own, else "*"
    const modeKey = Object.hasOwn(store.state.modes, name) ? name : Object.hasOwn(store.state.modes, '*') ? '*' : null;
    let status = 201;
    let extra = {};
    let fault = null;
    if (modeKey !== null) {
      const mode = store.state.modes[modeKey];
      fault = `fault mode ${modeKey === '*' ? '"*"' : 'of ' + name}: status ${mode.status}` +
        (mode.delay_ms ? ` after ${mode.delay_ms} ms` : '') + (mode.count ? ` (${mode.count - 1} more after this)` : '');
      status = mode.status;
      if (mode.retry_after !== undefined) extra['retry-after'] = mode.retry_after;
      if (mode.count !== undefined && --mode.count <= 0) delete store.state.modes[modeKey];
      if (mode.count !== undefined) store.saveState();  // counted down: durable too
      if (mode.delay_ms) {
        let gone = false;
        const onClose = () => { gone = true; };
        res.on('close', onClose);
        await sleep(mode.delay_ms);
        res.off('close', onClose);
        if (gone || res.destroyed) {
          store.addRejected({ name, status, reason: `${fault}: the client went away during the delay; not answered, not delivered`,
            http_version: req.httpVersion, session: sessionOf(req), at: Date.now() });
          log(`${name}: client went away during a ${mode.delay_ms} ms delay`);
          return;
        }
      }
    }
    if (status !== 201) return refuse(req, res, name, status, fault, { headers: extra });

    const rec = store.addReceived({
      name, payload: plain.toString('utf8'), payload_b64: plain.toString('base64'), ttl: Number(ttlH), urgency, topic,
      http_version: req.httpVersion, session: sessionOf(req), at: Date.now(),
      vapid: { sub: vr.claims.sub, exp: vr.claims.exp, k: b64url(vh.k) },
    });
    log(`201 ${name} seq ${rec.seq} (${plain.length} bytes, HTTP/${req.httpVersion}, connection ${rec.session})${fault ? ' ' + fault : ''}`);
    send(req, res, 201, { ...extra, location: `/message/${rec.seq}`, ttl: String(Number(ttlH)) });
  }

  // --- the control API -----------------------------------------------------------------------
  async function handleControl(req, res, url) {
    const what = url.pathname.slice('/control/'.length);
    const bad = (status, error) => send(req, res, status, {}, { error });
    let input = null;
    if (req.method === 'POST') {
      const got = await readBody(req, CONTROL_BODY_CAP, CONTROL_BODY_CAP);
      if (got.error || got.overCap) return bad(got.overCap ? 413 : 400, got.error || 'body too large');
      if (got.body.length) {
        try { input = JSON.parse(got.body.toString('utf8')); } catch (e) { return bad(400, `not JSON: ${e.message}`); }
      }
      if (input === null || typeof input !== 'object' || Array.isArray(input)) {
        if (what !== 'reset') return bad(400, 'a JSON object is wanted');
      }
    } else if (req.method !== 'GET') {
      return bad(405, 'GET or POST');
    }
    const route = `${req.method} ${what}`;
    const byName = (list) => {
      const n = url.searchParams.get('name');
      return n === null ? list : list.filter((r) => r.name === n);
    };
    switch (route) {
      case 'POST subscribe': {
        const { name } = input;
        if (typeof name !== 'string' || !NAME_RE.test(name)) return bad(400, 'name: 1-64 of [A-Za-z0-9_.-]');
        let priv = null;
        let auth = null;
        if (input.private_key !== undefined || input.auth !== undefined) {
          try {
            priv = b64urlDecode(input.private_key, 'private_key');
            auth = b64urlDecode(input.auth, 'auth');
            if (auth.length !== 16) throw new Error('auth is not 16 bytes');
            crypto.createECDH('prime256v1').setPrivateKey(priv);  // throws when not a valid scalar
            if (priv.length !== 32) throw new Error('private_key is not 32 bytes');
          } catch (e) {
            return bad(400, e.message);
          }
        }
        let sub = Object.hasOwn(store.state.subscriptions, name) ? store.state.subscriptions[name] : null;
        if (sub && priv && (sub.private !== b64url(priv) || sub.auth !== b64url(auth)))
          return bad(409, `subscription ${name} exists with other keys`);
        if (!sub) {
          const ecdh = crypto.createECDH('prime256v1');
          if (priv) ecdh.setPrivateKey(priv); else ecdh.generateKeys();
          sub = { private: b64url(ecdh.getPrivateKey()), p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth || crypto.randomBytes(16)), created: Date.now() };
          store.state.subscriptions[name] = sub;
          store.saveState();
          log(`subscription ${name} created`);
        }
        return send(req, res, 200, {}, { endpoint: endpointOf(name), keys: { p256dh: sub.p256dh, auth: sub.auth } });
      }
      case 'POST vapid': {
        if (input.key === null) {
          store.state.vapid_key = null;
        } else {
          let k;
          try { k = b64urlDecode(input.key, 'key'); } catch (e) { return bad(400, e.message); }
          if (k.length !== 65 || k[0] !== 0x04) return bad(400, 'key is not a 65-byte uncompressed P-256 point');
          try {
            await jose.importJWK({ kty: 'EC', crv: 'P-256', x: b64url(k.subarray(1, 33)), y: b64url(k.subarray(33, 65)) }, 'ES256');
          } catch (e) {
            return bad(400, `key is not on P-256: ${e.message}`);
          }
          store.state.vapid_key = b64url(k);
        }
        store.saveState();
        return send(req, res, 200, {}, { key: store.state.vapid_key });
      }
      case 'POST mode': {
        const { name } = input;
        if (typeof name !== 'string' || (name !== '*' && !NAME_RE.test(name))) return bad(400, 'name: "*" or a subscription name');
        if (input.clear === true) {
          if (name === '*') store.state.modes = {}; else delete store.state.modes[name];
          store.saveState();
          return send(req, res, 200, {}, { modes: store.state.modes });
        }
        const mode = { status: input.status ?? 201 };
        if (!FAULT_STATUSES.includes(mode.status)) return bad(400, `status: one of ${FAULT_STATUSES.join(', ')}`);
        if (input.retry_after !== undefined) {
          const ra = String(input.retry_after);
          if (!/^[\x20-\x7e]{1,64}$/.test(ra)) return bad(400, 'retry_after: 1-64 printable ASCII characters');
          mode.retry_after = ra;
        }
        if (input.count !== undefined) {
          if (!Number.isInteger(input.count) || input.count < 1) return bad(400, 'count: a positive integer');
          mode.count = input.count;
        }
        if (input.delay_ms !== undefined) {
          if (!Number.isInteger(input.delay_ms) || input.delay_ms < 0 || input.delay_ms > MAX_DELAY_MS) return bad(400, `delay_ms: 0-${MAX_DELAY_MS}`);
          mode.delay_ms = input.delay_ms;
        }
        store.state.modes[name] = mode;
        store.saveState();
        return send(req, res, 200, {}, { modes: store.state.modes });
      }
      case 'GET modes':
        return send(req, res, 200, {}, store.state.modes);
      case 'GET received':
        return send(req, res, 200, {}, byName(store.received));
      case 'GET rejected':
        return send(req, res, 200, {}, byName(store.rejected));
      case 'POST reset':
        store.reset();
        return send(req, res, 200, {}, { reset: true });
      default:
        return bad(404, `no control ${route}`);
    }
  }

  async function handle(req, res) {
    req.on('error', () => {});  // aborted requests: handled where the body is read
    res.on('error', () => {});
    req.pgpushSession = sessionOf(req);
    // node's HTTP/1.1 parser stops at MAX_HEADER_BYTES itself; HTTP/2 only advertises the limit
    // (SETTINGS_MAX_HEADER_LIST_SIZE), so it is checked here too (RFC 9113 section 6.5.2 counts
    // 32 bytes per field)
    let headerBytes = 0;
    for (let i = 0; i < req.rawHeaders.length; i += 2) headerBytes += req.rawHeaders[i].length + req.rawHeaders[i + 1].length + 32;
    if (headerBytes > MAX_HEADER_BYTES) return refuse(req, res, null, 431, `${headerBytes} bytes of header fields, over ${MAX_HEADER_BYTES}`, { close: true });
    let url;
    try {
      url = new URL(req.url, 'http://127.0.0.1');
    } catch {
      return refuse(req, res, null, 400, 'unparsable request target');
    }
    if (url.pathname.startsWith('/control/')) return handleControl(req, res, url);
    const m = /^\/push\/([^/]*)$/.exec(url.pathname);
    if (m) {
      let name;
      try { name = decodeURIComponent(m[1]); } catch { name = m[1]; }
      return handlePush(req, res, name);
    }
    // answered without reading a body: make HTTP/1.1 close rather than guess where the next request starts
    return refuse(req, res, null, 404, `no resource ${url.pathname.slice(0, 80)}`, { close: true });
  }

  const onRequest = (req, res) => {
    handle(req, res).catch((e) => {
      log(`internal error on ${req.method} ${req.url}: ${e.stack || e}`);
      try { send(req, res, 500, {}, { error: `internal error: ${e.message}` }); } catch { /* the answer may be under way */ }
    });
  };

  let server;
  if (tls) {
    server = http2.createSecureServer({
      cert: fs.readFileSync(opts.cert), key: fs.readFileSync(opts.key), allowHTTP1: true,
      settings: { maxHeaderListSize: MAX_HEADER_BYTES }, maxHeaderSize: MAX_HEADER_BYTES,
    }, onRequest);
    server.on('session', (s) => { newConnId(s); s.on('error', () => {}); });
    // a client closing its connection is no news; anything else is worth a line
    server.on('sessionError', (e) => { if (e.code !== 'ECONNRESET') log(`HTTP/2 session error: ${e.message}`); });
    server.on('tlsClientError', (e) => log(`TLS client error: ${e.message}`));
  } else {
    server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, onRequest);
    server.on('connection', (sock) => newConnId(sock));
  }
  server.on('clientError', (e, sock) => {
    // garbage that is not HTTP (or a header over MAX_HEADER_BYTES): 400 (431) and close
    const status = e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (sock.writable) sock.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else sock.destroy();
  });
  server.on('error', (e) => {
    process.stderr.write(`push-service: ${e.message}\n`);
    process.exit(1);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));  // every write is synchronous: nothing to flush
  server.listen(opts.port, '127.0.0.1', () => {
    port = server.address().port;
    process.stdout.write(`listening ${port}\n`);
    log(`${scheme} on 127.0.0.1:${port}, state in ${opts.state} (boot ${store.state.boots}), max body ${opts.maxBody}`);
  });
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url))) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`push-service: ${e.stack || e}\n`);
    process.exit(1);
  });
}
