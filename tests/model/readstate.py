#!/usr/bin/python3
"""readstate.py: every user's read state checked against a reference model, step by step.

The model below is written from README's definitions ("The SQL API", push-poll's POST), not from
the SQL: a user sees their own messages and the broadcasts; a message is read when it is at or
below the user's watermark of its stream (personal or broadcast), or at or below the user's
watermark of its kind for that stream, or marked read on its own. Everything the programs answer
is derived from that.

A seeded random sequence of operations is applied to a real PostgreSQL through every write path:
the SQL functions, push-poll's POST (through nginx), push-ws's commands, an admin's plain SQL
(INSERT of one or several rows, UPDATE, DELETE), the MQTT bridge's acknowledgements
(push.mqtt_ack), and operations on ids of other users or of no message. After every step, for
every user: push.unread, push.state, push.messages_newest and push.messages_after (ids, read
flags, positions), push.mqtt_acked of every stream, and push-poll's answer with If-None-Match
(a 304 only when the answer is unchanged) equal the model, and a step that does not concern a
user leaves what that user's ETag is made of (push.state's heads and versions) alone. Live clients
(an SSE stream that resumes with Last-Event-ID whenever it ends, a WebSocket and an MQTT
subscriber per user) stay connected throughout: after each batch their last unread counts equal the model, and the
messages each received are in order, never repeated, never another user's, and include every
message of theirs that still exists.

On a failure it prints the seed, the step and a shortened sequence that still fails (replayed on
an emptied database, without the live clients).

    readstate.py --steps N --seed S --base http://127.0.0.1:PORT --ws 127.0.0.1:PORT --bin TOOLS-DIR
                 [--batch K] [--no-live] [--http-every N]

The database comes from libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE).
"""
import argparse
import base64
import collections
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import psycopg2

USERS = ["alice", "bob", "carol", "zoë"]
KINDS = ["notice", "comment", "system", "alert.x"]
UNKNOWN_KIND = "never-sent"
MAX_MESSAGES = 150        # past it, an admin DELETE of old messages is likely: the table stays small
LIMIT = 200               # push-poll's limit: every message of the test is in the answer


class Failure(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# The reference model

class Model:
    def __init__(self):
        self.msgs = {}                                  # id -> (recipient or None, kind)
        self.kinds = {"notice", "system"}               # push.kind: the two defaults and every kind sent
        self.wm = {u: [0, 0] for u in USERS}            # watermark (personal, broadcast)
        self.kwm = {u: {} for u in USERS}               # kind -> [personal, broadcast]
        self.single = {u: set() for u in USERS}         # single marks
        self.acked = {}                                 # MQTT stream -> last acknowledged id
        self.last = {}                                  # stream (recipient, None: broadcasts) -> last id drawn
        self.changes = []                               # the change log: (id, recipient, message id, op)

    def visible(self, u):
        return sorted(i for i, (r, _) in self.msgs.items() if r is None or r == u)

    def is_read(self, u, i):
        r, kind = self.msgs[i]
        s = 1 if r is None else 0
        kw = self.kwm[u].get(kind, [0, 0])
        return i <= self.wm[u][s] or i <= kw[s] or i in self.single[u]

    def unread(self, u):
        c = collections.Counter(self.msgs[i][1] for i in self.visible(u) if not self.is_read(u, i))
        return {"total": sum(c.values()), "by_kind": dict(c)}

    def head(self, u):
        """the last id drawn in each of u's streams: a message's or a change's"""
        return self.last.get(u, 0), self.last.get(None, 0)

    def pos(self, u, i):
        """the cursor just after message i in u's stream"""
        if self.msgs[i][0] is None:
            return max((j for j, (r, _) in self.msgs.items() if r == u and j < i), default=0), i
        return i, max((j for j, (r, _) in self.msgs.items() if r is None and j < i), default=0)

    def row(self, u, i):
        return (i, self.msgs[i][0] is None, self.msgs[i][1], self.is_read(u, i)) + self.pos(u, i)

    def newest(self, u, lim):
        return [self.row(u, i) for i in self.visible(u)[-lim:]]

    def after(self, u, p, b, lim):
        """messages_after's entries: the new messages, and the last change after the cursor of
        each message at or below it (among the first lim changes of each stream), in stream
        order; a change as (id, broadcast, op)"""
        entries = []
        for r, c in ((u, p), (None, b)):
            new = [i for i in self.visible(u) if self.msgs[i][0] == r and i > c][:lim]
            entries += [(i, self.row(u, i) + ("message",)) for i in new]
        last = {}
        for r, c in ((u, p), (None, b)):
            for cid, _, mid, _ in [x for x in self.changes if x[1] == r and x[0] > c and x[2] <= c][:lim]:
                last[mid] = max(last.get(mid, 0), cid)
        for mid, cid in last.items():
            r = next(x[1] for x in self.changes if x[0] == cid)
            entries.append((cid, (mid, r is None, "update" if mid in self.msgs else "delete")))
        return [e for _, e in sorted(entries)[:lim]]

    # writes; each returns what the SQL function returns
    def insert(self, rows_with_ids):
        for i, r, kind in rows_with_ids:
            self.msgs[i] = (r, kind)
            self.kinds.add(kind)
            self.last[r] = max(self.last.get(r, 0), i)

    def log(self, cid, r, mid, op):
        """a change drawn in r's stream (what push.change holds: read back, as an INSERT's id)"""
        self.changes.append((cid, r, mid, op))
        self.last[r] = max(self.last.get(r, 0), cid)

    def delete(self, ids):
        for i in ids:
            self.msgs.pop(i, None)
            for u in USERS:
                self.single[u].discard(i)               # message_read rows go with the message

    def mark_one(self, u, i):
        if i not in self.msgs or self.msgs[i][0] not in (None, u):
            return False
        self.single[u].add(i)
        return True

    def mark_upto(self, u, p, b):
        self.wm[u] = [max(self.wm[u][0], p), max(self.wm[u][1], b)]

    def mark_all(self, u):
        self.mark_upto(u, *self.head(u))

    def mark_kind(self, u, kind, p=None, b=None):
        if kind not in self.kinds:
            return False
        if p is None:
            p, b = self.head(u)
        old = self.kwm[u].get(kind, [0, 0])
        self.kwm[u][kind] = [max(old[0], p), max(old[1], b)]
        return True

    def mqtt_ack(self, stream, i):
        self.acked[stream] = max(self.acked.get(stream, 0), i)


# ------------------------------------------------------------------------------------------------
# Clients: push-poll over HTTP, a WebSocket (RFC 6455, enough for push-ws), an SSE stream

def parse_cursor(c):
    p, b, _ = c.split("-")
    return int(p, 16), int(b, 16)


def check_cursor(msg, event_cursor):
    """a delivered message's cursor is the position just after it: its id on its own stream, below
    it on the other, and the event's own cursor (SSE id:, the WebSocket event's cursor) is the same"""
    p, b = parse_cursor(msg["cursor"])
    i = int(msg["id"])
    ok = (b == i and p < i) if msg["broadcast"] else (p == i and b < i)
    return [] if ok and event_cursor == msg["cursor"] else [(i, msg["cursor"], event_cursor)]


class Poll:
    def __init__(self, base, tokens):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.tokens = tokens

    def request(self, method, user, path, body=None, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=20)
        h = {"Authorization": "Bearer " + self.tokens[user]}
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body)
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        etag = r.getheader("ETag")
        c.close()
        return r.status, etag, (json.loads(data) if data else None)


