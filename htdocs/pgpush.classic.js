// pgpush.classic.js: the pgpush browser client as a classic script (defines window.PushClient), generated from pgpush.js by make-classic: do not edit
(function () {
'use strict';
//
//   import { PushClient } from '/pgpush.js';
//   const c = new PushClient({ base: '/cgi-bin', getToken: () => fetchMyToken(), transport: 'auto' });
//   c.on('message', m => ...); c.on('unread', u => ...); c.on('state', s => ...); c.start();
//   c.on('update', m => ...)    a message it delivered was edited: m is the message as it is now
//   c.on('delete', d => ...)    d.id was retracted or has expired: take it off the page
//
// Web Push (push-webpush; the service worker htdocs/pgpush-sw.js): notifications when no tab is open
//   c.webPush.enable()          from a click handler only (it asks for the permission): registers the
//                               service worker, subscribes with push-poll's key, tells push-poll;
//                               resolves to the new state, rejects with an Error saying why not
//   c.webPush.disable()         unsubscribes, in the browser and at push-poll
//   c.webPush.state()           resolves to 'unsupported' | 'denied' | 'enabled' | 'disabled'
//   c.on('opened', o => ...)    o.id's notification was clicked (the worker marked it read, and
//                               focused or opened o.url: its link when same-origin or https, else
//                               the scope's root)
//   a push while a tab is visible shows no notification: its counts come as c.on('unread')
//
// No dependencies. The classic-script build pgpush.classic.js is generated from this file by
// htdocs/make-classic; do not edit that one.

const ORDER = ['ws', 'sse', 'longpoll', 'iframe', 'poll'];
const STREAMS = ['ws', 'sse', 'iframe'];   // no headers: a stream ticket in the URL, never the token
const SEEN_MAX = 2000;          // message ids remembered for de-duplication
let instances = 0;

function jitter(ms) { return Math.round(ms * (0.5 + Math.random())); }

// a poll's answer (push-poll, push-longpoll): its new messages, then its changes (of messages the
// page had before: the two lists concern different messages, so their order between them is free)
function changes(ev, body) {
  for (const m of body.messages) ev.event('message', m.cursor, m);
  for (const x of body.changes || []) ev.event(x.event, null, x.message);
}

function delay(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

class PushClient {
  // options: base ('/cgi-bin'), params (query parameters, e.g. {user} in demo mode; a {token} here
  // is taken as the token, never sent in a URL), getToken (a function returning a token or a
  // Promise of one: called before every (re)connect and when a token expires), cookie (true: the
  // site's cookie carries the token, so streams open without a ticket), transport ('auto' | 'ws' | 'sse' | 'longpoll' | 'iframe' | 'poll'), pollInterval (ms, 2000),
  // firstEventTimeout (ms, 4000: a transport silent that long is taken as buffered), hold (long-poll
  // seconds, 25), shared (true: one stream per browser for all tabs of the same identity),
  // mqtt (a broker's MQTT-over-WebSocket URL: MQTT first, needs params.token and MQTT.js loaded),
  // mqttPrefix ('push'), kinds (an array of kinds, or 'a,b': only messages of those kinds, and
  // counts of those only); for webPush: serviceWorker (the worker's path, '/pgpush-sw.js'),
  // serviceWorkerScope ('/'), icon (the notifications' default icon URL), subscribeTimeout (ms,
  // 30000: a browser that cannot reach its push service may never answer the subscription)
  constructor(options = {}) {
    this.base = (options.base || '/cgi-bin').replace(/\/+$/, '');
    this.params = Object.assign({}, options.params || {});
    if (options.kinds) this.params.kinds = [].concat(options.kinds).join(',');
    this.kinds = this.params.kinds ? this.params.kinds.split(',') : null;
    // the token goes in an Authorization header, or is traded for a stream ticket: never in a URL
    this._token = this.params.token || null;
    delete this.params.token;
    this.getToken = typeof options.getToken === 'function' ? options.getToken : null;
    this.cookie = !!options.cookie;
    this.transport = options.transport || 'auto';
    this.mqtt = options.mqtt ? { url: options.mqtt, prefix: options.mqttPrefix || 'push', lib: options.mqttLib } : null;
    this._order = this.mqtt ? ['mqtt'].concat(ORDER) : ORDER;
    if (this.transport !== 'auto' && !this._order.includes(this.transport)) throw new Error('pgpush: unknown transport ' + this.transport);
    this.pollInterval = options.pollInterval || 2000;
    this.firstEventTimeout = options.firstEventTimeout || 4000;
    this.hold = options.hold || 25;
    this.shared = options.shared !== false;
    this.cursor = null;             // the last cursor seen: everything up to it has been delivered
    this.unread = null;
    this._socket = null;            // the open push-ws socket of this tab, for mark-read commands
    this.status = { status: 'stopped', transport: null, leader: false };
    this._handlers = {};
    this._seen = new Set();
    this._seenOrder = [];
    this._running = false;
    this._id = ++instances + '-' + Math.random().toString(36).slice(2, 10);
    this._key = this._channelKey();
    this.webPush = new WebPush(this, options);
  }

  // --- events

  on(type, fn) { (this._handlers[type] = this._handlers[type] || []).push(fn); return this; }
  off(type, fn) { this._handlers[type] = (this._handlers[type] || []).filter((f) => f !== fn); return this; }
  _emit(type, value) {
    for (const fn of (this._handlers[type] || []).slice()) {
      try { fn(value); } catch (e) { setTimeout(() => { throw e; }); }
    }
  }

  // --- requests

  _query(extra) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(this.params)) if (v != null) q.set(k, v);
    if (extra) for (const [k, v] of Object.entries(extra)) if (v != null) q.set(k, v);
    return q.toString();
  }
  _url(program, extra) {
    const q = this._query(extra);
    return this.base + '/' + program + (q ? '?' + q : '');
  }

  // a fresh token from getToken, when the page gave one
  async _refreshToken() {
    if (this.getToken) this._token = (await this.getToken()) || null;
  }

  // the BroadcastChannel and lock name: one stream per browser and identity (the token's user
  // field, not the token, so a fresh token of the same user keeps the same stream)
  _channelKey() {
    const who = this._token && /^v1\./.test(this._token) ? '#' + this._token.split('.')[1] : '';
    return 'pgpush:' + location.host + this.base + '?' + this._query(false) + who;
  }

  // fetch with the token as "Authorization: Bearer"; a 401 with getToken is tried once more with
  // a fresh token (a held long poll ends 401 token_expired at the token's expiry)
  async _fetch(program, extra, init = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = Object.assign({}, init.headers || {});
      if (this._token) headers.Authorization = 'Bearer ' + this._token;
      const r = await fetch(this._url(program, extra), Object.assign({ cache: 'no-store', credentials: 'same-origin' }, init, { headers }));
      if (r.status !== 401 || !this.getToken || attempt > 0) return r;
      await this._refreshToken();
    }
  }

  // a short-lived stream ticket (push-poll POST {"ticket": true}) for EventSource, the iframe and
  // WebSocket, which cannot send headers; null when there is no token (REMOTE_USER, the cookie,
  // demo mode): the stream then identifies itself as every request of the page does
  async _ticket() {
    if (!this._token || this.cookie) return null;
    const body = await this._pollPost({ ticket: true }, 'ticket', (b) => b.ticket);
    return body.ticket;
  }

  // a JSON POST to push-poll (marks, tickets, Web Push registration), with the identity every
  // request has (params in the query, the token as a header) and Content-Type application/json:
  // that and the browser's own Origin are what push-poll's cross-site check wants. The answer,
  // or an Error saying what, the status and the server's error (and its message, when it says
  // more than "ok"); good(answer) says whether a 200's answer is one
  async _pollPost(body, what, good) {
    const r = await this._fetch('push-poll', null, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    const answer = await r.json().catch(() => null);
    if (!r.ok || !answer || !good(answer)) {
      const e = new Error(what + ': HTTP ' + r.status + (answer && answer.error ? ' ' + answer.error : '')
        + (answer && answer.error && answer.message ? ' (' + answer.message + ')' : ''));
      e.status = r.status;
      e.code = (answer && answer.error) || null;
      throw e;
    }
    return answer;
  }

  // the initial state: the newest messages, the unread counts and the head cursor (push-poll GET)
  async state() {
    const r = await this._fetch('push-poll');
    const body = await r.json().catch(() => null);
    if (!r.ok || !body) throw new Error('pgpush: state: HTTP ' + r.status + (body && body.error ? ' ' + body.error : ''));
    return body;
  }

  // marks read over the WebSocket when this tab holds one open, else with push-poll's POST
  async _markRequest(body) {
    if (this._socket) {
      const reply = await this._socket.command(Object.assign({ cmd: 'mark' }, body)).catch(() => null);
      if (reply && reply.type === 'ack') return { ok: true, unread: reply.unread };
      if (reply && reply.type === 'error') throw new Error('pgpush: mark: ' + reply.error);
      // the socket closed meanwhile: the POST below
    }
    return this._pollPost(body, 'pgpush: mark', (a) => a.ok);
  }

  async _mark(body, read) {
    const answer = await this._markRequest(body);
    this._post({ t: 'read', read });
    this._emit('read', read);
    this._post({ t: 'unread', cursor: null, unread: answer.unread });
    this._unread(answer.unread);
    return answer;
  }
  markRead(id) { return this._mark({ mark: 'one', id: String(id) }, { id: String(id) }); }
  markUpTo(cursor) { return this._mark({ mark: 'upto', cursor: cursor || this.cursor }, { upto: cursor || this.cursor }); }
  markAll() { return this._mark({ mark: 'all' }, { all: true }); }
  markKind(kind) { return this._mark({ mark: 'kind', kind }, { kind }); }

  // --- life cycle

  async start() {
    if (this._running) return;
    this._running = true;
    this._stopCtl = new AbortController();
    this._setStatus('connecting', null, false);
    this._queue = [];               // events from the leader that arrive before the snapshot
    this._onHide = (e) => { if (!e.persisted) this.stop(); };
    addEventListener('pagehide', this._onHide);
    this.webPush._listen(true);
    let snap = null;
    for (let attempt = 0; this._running && !snap; attempt++) {
      try {
        await this._refreshToken();
        // the channel opens before the snapshot is read: what the leader sends meanwhile is queued
        if (!this._bc && this.shared && typeof BroadcastChannel === 'function') {
          this._key = this._channelKey();
          this._bc = new BroadcastChannel(this._key);
          this._bc.onmessage = (e) => this._fromChannel(e.data);
        }
        snap = await this.state();
      } catch (e) {
        this._emit('error', e);
        this._setStatus('reconnecting', null, this.status.leader);
        await delay(jitter(Math.min(30000, 500 * 2 ** attempt)), this._stopCtl.signal);
      }
    }
    if (!this._running) return;
    for (const m of snap.messages) this._remember(m.id);
    this.cursor = snap.cursor;
    this.user = snap.user;
    this._emit('snapshot', snap);
    this._unread(snap.unread);
    const queued = this._queue;
    this._queue = null;
    for (const d of queued) this._fromChannel(d);
    this._elect();
  }

  stop() {
    if (!this._running) return;
    this._running = false;
    removeEventListener('pagehide', this._onHide);
    this.webPush._listen(false);
    this._stopCtl.abort();
    this._stopTransport();
    if (this.status.leader) this._post({ t: 'resign', id: this._id });
    if (this._releaseLock) this._releaseLock();
    this._releaseLock = null;
    clearInterval(this._leadTimer);
    clearInterval(this._watchTimer);
    if (this._bc) this._bc.close();
    this._bc = null;
    this._setStatus('stopped', null, false);
  }

  _setStatus(status, transport, leader) {
    const s = { status, transport, leader };
    if (s.status === this.status.status && s.transport === this.status.transport && s.leader === this.status.leader) return;
    this.status = s;
    if (leader) this._post({ t: 'state', status, transport });
    this._emit('state', s);
  }

  // --- one stream per browser: leader election

  _elect() {
    if (!this._bc) { this._lead(); return; }
    if (navigator.locks && typeof navigator.locks.request === 'function') {
      navigator.locks.request(this._key, { signal: this._stopCtl.signal }, () => {
        if (!this._running) return undefined;
        this._lead();
        return new Promise((resolve) => { this._releaseLock = resolve; });
      }).catch(() => {});
      this._post({ t: 'hello' });
      return;
    }
    // no Web Locks: elect over the BroadcastChannel. The leader says 'lead' every second; a tab
    // that hears nothing for 2.5 s claims, and the lowest id among simultaneous claims wins.
    this._lastLead = 0;
    this._claims = [];
    this._post({ t: 'hello' });
    const watch = () => {
      if (!this._running || this.status.leader || this._claiming) return;
      if (Date.now() - this._lastLead > 2500) this._claim();
    };
    this._lastLead = Date.now() - 2000;   // wait 0.5-1.5 s for a leader to answer the hello
    this._watchTimer = setInterval(watch, 250 + Math.floor(Math.random() * 250));
  }

  async _claim() {
    this._claiming = true;
    this._claims = [];
    this._post({ t: 'claim', id: this._id });
    await delay(400);
    this._claiming = false;
    if (!this._running || this.status.leader) return;
    const lower = this._claims.some((id) => id < this._id);
    if (lower || Date.now() - this._lastLead < 2500) return;
    this._lead();
    this._leadTimer = setInterval(() => this._post({ t: 'lead', id: this._id }), 1000);
    this._post({ t: 'lead', id: this._id });
  }

  _lead() {
    this._setStatus('connecting', null, true);
    this._runTransports();
  }

  _stepDown() {
    clearInterval(this._leadTimer);
    this._stopTransport();
    this._setStatus('connected', null, false);
  }

  _post(data) {
    if (this._bc) try { this._bc.postMessage(data); } catch (e) { /* closed */ }
  }

  _fromChannel(d) {
    if (!d || !this._running) return;
    if (this._queue && (d.t === 'message' || d.t === 'change' || d.t === 'unread' || d.t === 'read')) { this._queue.push(d); return; }
    switch (d.t) {
      case 'message': if (!this.status.leader) this._deliver(d.cursor, d.message); break;
      case 'change': if (!this.status.leader) this._change(d.type, d.cursor, d.message); break;
      case 'unread': if (!this.status.leader && d.cursor) this.cursor = d.cursor; this._unread(d.unread); break;
      case 'read': this._emit('read', d.read); break;
      case 'state': if (!this.status.leader) this._setStatus(d.status, d.transport, false); break;
      case 'hello':
        if (this.status.leader) this._post({ t: 'state', status: this.status.status, transport: this.status.transport });
        if (this.status.leader && this._leadTimer) this._post({ t: 'lead', id: this._id });
        break;
      case 'lead':
        this._lastLead = Date.now();
        if (this.status.leader && this._leadTimer && d.id < this._id) this._stepDown();
        break;
      case 'claim':
        this._claims && this._claims.push(d.id);
        if (this.status.leader && this._leadTimer) this._post({ t: 'lead', id: this._id });
        break;
      case 'resign': if (!this.status.leader) this._lastLead = 0; break;
    }
  }

  // --- what the transports deliver

  _remember(id) {
    this._seen.add(id);
    this._seenOrder.push(id);
    if (this._seenOrder.length > SEEN_MAX) this._seen.delete(this._seenOrder.shift());
  }

  _deliver(cursor, m) {
    if (cursor) this.cursor = cursor;
    if (!m || this._seen.has(m.id)) return;
    this._remember(m.id);
    if (this.status.leader) this._post({ t: 'message', cursor, message: m });
    this._emit('message', m);
  }

  // an edit ('update': m is the message as it is now) or a retraction or expiry ('delete': m is {id})
  // of a message the page may hold; in stream order with the messages, never de-duplicated away
  _change(type, cursor, m) {
    if (cursor) this.cursor = cursor;
    if (!m || !/^[0-9]+$/.test(m.id)) return;
    if (this.status.leader) this._post({ t: 'change', type, cursor, message: m });
    this._emit(type, m);
  }

  _unread(u) {
    if (!u) return;
    const same = this.unread && JSON.stringify(this.unread) === JSON.stringify(u);
    this.unread = u;
    if (!same) this._emit('unread', u);
  }

  _leaderUnread(cursor, u) {
    if (cursor) this.cursor = cursor;
    this._post({ t: 'unread', cursor, unread: u });
    this._unread(u);
  }

  // --- transports, with fallback and backoff

  _stopTransport() {
    if (this._conn) this._conn.stop();
    this._conn = null;
    clearTimeout(this._retryTimer);
    clearTimeout(this._firstTimer);
    if (this._runCtl) this._runCtl.abort();
  }

  _runTransports() {
    this._runCtl = new AbortController();
    this._index = this.transport === 'auto' ? 0 : this._order.indexOf(this.transport);
    this._errors = 0;
    this._connect();
  }

  // opens the current transport from this.cursor; its first event (every pgpush stream starts with
  // the unread counts) must come within firstEventTimeout, or it is taken as failed (buffered)
  _connect() {
    if (!this._running || !this.status.leader) return;
    const name = this._order[this._index];
    let first = true;
    const conn = { stopped: false };
    this._setStatus(this._errors ? 'reconnecting' : 'connecting', name, true);
    const events = {
      event: (type, cursor, data) => {
        if (conn.stopped) return;
        if (first) {
          first = false;
          clearTimeout(this._firstTimer);
          this._errors = 0;
          this._setStatus('connected', name, true);
        }
        if (type === 'message') this._deliver(cursor || (data && data.cursor), data);
        else if (type === 'update' || type === 'delete') this._change(type, cursor, data);
        else if (type === 'unread') this._leaderUnread(cursor, data);
      },
      // the stream ended normally (SSE/iframe lifetime): reopen at once from the cursor; a
      // server that stops says when to come back (its clients spread over a window)
      ended: (retry) => {
        if (conn.stopped) return;
        conn.stop();
        if (!(retry > 0)) { this._connect(); return; }
        this._setStatus('reconnecting', name, true);
        this._retryTimer = setTimeout(() => this._connect(), Math.min(retry, 600000));
      },
      // retry: the server's own advice (a refusal's retry, Retry-After), in ms
      error: (why, retry) => {
        if (conn.stopped) return;
        conn.stop();
        this._failed(name, first, why, retry);
      },
    };
    let impl = null;
    conn.stop = () => { conn.stopped = true; clearTimeout(this._firstTimer); if (impl) impl.stop(); };
    this._conn = conn;
    clearTimeout(this._firstTimer);
    this._firstTimer = setTimeout(() => events.error('no first event within ' + this.firstEventTimeout + ' ms'), this.firstEventTimeout);
    // a fresh token before every (re)connect; the streams that cannot send headers get a ticket
    (async () => {
      await this._refreshToken();
      return STREAMS.includes(name) ? this._ticket() : null;
    })().then((ticket) => {
      if (!conn.stopped) impl = TRANSPORTS[name](this, events, { ticket });
    }, (e) => events.error('no credentials: ' + e.message));
  }

  _failed(name, beforeFirst, why, retry) {
    this._errors++;
    this._emit('error', new Error('pgpush: ' + name + ': ' + why));
    // refused for now (the database down, the process full, 429): the transport works, so stay on
    // it and come back when the server says (its retry already has jitter in it)
    if (retry > 0) {
      this._setStatus('reconnecting', name, true);
      this._retryTimer = setTimeout(() => this._connect(), Math.min(retry, 600000));
      return;
    }
    const auto = this.transport === 'auto';
    if (auto && this._index < this._order.length - 1 && (beforeFirst || this._errors >= 3)) {
      this._index++;              // fall back to the next transport, from the same cursor
      this._errors = 0;
      this._setStatus('reconnecting', this._order[this._index], true);
      this._retryTimer = setTimeout(() => this._connect(), jitter(300));
      return;
    }
    this._setStatus('reconnecting', name, true);
    const wait = jitter(Math.min(30000, 500 * 2 ** Math.min(this._errors - 1, 6)));
    this._retryTimer = setTimeout(() => this._connect(), wait);
  }
}

// Web Push: the browser's push subscription for this site, kept at push-poll (POST {"webpush": ...}),
// and the service worker pgpush-sw.js that shows what push-webpush sends when no tab is visible
class WebPush {
  constructor(client, options) {
    this.c = client;
    this.script = options.serviceWorker || '/pgpush-sw.js';
    this.scope = options.serviceWorkerScope || '/';
    this.icon = options.icon || null;
    this.subscribeTimeout = options.subscribeTimeout || 30000;
    // from the worker: a push while a tab is visible (only its counts: the message itself comes
    // on the page's own stream), a notification clicked
    this._onMessage = (e) => {
      const d = e.data;
      if (!d || typeof d !== 'object') return;
      if (d.pgpush === 'webpush') {
        const u = d.payload && d.payload.unread;
        if (u && typeof u === 'object' && Number.isFinite(u.total)) this.c._unread(u);
      } else if (d.pgpush === 'opened' && /^[0-9]+$/.test(d.id)) {
        this.c._emit('opened', { id: d.id, url: typeof d.url === 'string' ? d.url : null });
      }
    };
  }

  supported() {
    return typeof navigator !== 'undefined' && !!navigator.serviceWorker && typeof PushManager === 'function'
      && typeof Notification === 'function';
  }

  _listen(on) {
    if (!this.supported()) return;
    if (on) {
      navigator.serviceWorker.addEventListener('message', this._onMessage);
      navigator.serviceWorker.startMessages();   // addEventListener alone does not start them
    } else navigator.serviceWorker.removeEventListener('message', this._onMessage);
  }

  // the worker's URL: push-poll's, with the client's query (?user= in demo mode; never a token),
  // for the marks after a click, and the default icon
  _scriptURL() {
    const u = new URL(this.script, location.href);
    u.searchParams.set('poll', new URL(this.c._url('push-poll'), location.href).href);
    if (this.icon) u.searchParams.set('icon', new URL(this.icon, location.href).href);
    return u.href;
  }

  async _subscription() {
    const reg = await navigator.serviceWorker.getRegistration(new URL(this.scope, location.href).href);
    return { reg, sub: reg && reg.pushManager ? await reg.pushManager.getSubscription() : null };
  }

  async state() {
    if (!this.supported()) return 'unsupported';
    if (Notification.permission === 'denied') return 'denied';
    const { sub } = await this._subscription();
    return sub && Notification.permission === 'granted' ? 'enabled' : 'disabled';
  }

  async enable() {
    const fail = (why) => new Error('pgpush: webPush: ' + why);
    if (!this.supported()) throw fail('this browser cannot show Web Push notifications here (no service workers, Push API or notifications; or the page is not https)');
    // the permission prompt only when the user asked for it (browsers block or demote prompts out
    // of the blue): checked before the first await, while the click's activation is on
    if (!(navigator.userActivation && navigator.userActivation.isActive)) throw fail('enable() must be called from a user gesture (a click handler)');
    const permission = await Notification.requestPermission();
    if (permission === 'denied') throw fail('notifications are blocked for this site (the browser\'s site settings can allow them)');
    if (permission !== 'granted') throw fail('the permission was not given');
    let reg;
    try {
      reg = await navigator.serviceWorker.register(this._scriptURL(), { scope: this.scope });
      await activated(reg);
    } catch (e) {
      throw fail('the service worker ' + this.script + ' did not start: ' + e.message);
    }
    const answer = await this.c._pollPost({ webpush: 'key' }, 'pgpush: webPush: key', (a) => typeof a.key === 'string');
    const key = base64url(answer.key);
    if (!key || key.length !== 65 || key[0] !== 4) throw fail('the server\'s key is not a P-256 public key');
    // a subscription made with another key (the site's VAPID key changed) cannot be used: pushes
    // signed with the new key would be refused by the push service
    let sub = await reg.pushManager.getSubscription();
    if (sub && !sameBytes(sub.options.applicationServerKey, key)) {
      await sub.unsubscribe().catch(() => {});
      sub = null;
    }
    if (!sub) {
      try {
        // a browser whose push service cannot be reached may not answer for long: a bound
        sub = await Promise.race([
          reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }),
          new Promise((resolve, reject) => setTimeout(() => reject(new Error('no answer in ' + this.subscribeTimeout / 1000 + ' s')), this.subscribeTimeout)),
        ]);
      } catch (e) {
        throw fail('the browser\'s push service refused to subscribe: ' + (e.name && e.name !== 'Error' ? e.name + ': ' : '') + e.message);
      }
    }
    try {
      await this.c._pollPost({ webpush: 'subscribe', subscription: sub.toJSON() }, 'pgpush: webPush: subscribe', (a) => a.ok);
    } catch (e) {
      // a subscription push-poll does not know would only ever show 'enabled' wrongly
      await sub.unsubscribe().catch(() => {});
      throw e;
    }
    return this.state();
  }

  // the browser's subscription goes first (the user's wish holds even when push-poll cannot be
  // reached); a subscription push-poll keeps is dropped by push-webpush at its first push anyway
  async disable() {
    if (!this.supported()) return 'unsupported';
    const { sub } = await this._subscription();
    if (sub) {
      const endpoint = sub.endpoint;
      await sub.unsubscribe();
      await this.c._pollPost({ webpush: 'unsubscribe', endpoint }, 'pgpush: webPush: unsubscribe', (a) => a.ok);
    }
    return this.state();
  }
}

