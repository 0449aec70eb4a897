// ws-flood.mjs: what a hostile WebSocket client does to push-ws, for the flood tests (node's net only)
//
//   node ws-flood.mjs URL MODE COUNT [--seconds S] [--payload N] [--hold H]
//
// MODE:
//   pings      one socket: upgrades, then sends COUNT pings (of N bytes, default 0: each answered
//              by a pong as long) and never reads a byte
//   commands   one socket: upgrades, then sends COUNT bad commands (each earns an error reply naming
//              its "ref" of N bytes, at most 64) and never reads a byte
//   slowloris  COUNT sockets, each sending its upgrade request one byte every 500 ms
//   streams    COUNT sockets that upgrade and stay open (they read, and answer nothing)
//   idle       COUNT sockets that connect and send nothing (a client that went away without a FIN
//              looks the same to the server)
// After S seconds (default 5) prints one JSON line and exits; with --hold H (pings, commands) it
// first keeps its socket up to H more seconds, until the server closes it (so that a server that
// drops it for taking no data is seen doing so, however slowly it got there):
//   {"mode", "count", "sent": frames or bytes the kernel took, "closed": sockets the server ended,
//    "refused": sockets that got an HTTP answer other than 101 (or a 101 for slowloris/idle),
//    "open": sockets upgraded (streams), "statuses": {status: count} of the HTTP answers (streams)}
import net from 'node:net';
import crypto from 'node:crypto';

const [urlText, mode, countText, ...rest] = process.argv.slice(2);
const url = new URL(urlText);
const count = Number(countText);
let seconds = 5;
let payload = 0;
let hold = 0;
for (let i = 0; i < rest.length; i++)
    if (rest[i] === '--seconds') seconds = Number(rest[++i]);
    else if (rest[i] === '--payload') payload = Number(rest[++i]);
    else if (rest[i] === '--hold') hold = Number(rest[++i]);
    else throw new Error(`unknown option ${rest[i]}`);
if (!['pings', 'commands', 'slowloris', 'idle', 'streams'].includes(mode) || !(count > 0))
    throw new Error('usage: ws-flood.mjs URL pings|commands|slowloris|idle|streams COUNT [--seconds S]');

const port = Number(url.port || 80);
const request = () => `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`
    + 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
    + `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n\r\n`;
const stats = { mode, count, sent: 0, closed: 0, refused: 0, open: 0, statuses: {} };

// a masked client frame (RFC 6455 5.3: every client frame is masked)
function frame(opcode, payload) {
    const mask = crypto.randomBytes(4);
    const body = Buffer.from(payload);
    if (body.length > 125) throw new Error('frame too long for this tool');
    const out = Buffer.alloc(6 + body.length);
    out[0] = 0x80 | opcode;
    out[1] = 0x80 | body.length;
    mask.copy(out, 2);
    for (let i = 0; i < body.length; i++) out[6 + i] = body[i] ^ mask[i % 4];
    return out;
}

// one socket that upgrades, then writes frames as fast as the kernel takes them, reading nothing
function flood() {
    const sock = net.connect(port, url.hostname);
    let head = Buffer.alloc(0);
    const pad = 'x'.repeat(payload);
    let n = 0;
    sock.on('error', () => {});
    sock.on('close', () => { stats.closed++; });
    sock.write(request());
    sock.on('data', (chunk) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        sock.removeAllListeners('data');
        if (!head.subarray(0, end).toString().startsWith('HTTP/1.1 101')) {
            stats.refused++;
            return;
        }
        sock.pause(); // from here on nothing is read: the server's answers pile up on its side
        const more = () => {
            while (n < count) {
                const f = mode === 'pings' ? frame(0x9, pad)
                    : frame(0x1, `{"cmd":"nonsense","ref":"${n}${pad.slice(0, 64 - String(n).length)}"}`);
                n++;
                stats.sent = n;
                if (!sock.write(f)) { sock.once('drain', more); return; }
            }
        };
        more();
    });
    return sock;
}

// COUNT sockets that upgrade and hold their stream open
function streams() {
    const socks = [];
    for (let i = 0; i < count; i++) {
        const sock = net.connect(port, url.hostname);
        let head = '';
        sock.on('error', () => {});
        sock.on('close', () => { stats.closed++; });
        sock.write(request());
        sock.on('data', (chunk) => {
            if (head === null) return; // frames: read and dropped
            head += chunk.toString('latin1');
            const m = /^HTTP\/1\.1 (\d+)/.exec(head);
            if (!m || head.indexOf('\r\n\r\n') < 0) return;
            stats.statuses[m[1]] = (stats.statuses[m[1]] || 0) + 1;
            if (m[1] === '101') stats.open++; else stats.refused++;
            head = null;
        });
        socks.push(sock);
    }
    return socks;
}

// COUNT sockets that never finish (or never start) their request
function slow() {
    const socks = [];
    for (let i = 0; i < count; i++) {
        const sock = net.connect(port, url.hostname);
        const text = Buffer.from(request());
        let at = 0;
        sock.on('error', () => {});
        sock.on('data', (chunk) => { if (chunk.toString().startsWith('HTTP/1.1 ')) stats.refused++; });
        sock.on('close', () => { stats.closed++; });
        if (mode === 'slowloris') {
            const timer = setInterval(() => {
                if (sock.destroyed || at >= text.length - 1) { clearInterval(timer); return; }
                sock.write(text.subarray(at, at + 1));
                at++;
                stats.sent++;
            }, 500);
            sock.on('close', () => clearInterval(timer));
        }
        socks.push(sock);
    }
    return socks;
}

const held = mode === 'pings' || mode === 'commands' ? [flood()] : mode === 'streams' ? streams() : slow();
const end = () => {
    process.stdout.write(JSON.stringify(stats) + '\n');
    for (const s of held) s.destroy();
    process.exit(0);
};
setTimeout(() => {
    // in-flight bytes the kernel has not taken are not counted as sent
    if (mode === 'pings' || mode === 'commands')
        stats.sent -= Math.ceil(held[0].writableLength / (mode === 'pings' ? 6 + payload : 30 + payload));
    if (!hold || !(mode === 'pings' || mode === 'commands') || held[0].destroyed) return end();
    held[0].once('close', end);
    setTimeout(end, hold * 1000);
}, seconds * 1000);