class WebSocket:
    """one push-ws socket: a reader thread keeps the events; commands wait for their answer"""

    def __init__(self, hostport, user, token):
        host, port = hostport.rsplit(":", 1)
        self.user = user
        self.sock = socket.create_connection((host, int(port)), timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /cgi-bin/push-ws?token={urllib.parse.quote(token)} HTTP/1.1\r\n"
                           f"Host: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise Failure(f"push-ws closed the handshake of {user}")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise Failure(f"push-ws refused {user}: {head.decode(errors='replace').splitlines()[0]}")
        self.sock.settimeout(None)
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.events, self.answers, self.closed = [], {}, None
        self.ref = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        with self.lock:
            self.sock.sendall(head + mask + bytes(c ^ mask[k % 4] for k, c in enumerate(payload)))

    def _read(self):
        try:
            message = b""
            while True:
                b0, b1 = self._exact(2)
                n = b1 & 127
                if n == 126:
                    n = int.from_bytes(self._exact(2), "big")
                elif n == 127:
                    n = int.from_bytes(self._exact(8), "big")
                payload = self._exact(n)
                op = b0 & 15
                if op == 9:
                    self._send(10, payload)
                elif op == 8:
                    raise EOFError
                elif op in (0, 1):
                    message += payload
                    if b0 & 0x80:
                        ev = json.loads(message)
                        message = b""
                        with self.cond:
                            if ev.get("type") in ("ack", "error") and "ref" in ev:
                                self.answers[ev["ref"]] = ev
                            else:
                                self.events.append(ev)
                            self.cond.notify_all()
        except (EOFError, OSError) as e:
            with self.cond:
                self.closed = repr(e)
                self.cond.notify_all()

    def command(self, cmd):
        self.ref += 1
        ref = self.ref
        self._send(1, json.dumps(dict(cmd, ref=ref)).encode())
        with self.cond:
            if not self.cond.wait_for(lambda: ref in self.answers or self.closed, timeout=20):
                raise Failure(f"push-ws: no answer to {cmd} of {self.user}")
            if ref not in self.answers:
                raise Failure(f"push-ws: the socket of {self.user} closed ({self.closed})")
            return self.answers.pop(ref)

    def received(self):
        """(the last unread counts, the ids of the messages in the order they came)"""
        with self.cond:
            unread = [e["unread"] for e in self.events if e["type"] == "unread"]
            msgs = [e for e in self.events if e["type"] == "message"]
            ids = [int(e["message"]["id"]) for e in msgs]
            bad = [b for e in msgs for b in check_cursor(e["message"], e.get("cursor"))]
            bad += [b for e in self.events if e["type"] == "update"
                    for b in check_cursor(e["message"], e["message"]["cursor"])]
            return (unread[-1] if unread else None), ids, self.closed or (f"bad cursors: {bad}" if bad else None)

    def deletes(self):
        with self.cond:
            return {int(e["message"]["id"]) for e in self.events if e["type"] == "delete"}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class SSE:
    """one push-sse stream through the web server, as an EventSource: when the stream ends at its
    lifetime it reconnects with Last-Event-ID, the last id it saw (so resuming is checked as well)"""

    def __init__(self, base, user, token):
        u = urllib.parse.urlsplit(base)
        self.user, self.host, self.port, self.token = user, u.hostname, u.port, token
        self.cond = threading.Condition()
        self.unread, self.ids, self.closed, self.bad = None, [], None, []
        self.deleted = set()
        self.last_id, self.reconnects, self.stopped = None, 0, False
        resp = self._connect()
        threading.Thread(target=self._read, args=(resp,), daemon=True).start()

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=None)
        headers = {"Authorization": "Bearer " + self.token}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        self.conn.request("GET", "/ext/push-sse", headers=headers)
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise Failure(f"push-sse answered {resp.status} to {self.user}")
        return resp

    def _read(self, resp):
        try:
            while True:
                ended = self._events(resp)
                if self.stopped or ended != "lifetime":
                    raise EOFError(ended)
                self.reconnects += 1
                resp = self._connect()
        except (EOFError, OSError, ValueError, Failure) as e:
            with self.cond:
                self.closed = self.closed or repr(e)
                self.cond.notify_all()

    def _events(self, resp):
        """reads one response to its end; returns the close event's reason, or None"""
        event, data, sse_id = None, [], None
        while True:
            line = resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                with self.cond:
                    if sse_id is not None:
                        self.last_id = sse_id               # what an EventSource sends back
                    if event == "unread":
                        self.unread = json.loads("\n".join(data))
                    elif event == "message":
                        msg = json.loads("\n".join(data))
                        self.ids.append(int(msg["id"]))
                        self.bad += check_cursor(msg, sse_id)
                    elif event == "update":             # its cursor is its own place, as it came
                        msg = json.loads("\n".join(data))
                        self.bad += check_cursor(msg, msg["cursor"])
                    elif event == "delete":
                        self.deleted.add(int(json.loads("\n".join(data))["id"]))
                    elif event == "close":
                        return json.loads("\n".join(data)).get("reason")
                    elif event is not None:
                        self.closed = event + " " + "\n".join(data)
                    self.cond.notify_all()
                event, data, sse_id = None, [], None
            elif line.startswith("id: "):
                sse_id = line[4:]
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])

    def received(self):
        with self.cond:
            return self.unread, list(self.ids), self.closed or (f"bad cursors: {self.bad}" if self.bad else None)

    def deletes(self):
        with self.cond:
            return set(self.deleted)

    def close(self):
        self.stopped = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class MQTT:
    """one user's MQTT subscriber (mosquitto_sub, QoS 1): their messages, the broadcasts, their
    retained counts. Messages are rebuilt with README's client rule: a message whose id is not above
    the last one seen on its topic is dropped (the bridge repeats only what it had no PUBACK for)."""

    def __init__(self, port, user, token):
        self.user = user
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-i", f"{user}/model", "-u", user,
             "-P", token, "-q", "1", "-v", "-t", f"push/user/{user}/message",
             "-t", f"push/user/{user}/unread", "-t", "push/broadcast/message",
             "-t", f"push/user/{user}/delete", "-t", "push/broadcast/delete"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.cond = threading.Condition()
        self.unread, self.ids, self.last, self.closed = None, [], {}, None
        self.deleted = set()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.decode().rstrip("\n").partition(" ")
            with self.cond:
                if topic.endswith("/unread"):
                    self.unread = json.loads(payload)
                elif topic.endswith("/delete"):
                    self.deleted.add(int(json.loads(payload)["id"]))
                elif json.loads(payload).get("event") == "update":
                    pass                                # (an edit: the message as it is now)
                else:
                    i = int(json.loads(payload)["id"])
                    if i > self.last.get(topic, 0):
                        self.last[topic] = i
                        self.ids.append(i)
                self.cond.notify_all()
        with self.cond:
            self.closed = "mosquitto_sub ended: " + self.proc.stderr.read().decode(errors="replace")

    def received(self):
        with self.cond:
            # the two topics are not ordered with each other: the order is checked per topic above
            return self.unread, sorted(self.ids), self.closed

    def deletes(self):
        with self.cond:
            return set(self.deleted)

    def close(self):
        self.proc.kill()
        self.proc.wait()


