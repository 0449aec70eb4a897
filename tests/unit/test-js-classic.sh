#!/bin/sh
# test-js-classic.sh: fails when htdocs/pgpush.classic.js is not what htdocs/make-classic makes of htdocs/pgpush.js
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! "$top_srcdir/htdocs/make-classic" "$top_srcdir/htdocs/pgpush.js" >"$out"; then
    echo "not ok 1 - make-classic runs"; echo "0 passed, 1 failed"; exit 1
fi
if cmp -s "$out" "$top_srcdir/htdocs/pgpush.classic.js"; then
    echo "ok 1 - htdocs/pgpush.classic.js is in sync with htdocs/pgpush.js"; echo "1 passed, 0 failed"
else
    echo "not ok 1 - htdocs/pgpush.classic.js is in sync with htdocs/pgpush.js (run: htdocs/make-classic > htdocs/pgpush.classic.js)"
    diff "$out" "$top_srcdir/htdocs/pgpush.classic.js" | head -n 20 | sed 's/^/#   /'
    echo "0 passed, 1 failed"; exit 1
fi
