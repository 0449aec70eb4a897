// ws-client.mjs: a small scripted WebSocket client for the tests (RFC 6455 over node's net, no dependency)
//
//   node ws-client.mjs URL [-H 'Name: value']... [--no-pong] [--no-read] [--max-time S] [--unix PATH]
//                          [--reset MS] [--hold-close S]
//
// Prints "HTTP <status>" once the server answers (with the JSON body on a line of its own when it is
// not 101), then one line per text message received, "PING" for each ping, and at the end
// "CLOSE <code> <reason>" (code 1006 when the connection ended without a close frame). Each line of
// standard input is sent as a text message once the upgrade is done; lines starting with "!" are
// actions: "!close CODE", "!binary", "!big N" (a text message of N bytes), "!ping", "!burst N TEXT"
// (N text messages in one write, each TEXT with "#" replaced by its number, 1 to N), "!text-close TEXT"
// (a text message and a close frame 1000, in one write). --no-read stops
// reading once upgraded (a client that takes no data). --unix connects to the server's unix socket
// PATH instead of URL's host and port. --reset MS ends the connection with a TCP reset MS after it is
// made, whatever the server answered by then ("CLOSE 1006 reset"). --hold-close S: at the server's close
// frame, answer nothing and keep the connection open S more seconds (a peer that never ends).
import net from 'node:net';
import crypto from 'node:crypto';
import readline from 'node:readline';

const args = process.argv.slice(2);
const url = new URL(args.shift());
const headers = [];
let autoPong = true;
let noRead = false;
let maxTime = 30;
let unixPath = null;
let resetMs = null;
let holdClose = null;
while (args.length) {
    const a = args.shift();
    if (a === '-H') headers.push(args.shift());
    else if (a === '--no-pong') autoPong = false;
    else if (a === '--no-read') noRead = true;
    else if (a === '--max-time') maxTime = Number(args.shift());
    else if (a === '--unix') unixPath = args.shift();
    else if (a === '--reset') resetMs = Number(args.shift());
    else if (a === '--hold-close') holdClose = Number(args.shift());
    else throw new Error(`unknown option ${a}`);
}

const out = (line) => process.stdout.write(line + '\n');
const key = crypto.randomBytes(16).toString('base64');
// (--hold-close: half-open allowed, so that the server's FIN is not answered with ours either)
const sock = net.connect({ ...(unixPath ? { path: unixPath } : { port: Number(url.port || 80), host: url.hostname }),
    allowHalfOpen: holdClose !== null });
let buf = Buffer.alloc(0);
let upgraded = false;
let answered = false;
let ended = false;
let fragments = [];
const pending = [];

function finish(code, reason) {
    if (ended) return;
    ended = true;
    out(`CLOSE ${code} ${reason}`);
    sock.destroy();
    process.exit(0);
}
setTimeout(() => finish(1006, 'max-time'), maxTime * 1000).unref();

function frame(opcode, payload) {
    const mask = crypto.randomBytes(4);
    const len = payload.length;
    let head;
    if (len < 126) head = Buffer.from([0x80 | opcode, 0x80 | len]);
    else if (len < 65536) { head = Buffer.alloc(4); head[0] = 0x80 | opcode; head[1] = 0x80 | 126; head.writeUInt16BE(len, 2); }
    else { head = Buffer.alloc(10); head[0] = 0x80 | opcode; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(len), 2); }
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i % 4];
    return Buffer.concat([head, mask, body]);
}
const send = (opcode, payload) => { if (!sock.destroyed) sock.write(frame(opcode, payload)); };

function act(line) {
    if (!upgraded) { pending.push(line); return; }
    if (line.startsWith('!text-close ')) {
        const p = Buffer.alloc(2); p.writeUInt16BE(1000);
        if (!sock.destroyed) sock.write(Buffer.concat([frame(1, Buffer.from(line.slice(12))), frame(8, p)]));
    } else if (line.startsWith('!close')) {
        const code = Number(line.split(' ')[1] || 1000);
        const p = Buffer.alloc(2); p.writeUInt16BE(code);
        send(8, p);
    } else if (line === '!binary') send(2, Buffer.from([1, 2, 3]));
    else if (line.startsWith('!big')) send(1, Buffer.from('x'.repeat(Number(line.split(' ')[1]))));
    else if (line === '!ping') send(9, Buffer.from('hi'));
    else if (line.startsWith('!burst')) {
        const [, n, ...text] = line.split(' ');
        const frames = [];
        for (let i = 1; i <= Number(n); i++) frames.push(frame(1, Buffer.from(text.join(' ').replaceAll('#', String(i)))));
        if (!sock.destroyed) sock.write(Buffer.concat(frames));
    }
    else if (line.length) send(1, Buffer.from(line));
}

function parseFrames() {
    for (;;) {
        if (buf.length < 2) return;
        const fin = buf[0] & 0x80, opcode = buf[0] & 0x0f;
        let len = buf[1] & 0x7f, off = 2;
        if (buf[1] & 0x80) { finish(1002, 'the server masked a frame'); return; }
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (opcode === 9) { out('PING'); if (autoPong) send(10, payload); }
        else if (opcode === 10) out('PONG');
        else if (opcode === 8) {
            const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
            const reason = payload.subarray(2).toString();
            if (holdClose !== null) { // no answer, no end: the server's own end comes, or this one
                out(`CLOSE-FRAME ${code}`);
                setTimeout(() => finish(code, reason), holdClose * 1000);
                buf = Buffer.alloc(0);
                return;
            }
            if (!sock.destroyed) sock.write(frame(8, payload.subarray(0, 2)));
            finish(code, reason);
            return;
        } else {
            fragments.push(payload);
            if (fin) { out(Buffer.concat(fragments).toString('utf8')); fragments = []; }
        }
    }
}

sock.on('connect', () => {
    if (resetMs !== null) setTimeout(() => { sock.resetAndDestroy(); finish(1006, 'reset'); }, resetMs);
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Upgrade: websocket',
        'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13', ...headers];
    sock.write(lines.join('\r\n') + '\r\n\r\n');
});
sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    if (answered && !upgraded) return;
    if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        answered = true;
        const head = buf.subarray(0, end).toString();
        const status = Number(head.split(' ')[1]);
        out(`HTTP ${status}`);
        if (status !== 101) {
            const m = /content-length: *(\d+)/i.exec(head);
            const want = m ? Number(m[1]) : 0;
            const done = () => { out(buf.subarray(end + 4, end + 4 + want).toString()); finish(1006, 'http'); };
            if (buf.length >= end + 4 + want) done();
            else sock.on('end', done);
            return;
        }
        const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        if (!head.includes(`Sec-WebSocket-Accept: ${accept}`)) { finish(1002, 'bad accept key'); return; }
        buf = buf.subarray(end + 4);
        upgraded = true;
        pending.splice(0).forEach(act);
        if (noRead) sock.pause();
    }
    parseFrames();
});
sock.on('error', (e) => finish(1006, e.code || 'error'));
sock.on('close', () => finish(1006, 'closed'));
readline.createInterface({ input: process.stdin }).on('line', act);