# ------------------------------------------------------------------------------------------------
# Operations. Each is data (so a failing sequence can be replayed and shortened): messages are
# named by their insertion ordinal, which the run maps to the id PostgreSQL gave them.

def random_op(rng, n_inserted, n_present, bridge):
    u = rng.choice(USERS)
    r = rng.random()
    anyone = lambda: rng.choice(USERS + [None])        # noqa: E731  (None: a broadcast)
    if n_present > MAX_MESSAGES and r < 0.3:
        return ("admin_delete_old", rng.randrange(1, 20))
    if r < 0.30:
        rows = [(anyone(), rng.choice(KINDS)) for _ in range(rng.choice([1, 1, 1, 2, 3, 5]))]
        return ("insert", rows, rng.choice(["send", "plain"]))
    path = rng.choice(["sql", "post", "ws"])
    ordinal = rng.randrange(n_inserted + 3) if n_inserted else 0  # past the end: no such message
    if r < 0.45:
        return ("mark_one", u, ordinal, path)
    if r < 0.55:
        return ("mark_upto", u, ordinal, rng.random(), path)
    if r < 0.62:
        return ("mark_all", u, path)
    if r < 0.74:
        kind = rng.choice(KINDS + [UNKNOWN_KIND])
        return ("mark_kind", u, kind, rng.choice([None, ordinal]), path)
    if r < 0.80:
        return ("admin_update", ordinal)
    if r < 0.85:
        return ("admin_delete", ordinal)
    if r < 0.90:
        if bridge:                                      # the real bridge writes push.mqtt_cursor
            return ("mark_all", u, path)
        return ("mqtt_ack", rng.choice(USERS + [""]), ordinal)
    if r < 0.95:
        return ("mark_upto_future", u, rng.choice(["personal", "broadcast"]), path)
    return ("mark_cursor_of_other", u, rng.choice([v for v in USERS if v != u]), path)


