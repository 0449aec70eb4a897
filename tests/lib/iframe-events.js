// iframe-events.js: reads a push-iframe document and prints its events, one JSON line each,
// after checking that it is made only of nonce'd script elements with no markup inside them.
//
//   node tests/lib/iframe-events.js DOC-FILE NONCE CALLBACK
// Prints {"type":..,"cursor":..,"data":..} per call; exits 1 with a reason on stderr when the
// document is malformed: padding under 2 KiB, a script with another nonce, a "<" in a script
// (which could end the element or open a comment), or anything but scripts after the padding.
'use strict';
const fs = require('fs');
const [file, nonce, callback] = process.argv.slice(2);
const doc = fs.readFileSync(file, 'latin1'); // bytes as they came; decoded below per script
const fail = (why) => { process.stderr.write('iframe-events: ' + why + '\n'); process.exit(1); };

const first = doc.indexOf('<script');
if (first < 0) fail('no script at all');
if (first < 2048) fail('the first script starts at byte ' + first + ', before 2 KiB of padding');
let rest = doc.slice(first);
const re = /^<script nonce="([0-9a-f]{32})">([^<]*)<\/script>\n/;
const events = [];
const parent = {};
parent[callback] = (type, cursor, data) => events.push({ type, cursor, data });
for (;;) {
    const m = re.exec(rest);
    if (!m) break;
    if (m[1] !== nonce) fail('a script with nonce ' + m[1] + ', not the header\'s ' + nonce);
    // as the browser does: the script's bytes decoded as UTF-8 (the page is charset=utf-8)
    const code = Buffer.from(m[2], 'latin1').toString('utf8');
    new Function('parent', code)(parent);
    rest = rest.slice(m[0].length);
}
// a client that hung up mid-stream may hold the start of a script it never finished reading
if (rest !== '' && rest !== '</body></html>\n' && !/^<script[^<]*$/.test(rest))
    fail('unexpected text after the scripts: ' + JSON.stringify(rest.slice(0, 80)));
for (const e of events) process.stdout.write(JSON.stringify(e) + '\n');
