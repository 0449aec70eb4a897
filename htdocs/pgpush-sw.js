// pgpush-sw.js: the pgpush service worker (classic script): shows Web Push messages (push-webpush) as notifications when no tab of the site is visible
//
//   registered by pgpush.js's client.webPush.enable() as
//   /pgpush-sw.js?poll=<push-poll's URL, with its query (?user= in demo mode)>&icon=<a default icon URL>
//
// push                     a page of the scope is visible: no notification, the payload goes to the
//                          pages ({pgpush: 'webpush', payload}: their badges); else a notification,
//                          tagged 'pgpush-' + id (the sender is at-least-once: a repeated push of a
//                          message replaces its notification). Unknown or broken payloads: a generic one.
// notificationclick        marks the message read (push-poll POST {"mark": "one"}), tells the pages
//                          ({pgpush: 'opened', id}), and focuses the tab at its link or opens it
// pushsubscriptionchange   subscribes again with the same key and tells push-poll (best effort)
//
// No imports, no dependencies. Identity: the poll URL's query (demo mode) or the site's cookie; a
// site whose pages send a token as "Authorization: Bearer" has none here, and the mark after a
// click is refused (401): the page marks it when it opens.
'use strict';

const params = new URLSearchParams(self.location.search);
// push-poll, where marks and subscriptions go; only http(s)
const POLL = (() => {
  try {
    const u = new URL(params.get('poll') || '', self.location.href);
    return params.get('poll') && (u.protocol === 'https:' || u.protocol === 'http:') ? u.href : null;
  } catch (e) { return null; }
})();
const ICON = params.get('icon') || undefined;
const SCOPE = self.registration.scope;
// Chrome wants a visible notification for every push when no page is visible: these when the
// payload says nothing usable
const GENERIC_TITLE = 'New notification';
const GENERIC_BODY = 'Open the site to see it.';

// a new version of this file takes over at once: it has no state to hand over
self.addEventListener('install', (event) => event.waitUntil(self.skipWaiting()));
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// the window clients under this worker's scope (includeUncontrolled: a tab loaded before the
// worker was registered is not controlled, and is still the site's tab)
async function windows() {
  const all = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  return all.filter((c) => c.url.startsWith(SCOPE));
}

function tell(clients, data) {
  for (const c of clients) {
    try { c.postMessage(data); } catch (e) { /* the tab is going away */ }
  }
}

// a POST to push-poll as pgpush.js makes it: JSON (with the browser's own Origin, that is what
// push-poll's cross-site check asks), the identity in the URL's query or the cookie
function post(body) {
  if (!POLL) return Promise.reject(new Error('pgpush-sw: no ?poll= URL'));
  return fetch(POLL, {
    method: 'POST', credentials: 'include', cache: 'no-store',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  }).then((r) => {
    if (!r.ok) throw new Error('pgpush-sw: push-poll answered HTTP ' + r.status);
    return r.json();
  });
}

// the payload when it is one this worker understands (version 1, a message), else null
function parse(data) {
  let d = null;
  try { d = data ? data.json() : null; } catch (e) { return null; }
  if (!d || typeof d !== 'object' || d.v > 1 || d.type !== 'message') return null;
  const m = d.message;
  if (!m || typeof m !== 'object' || !/^[0-9]+$/.test(String(m.id))) return null;
  return d;
}

function unreadOf(d) {
  const u = d && d.unread;
  return u && typeof u === 'object' && Number.isFinite(u.total) && u.total >= 0 ? u : null;
}

// the app badge (installed web apps): the unread total; not everywhere, and refused outside an app
function appBadge(u) {
  const nav = self.navigator;
  if (!u || !nav || typeof nav.setAppBadge !== 'function') return Promise.resolve();
  return (u.total > 0 ? nav.setAppBadge(u.total) : nav.clearAppBadge()).catch(() => {});
}