class Run:
    def __init__(self, args, live):
        self.args = args
        self.db = psycopg2.connect("")
        self.db.autocommit = True
        self.model = Model()
        self.ids = []                                   # ordinal -> id
        self.tokens = {u: subprocess.check_output([os.path.join(args.bin, "push-token"), "--ttl", "7200", u],
                                                  env=dict(os.environ, PUSH_TOKEN_SECRET=args.secret)).decode().strip()
                       for u in USERS}
        self.poll = Poll(args.base, self.tokens)
        self.tag = {}
        self.etag, self.answer = {}, {}
        self.sse, self.ws, self.mqtt = {}, {}, {}
        self.start_head = {}
        if live:
            for u in USERS:
                self.start_head[u] = self.model.head(u)
                self.sse[u] = SSE(args.base, u, self.tokens[u])
                self.ws[u] = WebSocket(args.ws, u, self.tokens[u])
                if args.mqtt:
                    self.mqtt[u] = MQTT(args.mqtt, u, self.tokens[u])
        else:
            for u in USERS:                              # commands still go through push-ws
                self.ws[u] = WebSocket(args.ws, u, self.tokens[u])
        for u in USERS:
            st, etag, body = self.poll.request("GET", u, f"/ext/push-poll?limit={LIMIT}")
            if st != 200:
                raise Failure(f"push-poll answered {st} to {u}: {body}")
            self.tag[u] = body["cursor"].split("-")[2]
            self.etag[u], self.answer[u] = etag, body

    def close(self):
        for c in list(self.sse.values()) + list(self.ws.values()) + list(self.mqtt.values()):
            c.close()

    def sql(self, q, *a):
        with self.db.cursor() as c:
            c.execute(q, a)
            return c.fetchall() if c.description else None

    def cursor_text(self, u, p, b):
        return f"{p:x}-{b:x}-{self.tag[u]}"

    def id_of(self, ordinal):
        """the id of the ordinal-th message sent; an id no message has for an ordinal past the end"""
        return self.ids[ordinal] if ordinal < len(self.ids) else (max(self.ids, default=0) + 1000 + ordinal)

    # -- one step; returns the users it may concern (None: everyone)
    def apply(self, op):
        m, kind = self.model, op[0]
        if kind == "insert":
            rows, how = op[1], op[2]
            if how == "send" and len(rows) == 1:
                r, k = rows[0]
                got = self.sql("SELECT push.send(%s, 'model', '', %s)", r, k)
                new = [(got[0][0], r, k)]
            else:                                       # one statement, several rows
                vals = ",".join(["(%s, %s, 'model')"] * len(rows))
                flat = [x for row in rows for x in row]
                got = self.sql(f"INSERT INTO push.message (recipient, kind, title) VALUES {vals} RETURNING id, recipient, kind", *flat)
                new = [tuple(g) for g in got]
            self.ids += [g[0] for g in new]
            m.insert(new)
            return None if any(g[1] is None for g in new) else {g[1] for g in new}
        if kind in ("admin_delete", "admin_delete_old", "admin_update"):
            before = self.sql("SELECT coalesce(max(id), 0) FROM push.change")[0][0]
            if kind == "admin_delete_old":
                gone = [g[0] for g in self.sql("DELETE FROM push.message WHERE id IN (SELECT id FROM push.message ORDER BY id LIMIT %s) RETURNING id", op[1])]
                want = {(i, m.msgs[i][0], "delete") for i in gone}
                m.delete(gone)
            elif kind == "admin_delete":
                gone = [g[0] for g in self.sql("DELETE FROM push.message WHERE id = %s RETURNING id", self.id_of(op[1]))]
                want = {(i, m.msgs[i][0], "delete") for i in gone}
                m.delete(gone)
            else:
                i = self.id_of(op[1])
                self.sql("UPDATE push.message SET title = title || '.' WHERE id = %s", i)
                want = {(i, m.msgs[i][0], "update")} if i in m.msgs else set()
            # the change log: one entry per message changed, in the message's own stream
            logged = self.sql("SELECT id, recipient, message_id, op FROM push.change WHERE id > %s ORDER BY id", before)
            if {(mid, r, o) for _, r, mid, o in logged} != want or len(logged) != len(want):
                raise Failure(f"{kind}: push.change got {logged}, the model says one entry each of {want}")
            for cid, r, mid, o in logged:
                m.log(cid, r, mid, o)
            return None                                 # an edit or deletion changes every ETag (documented)
        if kind == "mqtt_ack":
            self.sql("SELECT push.mqtt_ack(%s, %s)", op[1], self.id_of(op[2]))
            m.mqtt_ack(op[1], self.id_of(op[2]))
            return set()
        u, path = op[1], op[-1]
        if kind == "mark_one":
            i = self.id_of(op[2])
            want = m.mark_one(u, i)
            self.mark(u, path, {"mark": "one", "id": str(i)}, ("sql", "SELECT push.mark_read(%s, %s)", u, i),
                      ok=want, err="not_found")
        elif kind == "mark_upto":
            p, b = self.cursor_near(u, op[2], op[3])
            m.mark_upto(u, p, b)
            self.mark(u, path, {"mark": "upto", "cursor": self.cursor_text(u, p, b)},
                      ("sql", "SELECT push.mark_read_upto(%s, %s, %s)", u, p, b))
        elif kind == "mark_all":
            m.mark_all(u)
            self.mark(u, path, {"mark": "all"}, ("sql", "SELECT push.mark_all_read(%s)", u))
        elif kind == "mark_kind":
            k, ordinal = op[2], op[3]
            if ordinal is None:
                want = m.mark_kind(u, k)
                self.mark(u, path, {"mark": "kind", "kind": k}, ("sql", "SELECT push.mark_kind_read(%s, %s)", u, k),
                          ok=want, err="unknown_kind")
            else:
                p, b = self.cursor_near(u, ordinal, 0.5)
                want = m.mark_kind(u, k, p, b)
                self.mark(u, path, {"mark": "kind", "kind": k, "cursor": self.cursor_text(u, p, b)},
                          ("sql", "SELECT push.mark_kind_read(%s, %s, %s, %s)", u, k, p, b), ok=want, err="unknown_kind")
        elif kind == "mark_upto_future":
            last = self.sql("SELECT last_id FROM push.state(%s)", u)[0][0]
            if path != "sql":                           # the SQL functions take any numbers; the programs refuse
                p, b = (last + 5, 0) if op[2] == "personal" else (0, last + 5)
                self.mark(u, path, {"mark": "upto", "cursor": self.cursor_text(u, p, b)}, None,
                          ok=False, err="cursor_future")
            return set()
        elif kind == "mark_cursor_of_other":
            v = op[2]
            if path != "sql":
                p, b = m.head(v)
                self.mark(u, path, {"mark": "upto", "cursor": self.cursor_text(v, p, b)}, None,
                          ok=False, err="cursor_user")
            return set()
        return {u}

    def cursor_near(self, u, ordinal, frac):
        """a valid cursor of u: the position after a message of u's stream, or the head, or 0-0"""
        vis = self.model.visible(u)
        if not vis or frac < 0.1:
            return (0, 0) if frac < 0.05 else self.model.head(u)
        return self.model.pos(u, vis[int(frac * len(vis)) % len(vis)])

    def mark(self, u, path, body, sql, ok=True, err=None):
        want_unread = self.model.unread(u)
        if path == "sql":
            if sql is None:
                return
            got = self.sql(sql[1], *sql[2:])
            val = got[0][0] if got else None
            if val is not None and isinstance(val, bool) and val != ok:
                raise Failure(f"{sql[1]} {sql[2:]} returned {val}, the model says {ok}")
            return
        if path == "post":
            st, _, ans = self.poll.request("POST", u, "/ext/push-poll", body)
            if ok and (st != 200 or ans.get("unread") != want_unread):
                raise Failure(f"POST {body} as {u}: {st} {ans}; the model says 200 with unread {want_unread}")
            if not ok and (st == 200 or ans.get("error") != err):
                raise Failure(f"POST {body} as {u}: {st} {ans}; the model says {err}")
            return
        ans = self.ws[u].command(dict(body, cmd="mark"))
        if ok and (ans.get("type") != "ack" or ans.get("unread") != want_unread):
            raise Failure(f"push-ws {body} as {u}: {ans}; the model says ack with unread {want_unread}")
        if not ok and (ans.get("type") != "error" or ans.get("error") != err):
            raise Failure(f"push-ws {body} as {u}: {ans}; the model says error {err}")

    # -- checks
    def check_sql(self, rng):
        m = self.model
        for u in USERS:
            got = {k: n for k, n in self.sql("SELECT kind, n FROM push.unread(%s)", u)}
            want = m.unread(u)["by_kind"]
            if got != want:
                raise Failure(f"push.unread({u}) = {got}, the model says {want}")
            p, b = self.sql("SELECT p, b FROM push.state(%s)", u)[0]
            if (p, b) != m.head(u):
                raise Failure(f"push.state({u}) head = {(p, b)}, the model says {m.head(u)}")
            got = [tuple(r) for r in self.sql("SELECT id, broadcast, kind, read, pos_p, pos_b FROM push.messages_newest(%s, %s)", u, LIMIT)]
            if got != m.newest(u, LIMIT):
                raise Failure(f"push.messages_newest({u}) differs from the model:\n  got  {got}\n  want {m.newest(u, LIMIT)}")
            cp, cb = self.cursor_near(u, rng.randrange(1000), rng.random())
            lim = rng.choice([1, 3, LIMIT])
            got = [tuple(r[:7]) if r[6] == "message" else (r[0], r[1], r[6]) for r in
                   self.sql("SELECT id, broadcast, kind, read, pos_p, pos_b, op FROM push.messages_after(%s, %s, %s, %s) WHERE op <> 'head'", u, cp, cb, lim)]
            if got != m.after(u, cp, cb, lim):
                raise Failure(f"push.messages_after({u}, {cp}, {cb}, {lim}) differs from the model:\n  got  {got}\n  want {m.after(u, cp, cb, lim)}")
        if self.args.mqtt:
            return                                      # the bridge moves push.mqtt_cursor as it publishes
        got = {s: a for s, a in self.sql("SELECT stream, acked FROM push.mqtt_cursor WHERE acked > 0")}
        want = {s: a for s, a in m.acked.items() if a > 0}
        if got != want:
            raise Failure(f"push.mqtt_cursor = {got}, the model says {want}")

    def expected_answer(self, u):
        m = self.model
        return (m.unread(u), self.cursor_text(u, *m.head(u)),
                [(str(i), bc, k, rd, self.cursor_text(u, p, b)) for i, bc, k, rd, p, b in m.newest(u, LIMIT)])

    @staticmethod
    def answer_of(body):
        return (body["unread"], body["cursor"],
                [(x["id"], x["broadcast"], x["kind"], x["read"], x["cursor"]) for x in body["messages"]])

    def etag_state(self):
        """what every user's ETag is made of, besides the request: push.state's heads and versions"""
        return {u: self.sql("SELECT p, b, read_version, content_version FROM push.state(%s)", u)[0] for u in USERS}

    def check_untouched(self, before, concerned):
        """a step that did not concern a user leaves what their ETag is made of as it was"""
        after = self.etag_state()
        for u in USERS:
            if (concerned is not None and u not in concerned) and before[u] != after[u]:
                raise Failure(f"a step that did not concern {u} changed their state (heads, read "
                              f"version, content version): {before[u]} -> {after[u]}")
        return after

    def check_poll(self):
        """push-poll's answer equals the model, and If-None-Match gets 304 only when it is unchanged
        (a change shows once its notification has reached push-poll's state cache: about a
        millisecond; waited for up to 5 s)"""
        for u in USERS:
            want = self.expected_answer(u)
            deadline = time.monotonic() + 5
            while True:
                st, etag, body = self.poll.request("GET", u, f"/ext/push-poll?limit={LIMIT}",
                                                   headers={"If-None-Match": self.etag[u]})
                if st == 304:
                    got = self.answer_of(self.answer[u])
                    if etag is not None and etag != self.etag[u]:
                        raise Failure(f"push-poll 304 for {u} with another ETag {etag} (asked {self.etag[u]})")
                elif st == 200:
                    got = self.answer_of(body)
                else:
                    raise Failure(f"push-poll answered {st} to {u}: {body}")
                if got == want:
                    break
                if time.monotonic() > deadline:
                    raise Failure(f"push-poll's answer to {u} ({'304' if st == 304 else '200'}) differs from the model:\n"
                                  f"  got  {got}\n  want {want}")
                time.sleep(0.01)
            if st == 200:
                self.etag[u], self.answer[u] = etag, body

    def check_live(self, ever_visible):
        """each live client's counts equal the model; its messages came once each, in order, none
        of another user's, and none of u's that still exists is missing"""
        m = self.model
        for u in USERS:
            want_unread = m.unread(u)
            sp, sb = self.start_head[u]                 # the streams start from the head at connect
            must = [i for i in m.visible(u) if i > (sb if m.msgs[i][0] is None else sp)]
            clients = [("SSE", self.sse[u]), ("WebSocket", self.ws[u])]
            if u in self.mqtt:
                clients.append(("MQTT", self.mqtt[u]))
            for name, client in clients:
                deadline = time.monotonic() + 10
                while True:
                    unread, ids, closed = client.received()
                    # every message it was shown that is gone now got its delete event, and no
                    # message that still exists did
                    gone = {i for i in ids if i not in m.msgs}
                    deleted = client.deletes()
                    if unread == want_unread and set(must) <= set(ids) and gone <= deleted:
                        break
                    if closed or time.monotonic() > deadline:
                        raise Failure(f"{name} client of {u}: unread {unread}, the model says {want_unread}; "
                                      f"missing {sorted(set(must) - set(ids))}; deleted without a delete "
                                      f"event {sorted(gone - deleted)}; closed: {closed}")
                    time.sleep(0.02)
                wrong = {i for i in client.deletes() if i in m.msgs}
                if wrong:
                    raise Failure(f"{name} client of {u}: delete events for messages that exist: {sorted(wrong)}")
                if closed:                              # ended, or delivered a wrong cursor
                    raise Failure(f"{name} client of {u}: {closed}")
                if ids != sorted(set(ids)):
                    raise Failure(f"{name} client of {u}: messages out of order or repeated: {ids}")
                foreign = [i for i in ids if i not in ever_visible[u]]
                if foreign:
                    raise Failure(f"{name} client of {u} received messages not theirs: {foreign}")