// resolves when the registration has an active worker (pushManager.subscribe needs one)
function activated(reg) {
  if (reg.active) return Promise.resolve(reg);
  const w = reg.installing || reg.waiting;
  if (!w) return Promise.reject(new Error('no worker installing'));
  return new Promise((resolve, reject) => {
    w.addEventListener('statechange', () => {
      if (w.state === 'activated') resolve(reg);
      else if (w.state === 'redundant') reject(new Error('the worker failed to install'));
    });
  });
}

function base64url(s) {
  try {
    const b = s.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    const bin = atob(b + '==='.slice((b.length + 3) % 4));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch (e) { return null; }
}

function sameBytes(a, b) {
  if (!a) return false;
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

// A 429 or 503's Retry-After (seconds) in ms, with up to half as much again at random, as the
// servers' refusal streams have; 0 when there is none
function retryAfter(r) {
  const s = (r.status === 429 || r.status === 503) ? parseInt(r.headers.get('Retry-After'), 10) : NaN;
  return s > 0 ? Math.round(s * 1000 * (1 + Math.random() / 2)) : 0;
}

// Each transport: (client, {event(type, cursor, data), ended(retry), error(why, retry)}, {ticket}) -> {stop()}

const TRANSPORTS = {
  // push-ws: JSON text messages {type: open|message|unread|close|ack|error}; commands on the same socket
  ws(c, ev, auth) {
    if (typeof WebSocket !== 'function') { setTimeout(() => ev.error('no WebSocket in this browser')); return { stop() {} }; }
    const url = new URL(c._url('push-ws', { since: c.cursor, ticket: auth.ticket }), location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let sock;
    try { sock = new WebSocket(url.href); } catch (e) { setTimeout(() => ev.error('WebSocket: ' + e.message)); return { stop() {} }; }
    const pending = new Map();     // ref -> resolve, for the commands in flight
    let ref = 0, stopped = false, comeBack = 0;
    const settle = () => { for (const done of pending.values()) done(null); pending.clear(); };
    const socket = {
      command(cmd) {
        if (sock.readyState !== WebSocket.OPEN) return Promise.resolve(null);
        return new Promise((resolve) => {
          const r = ++ref;
          pending.set(r, resolve);
          sock.send(JSON.stringify(Object.assign({ ref: r }, cmd)));
        });
      },
    };
    sock.onmessage = (e) => {
      let d;
      try { d = JSON.parse(e.data); } catch (x) { return; }
      if (!d) return;
      if (d.type === 'message' || d.type === 'update' || d.type === 'delete') ev.event(d.type, d.cursor, d.message);
      else if (d.type === 'unread') ev.event('unread', d.cursor, d.unread);
      else if (d.type === 'open') { c._socket = socket; ev.event('open', null, d); }
      else if (d.type === 'close' && d.retry > 0) comeBack = d.retry; // the server stops (1001)
      else if ((d.type === 'ack' || d.type === 'error') && pending.has(d.ref)) {
        pending.get(d.ref)(d);
        pending.delete(d.ref);
      }
    };
    // any close is retried from our cursor, with backoff: 1001 (the server stops), a proxy's
    // timeout, a network change; 4401 (the token expired) at once with a fresh one from getToken
    sock.onclose = (e) => {
      if (c._socket === socket) c._socket = null;
      settle();
      if (stopped) return;
      if (e.code === 4401 && c.getToken) ev.ended();
      else if (comeBack) ev.ended(comeBack);
      else ev.error('WebSocket closed (' + e.code + (e.reason ? ' ' + e.reason : '') + ')');
    };
    return {
      stop() {
        stopped = true;
        if (c._socket === socket) c._socket = null;
        settle();
        try { sock.close(1000); } catch (e) { /* closing already */ }
      },
    };
  },

  sse(c, ev, auth) {
    const es = new EventSource(c._url('push-sse', { since: c.cursor, ticket: auth.ticket }));
    const parse = (e) => { try { return JSON.parse(e.data); } catch (x) { return null; } };
    es.addEventListener('unread', (e) => ev.event('unread', e.lastEventId || null, parse(e)));
    es.addEventListener('message', (e) => {
      const m = parse(e);
      if (m) ev.event('message', e.lastEventId || m.cursor, m);
    });
    for (const type of ['update', 'delete']) es.addEventListener(type, (e) => ev.event(type, e.lastEventId || null, parse(e)));
    // reason "lifetime" or "token_expired": either way reopen from the cursor (with a fresh token)
    es.addEventListener('close', () => { es.close(); ev.ended(); });
    // the server stops: come back after the time it gives (a bare EventSource does, from retry:)
    es.addEventListener('reconnect', (e) => { const d = parse(e); es.close(); ev.ended(d && d.retry); });
    // we reconnect ourselves, from our own cursor, with our backoff and fallback
    // (a refusal is a 200 stream whose "error" event carries its retry; EventSource fires it here)
    es.onerror = (e) => { const d = e && e.data ? parse(e) : null; es.close(); ev.error(d ? 'refused: ' + d.error : 'EventSource error', d && d.retry); };
    return { stop() { es.close(); } };
  },

  longpoll(c, ev) {
    const ctl = new AbortController();
    (async () => {
      let hold = 1;               // the first answer comes within a second: it proves the path
      while (!ctl.signal.aborted) {
        let r, body;
        try {
          // a poll held past the token's expiry gets 401 token_expired: _fetch asks again with a fresh one
          r = await c._fetch('push-longpoll', { since: c.cursor, timeout: hold }, { signal: ctl.signal });
          body = await r.json();
        } catch (e) {
          if (!ctl.signal.aborted) ev.error('request failed');
          return;
        }
        if (!r.ok || !body) { ev.error('HTTP ' + r.status, retryAfter(r)); return; }
        changes(ev, body);
        ev.event('unread', body.cursor, body.unread);
        hold = c.hold;
      }
    })();
    return { stop() { ctl.abort(); } };
  },

  iframe(c, ev, auth) {
    const name = '__pgpush_' + c._id.replace(/[^A-Za-z0-9_]/g, '_');
    let called = false;
    let watchdog = null;
    const alive = () => {
      clearTimeout(watchdog);        // heartbeats come every PUSH_HEARTBEAT (15) s
      watchdog = setTimeout(() => ev.error('iframe silent'), 45000);
    };
    window[name] = (type, cursor, data) => {
      called = true;
      alive();
      if (type === 'message' || type === 'update' || type === 'delete' || type === 'unread') ev.event(type, cursor, data);
      else if (type === 'open') ev.event('open', null, data);
      else if (type === 'close') { cleanup(); ev.ended(); }
      else if (type === 'reconnect') { cleanup(); ev.ended(data && data.retry); }
      else if (type === 'error') { cleanup(); ev.error('refused: ' + (data && data.error), data && data.retry); } // 429, 503: when told
    };
    const f = document.createElement('iframe');
    f.style.display = 'none';
    f.setAttribute('aria-hidden', 'true');
    f.title = 'pgpush';
    // the document ends after 'close' (handled above) or when the stream broke
    f.addEventListener('load', () => ev.error(called ? 'iframe stream ended' : 'iframe loaded without a callback'));
    f.src = c._url('push-iframe', { callback: name, since: c.cursor, ticket: auth.ticket });
    document.body.appendChild(f);
    function cleanup() {
      clearTimeout(watchdog);
      if (window[name]) delete window[name];
      f.remove();
    }
    return { stop: cleanup };
  },

  poll(c, ev) {
    const ctl = new AbortController();
    let etag = null, etagFor = null;
    (async () => {
      while (!ctl.signal.aborted) {
        const url = c._url('push-poll', { since: c.cursor });
        let r, body = null;
        try {
          const headers = etag && etagFor === url ? { 'If-None-Match': etag } : {};
          r = await c._fetch('push-poll', { since: c.cursor }, { headers, signal: ctl.signal });
          if (r.status !== 304) body = await r.json();
        } catch (e) {
          if (!ctl.signal.aborted) ev.error('request failed');
          return;
        }
        if (r.status === 304) {
          ev.event('unread', null, c.unread);
        } else if (!r.ok || !body) {
          ev.error('HTTP ' + r.status, retryAfter(r));
          return;
        } else {
          etag = r.headers.get('ETag');
          changes(ev, body);
          ev.event('unread', body.cursor, body.unread);
          etagFor = c._url('push-poll', { since: c.cursor });
          if (body.more) continue;
        }
        await delay(c.pollInterval, ctl.signal);
      }
    })();
    return { stop() { ctl.abort(); } };
  },

  // MQTT over WebSockets through Mosquitto and push-mqtt (README "push-mqtt"): the user's topics
  // and the broadcast topic, logging in with the user's token. Subscribes first, then reads what
  // came after the client's cursor over HTTP once (push-poll), so nothing published before the
  // subscription is missed; MQTT messages arriving meanwhile wait for that answer. A message whose
  // id is not above the last one of its topic is a QoS 1 repetition and is dropped. The cursor is
  // advanced per stream: a personal message moves its first part, a broadcast its second (the
  // cursor's text form, README "Why the cursor is exact"), so falling back to another transport
  // resumes exactly.
  mqtt(c, ev) {
    const lib = c.mqtt.lib || globalThis.mqtt;
    const token = c._token;
    if (!lib || typeof lib.connect !== 'function') { setTimeout(() => ev.error('MQTT.js is not loaded')); return { stop() {} }; }
    if (!token || !c.user) { setTimeout(() => ev.error('MQTT needs a token')); return { stop() {} }; }
    const own = c.mqtt.prefix + '/user/' + c.user + '/';
    const all = c.mqtt.prefix + '/broadcast/message';
    const deleted = [own + 'delete', c.mqtt.prefix + '/broadcast/delete'];
    const last = { p: 0n, b: 0n };
    const parts = (c.cursor || '').split('-');
    if (parts.length === 3) { last.p = BigInt('0x' + parts[0]); last.b = BigInt('0x' + parts[1]); }
    const take = (m) => {               // a message not seen yet on its stream goes out with the cursor after it
      const id = BigInt(m.id);
      if (m.broadcast ? id <= last.b : id <= last.p) return;
      if (m.broadcast) last.b = id; else last.p = id;
      ev.event('message', parts.length === 3 ? last.p.toString(16) + '-' + last.b.toString(16) + '-' + parts[2] : m.cursor, m);
    };
    let held = [];                      // MQTT messages before the catch-up answer
    const client = lib.connect(c.mqtt.url, {
      username: c.user, password: token, clean: true, reconnectPeriod: 0, connectTimeout: c.firstEventTimeout,
      clientId: c.user + '/pgpush-' + c._id.replace(/[^A-Za-z0-9]/g, '') + '-' + Math.random().toString(36).slice(2, 8),
    });
    let stopped = false;
    const fail = (why) => { if (!stopped) { stopped = true; client.end(true); ev.error(why); } };
    client.on('message', (topic, payload) => {
      let data;
      try { data = JSON.parse(new TextDecoder().decode(payload)); } catch (e) { return; }
      if (topic === own + 'unread') ev.event('unread', null, data);
      else if (deleted.includes(topic) || (data && data.event === 'update')) {
        // (an edit or a deletion: the cursor stays, for the change's place is not on the topic)
        if (!c.kinds || deleted.includes(topic) || c.kinds.includes(data.kind)) ev.event(deleted.includes(topic) ? 'delete' : 'update', null, data);
        else ev.event('delete', null, { id: data.id });
      } else if ((topic === own + 'message' || topic === all) && data && /^[0-9]+$/.test(data.id)) {
        if (c.kinds && !c.kinds.includes(data.kind)) return;
        if (!held) take(data);
        else if (held.push(data) > 1000) fail('too many messages during the catch-up read');
      }
    });
    client.on('connect', () => {
      client.subscribe([own + 'message', own + 'unread', all].concat(deleted), { qos: 1 }, async (err, granted) => {
        if (stopped) return;
        if (err || !granted || granted.some((g) => g.qos > 2)) { fail('MQTT subscription refused'); return; }
        ev.event('open', null, null);
        try {
          for (let since = c.cursor, more = true; more;) {
            const r = await c._fetch('push-poll', { since });
            const body = await r.json();
            if (!r.ok || !body) throw new Error('HTTP ' + r.status);
            if (stopped) return;
            for (const m of body.messages) take(m);
            for (const x of body.changes || []) ev.event(x.event, null, x.message);
            ev.event('unread', null, body.unread);
            since = body.cursor;
            more = body.more;
          }
        } catch (e) { fail('catch-up read failed'); return; }
        const waiting = held;
        held = null;
        for (const m of waiting) take(m);
      });
    });
    client.on('error', (e) => fail('MQTT ' + (e && e.message ? e.message : 'error')));
    client.on('close', () => fail('MQTT connection closed'));
    return { stop() { stopped = true; client.end(true); } };
  },
};
window.PushClient = PushClient;
})();
