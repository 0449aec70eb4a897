#!/usr/bin/env bash
# test-version.sh: every program this build made answers --version with one line,
# "PROGRAM (pgpush) VERSION", and exit status 0, and its --help names --version. push-mqtt is one
# of them unless configure was given --without-mqtt.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
n=0 bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $1"; shift; [ $# = 0 ] || printf '#   %s\n' "$@"; }

define() { sed -n "s/^#define $1 \"\\(.*\\)\"\$/\\1/p" "$top_builddir/config.h"; }
name=$(define PACKAGE_NAME) version=$(define PACKAGE_VERSION)
[ -n "$name" ] && [ -n "$version" ] || { echo "not ok 1 - no PACKAGE_NAME or PACKAGE_VERSION in $top_builddir/config.h"; exit 1; }

programs=(cgi-bin/push-poll cgi-bin/push-longpoll cgi-bin/push-sse cgi-bin/push-iframe cgi-bin/push-demo
          daemons/push-ws daemons/push-webpush tools/push-token)
grep -q '^#define PUSH_WITH_MQTT 1$' "$top_builddir/config.h" && programs+=(daemons/push-mqtt)
for p in "${programs[@]}"; do
    prog=$top_builddir/$p want="${p##*/} ($name) $version"
    if [ ! -x "$prog" ]; then
        not_ok "${p##*/} is built" "no $prog"
        continue
    fi
    # an empty environment: --version needs no configuration, and answers before reading any
    out=$(env -i "$prog" --version </dev/null 2>&1)
    rc=$?
    if [ "$rc" = 0 ] && [ "$out" = "$want" ]; then
        ok "${p##*/} --version: $out"
    else
        not_ok "${p##*/} --version: [$want], exit status 0" "got [$out], exit status $rc"
    fi
    if env -i "$prog" --help </dev/null 2>&1 | grep -q -- '--version'; then
        ok "${p##*/} --help mentions --version"
    else
        not_ok "${p##*/} --help mentions --version"
    fi
done
echo "$((n - bad)) passed, $bad failed"
[ "$bad" = 0 ]