def run(args, ops_given=None, live=True):
    """runs a sequence (generated from the seed, or given); returns (steps done, ops, failure or None)"""
    rng = random.Random(args.seed)
    check_rng = random.Random(args.seed ^ 0x5eed)
    r = None
    ops = []
    try:
        reset_database()
        r = Run(args, live)
        ever = {u: set() for u in USERS}
        etag_state = r.etag_state()
        n = len(ops_given) if ops_given is not None else args.steps
        for step in range(n):
            op = ops_given[step] if ops_given is not None else \
                random_op(rng, len(r.ids), len(r.model.msgs), bool(args.mqtt))
            ops.append(op)
            try:
                concerned = r.apply(op)
                etag_state = r.check_untouched(etag_state, concerned)
                for u in USERS:
                    ever[u].update(r.model.visible(u))
                r.check_sql(check_rng)
                if step % args.http_every == 0:
                    r.check_poll()
                if live and (step + 1) % args.batch == 0:
                    r.check_live(ever)
            except Failure as e:
                return step + 1, ops, str(e)
        if live:
            r.check_live(ever)
        return n, ops, None
    except Failure as e:
        return len(ops), ops, str(e)
    finally:
        if r:
            args.resumes = sum(c.reconnects for c in r.sse.values())
            r.close()