async function onPush(event) {
  const d = parse(event.data);
  const tabs = await windows();
  // every tab hears of it (a hidden one updates its badge too; null: a payload not understood);
  // pgpush.js takes only the counts
  tell(tabs, { pgpush: 'webpush', payload: d });
  await appBadge(unreadOf(d));
  // a tab the user sees shows the message itself, from its own stream: no notification over it
  if (tabs.some((c) => c.visibilityState === 'visible' || c.focused)) return;
  if (!d) {
    await self.registration.showNotification(GENERIC_TITLE, {
      body: GENERIC_BODY, icon: ICON, tag: 'pgpush-generic', data: { id: null, link: null, cursor: null },
    });
    return;
  }
  const m = d.message;
  const when = Date.parse(m.created_at);
  await self.registration.showNotification(typeof m.title === 'string' && m.title ? m.title : GENERIC_TITLE, {
    body: typeof m.body === 'string' ? m.body : '',
    icon: m.data && typeof m.data.icon === 'string' ? m.data.icon : ICON,
    // one notification per message: a second push of the same id replaces the first
    tag: 'pgpush-' + m.id,
    data: { id: String(m.id), link: typeof m.link === 'string' ? m.link : null, cursor: m.cursor || null },
    timestamp: Number.isFinite(when) ? when : Date.now(),
  });
}

self.addEventListener('push', (event) => {
  event.waitUntil(onPush(event).catch((e) => {
    // something went wrong above: still one visible notification, as Chrome requires
    console.warn('pgpush-sw: push:', e);
    return self.registration.showNotification(GENERIC_TITLE, { body: GENERIC_BODY, icon: ICON, tag: 'pgpush-generic' });
  }));
});

// where a click leads: the message's link when it is of this origin or https (never javascript:,
// data: or the like), else the scope's root
function target(link) {
  if (typeof link === 'string' && link) {
    try {
      const u = new URL(link, SCOPE);
      if (u.origin === self.location.origin || u.protocol === 'https:') return u.href;
    } catch (e) { /* not a URL */ }
  }
  return SCOPE;
}

async function focusOrOpen(url) {
  const tabs = await windows();
  // a tab already there gets the focus; with no link, any tab of the site does
  const there = tabs.find((c) => c.url === url) || (url === SCOPE ? tabs[0] : null);
  if (there) return there.focus();
  return self.clients.openWindow(url);
}

// marked read, then the pages told (after the mark, so that a page reading the state sees it),
// with where the click leads
async function markRead(id, url) {
  if (!id) return;
  try {
    await post({ mark: 'one', id: String(id) });
  } finally {
    tell(await windows(), { pgpush: 'opened', id: String(id), url });
  }
}

self.addEventListener('notificationclick', (event) => {
  const n = event.notification;
  const data = (n && n.data) || {};
  if (n) n.close();
  // the window first: the browser allows focus() and openWindow() only right after the click
  const url = target(data.link);
  const opening = focusOrOpen(url).catch((e) => console.warn('pgpush-sw: open:', e));
  const marking = markRead(data.id, url).catch((e) => console.warn('pgpush-sw: mark read:', e));
  // waitUntil throws for an event the browser did not dispatch itself (a test's, a script's):
  // the work above has started anyway and runs while the worker lives
  try { event.waitUntil(Promise.all([opening, marking])); } catch (e) { /* untrusted event */ }
});

function keyOf(sub) {
  return sub && sub.options && sub.options.applicationServerKey;
}

// the push service replaced or dropped the subscription: a new one with the same key, and
// push-poll told of it (Chrome does not fire this today; Firefox does)
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription || null;
    let sub = event.newSubscription || null;
    if (!sub) {
      let key = keyOf(old);
      if (!key) key = (await post({ webpush: 'key' })).key;
      sub = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    }
    await post({ webpush: 'subscribe', subscription: sub.toJSON() });
    if (old && old.endpoint && old.endpoint !== sub.endpoint) await post({ webpush: 'unsubscribe', endpoint: old.endpoint });
  })().catch((e) => console.warn('pgpush-sw: pushsubscriptionchange:', e)));
});