def reset_database():
    """empties the tables: every run starts from an empty database (the model's start)"""
    db = psycopg2.connect("")
    db.autocommit = True
    with db.cursor() as c:
        c.execute("TRUNCATE push.message, push.stream, push.reader, push.reader_kind, push.message_read, push.mqtt_cursor")
        c.execute("DELETE FROM push.kind WHERE name NOT IN ('notice', 'system')")
        c.execute("SELECT pg_notify('pgpush', '*')")  # the processes' state caches go
    db.close()
    time.sleep(0.2)


def isolation(args):
    """Two users with prior read state of every sort; each write of one, through each path, leaves
    the other's state untouched: tables, counts, list with read flags, and push-poll's ETag (but for
    an admin's edit or deletion, which changes every ETag by design). Prints PASS/FAIL lines."""
    reset_database()
    r = Run(args, live=False)
    results = []
    try:
        a, b = "alice", "bob"

        def send(*rows):
            r.apply(("insert", list(rows), "plain"))
            return len(r.ids) - len(rows)              # the ordinal of the first

        def prior():
            """fresh messages, and both users' prior state: watermarks, single marks, kind marks"""
            first = send((a, "notice"), (b, "notice"), (None, "notice"), (a, "comment"), (b, "comment"),
                         (None, "comment"), (a, "system"), (b, "system"), (None, "system"), (None, "notice"))
            for u in (a, b):
                r.apply(("mark_upto", u, first, 0.3, "sql"))
                r.apply(("mark_kind", u, "comment", first + 5, "sql"))
                r.apply(("mark_one", u, first + 8, "sql"))     # a broadcast
                r.apply(("mark_one", u, first + 6 if u == a else first + 7, "sql"))
            send((a, "notice"), (b, "notice"), (None, "system"), (None, "comment"))
            r.check_sql(random.Random(1))
            return first

        def settle_mqtt():
            """waits until the bridge has acknowledged every stream up to its head"""
            if not args.mqtt:
                return
            # a notification reaches the bridge in about a millisecond; it publishes at once (a
            # notification that came in during its queries once waited for the 10 s idle check)
            deadline = time.monotonic() + 5
            q = ("SELECT count(*) FROM push.stream s WHERE coalesce((SELECT max(m.id) FROM push.message m"
                 " WHERE m.recipient IS NOT DISTINCT FROM nullif(s.recipient, '')), 0)"
                 " > coalesce((SELECT c.acked FROM push.mqtt_cursor c WHERE c.stream = s.recipient), 0)")
            while r.sql(q)[0][0]:
                if time.monotonic() > deadline:
                    raise Failure("push-mqtt did not publish every stream within 5 s")
                time.sleep(0.02)

        def snapshot(u):
            settle_mqtt()
            st = r.poll.request("GET", u, f"/ext/push-poll?limit={LIMIT}")
            return {"reader": r.sql("SELECT read_p, read_b, version FROM push.reader WHERE recipient = %s", u),
                    "reader_kind": r.sql("SELECT kind, read_p, read_b FROM push.reader_kind WHERE recipient = %s ORDER BY kind", u),
                    "message_read": r.sql("SELECT message_id FROM push.message_read WHERE recipient = %s ORDER BY 1", u),
                    "unread": r.sql("SELECT kind, n FROM push.unread(%s) ORDER BY kind", u),
                    "list": r.sql("SELECT id, read FROM push.messages_newest(%s, %s)", u, LIMIT),
                    "mqtt": r.sql("SELECT acked FROM push.mqtt_cursor WHERE stream = %s", u),
                    "etag": st[1]}

        def case(name, ops, etag_too=True):
            for actor, other in ((a, b), (b, a)):
                try:
                    first = prior()
                    r.check_poll()                   # push-poll has heard of all of it
                    before = snapshot(other)
                    for op in ops(actor, other, first):
                        r.apply(op)
                    # a message for the actor last: once push-poll shows it, it has heard every
                    # notification of the writes before it (one LISTEN connection, commit order)
                    r.apply(("insert", [(actor, "notice")], "plain"))
                    r.check_sql(random.Random(2))    # the actor's state is the model's
                    r.check_poll()
                    after = snapshot(other)
                    if not etag_too:
                        before.pop("etag"), after.pop("etag")
                    diff = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
                    results.append(("FAIL" if diff else "PASS",
                                    f"{name} by {actor} leaves {other}'s read state untouched"
                                    + (f": changed {diff}" if diff else "")))
                except Failure as e:
                    results.append(("FAIL", f"{name} by {actor}: {e}"))

        for path in ("sql", "post", "ws"):
            via = {"sql": "the SQL functions", "post": "push-poll's POST", "ws": "push-ws commands"}[path]
            case(f"mark one of their own ({via})", lambda u, v, f: [("mark_one", u, f + (0 if u == a else 1), path)])
            case(f"mark one broadcast ({via})", lambda u, v, f: [("mark_one", u, f + 9, path)])
            case(f"mark one of the other's messages, refused ({via})", lambda u, v, f: [("mark_one", u, f + (1 if u == a else 0), path)])
            case(f"mark up to a cursor ({via})", lambda u, v, f: [("mark_upto", u, f + 9, 0.99, path)])
            case(f"mark all ({via})", lambda u, v, f: [("mark_all", u, path)])
            case(f"mark a kind ({via})", lambda u, v, f: [("mark_kind", u, "notice", None, path)])
            case(f"mark a kind up to a cursor ({via})", lambda u, v, f: [("mark_kind", u, "system", f + 9, path)])
            if path != "sql":
                case(f"mark with the other's cursor, refused ({via})", lambda u, v, f: [("mark_cursor_of_other", u, v, path)])
        if not args.mqtt:
            case("MQTT acknowledgement of the user's stream (push.mqtt_ack)", lambda u, v, f: [("mqtt_ack", u, f + 10)])
        else:
            case("MQTT: the bridge publishes and acknowledges the user's messages",
                 lambda u, v, f: [("insert", [(u, "notice")] * 3, "plain")] + [("mark_all", u, "sql")])
        case("an admin's INSERT for the user", lambda u, v, f: [("insert", [(u, "comment"), (u, "alert.x")], "plain")])
        case("an admin's UPDATE of the user's message", lambda u, v, f: [("admin_update", f + (0 if u == a else 1))], etag_too=False)
        case("an admin's DELETE of the user's message", lambda u, v, f: [("admin_delete", f + (3 if u == a else 4))], etag_too=False)
    finally:
        r.close()
    for verdict, name in results:
        print(f"{verdict} {name}")
    return 0 if all(v == "PASS" for v, _ in results) else 1


def shrink(args, ops, budget):
    """a shorter sequence that still fails: drop chunks while it keeps failing (within budget s)"""
    end = time.monotonic() + budget
    chunk = max(1, len(ops) // 2)
    while chunk >= 1 and time.monotonic() < end:
        i, changed = 0, False
        while i < len(ops) and time.monotonic() < end:
            trial = ops[:i] + ops[i + chunk:]
            _, _, fail = run(args, trial, live=False)
            if fail:
                ops, changed = trial, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return ops


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--base", required=True, help="the web server: /ext/push-poll and /ext/push-sse")
    ap.add_argument("--ws", required=True, help="push-ws, HOST:PORT")
    ap.add_argument("--bin", required=True, help="where push-token is built (tools/)")
    ap.add_argument("--secret", default=os.environ.get("PUSH_TOKEN_SECRET", ""))
    ap.add_argument("--batch", type=int, default=10, help="steps between checks of the live clients")
    ap.add_argument("--http-every", type=int, default=1, help="check push-poll's answer every N steps")
    ap.add_argument("--mqtt", type=int, default=0, help="Mosquitto's port, with push-mqtt running: an MQTT client per user too")
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--isolation", action="store_true", help="only the isolation cases (two users, every write path)")
    ap.add_argument("--shrink-seconds", type=int, default=180)
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    if args.isolation:
        return isolation(args)
    t0 = time.monotonic()
    done, ops, fail = run(args, live=not args.no_live)
    secs = time.monotonic() - t0
    counts = collections.Counter(op[0] + ("/" + op[-1] if op[-1] in ("sql", "post", "ws") else "") for op in ops)
    print(f"# seed {args.seed}: {done} steps in {secs:.1f} s; the SSE clients resumed {getattr(args, 'resumes', 0)} times; " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if not fail:
        return 0
    print(f"# FAILED at step {done} (seed {args.seed}): {fail}")
    print(f"# rerun: --seed {args.seed} --steps {done}")
    short = shrink(args, ops, args.shrink_seconds)
    _, _, why = run(args, short, live=False)
    print(f"# a shortened sequence of {len(short)} steps that fails ({why or 'only with the live clients'}):")
    for op in short:
        print(f"#   {op}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
