#!/usr/bin/env bash
# test-conf-template.sh: conf/pgpush.conf, the template of the configuration file, shows every
# setting the programs' --help documents (push-sse's, and push-mqtt's unless configure was given
# --without-mqtt), each as a commented "#KEY=DEFAULT" line, and nothing else; and, uncommented
# whole, it is a file the programs read without error (push-token --config).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
template=$top_srcdir/conf/pgpush.conf
n=0 bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $1"; shift; [ $# = 0 ] || printf '#   %s\n' "$@"; }

# the settings of a --help: its lines "  PUSH_NAME ..." (or "  PUSH_NAME=1 ...")
settings() { env -i "$1" --help 2>/dev/null | sed -n 's/^  \(PUSH_[A-Z0-9_]*\)[ =].*/\1/p'; }
helped=$(settings "$top_builddir/cgi-bin/push-sse")
grep -q '^#define PUSH_WITH_MQTT 1$' "$top_builddir/config.h" && helped+=$'\n'$(settings "$top_builddir/daemons/push-mqtt")
helped+=$'\n'$(settings "$top_builddir/daemons/push-webpush")
helped=$(sort -u <<<"$helped")
shown=$(sed -n 's/^#\(PUSH_[A-Z0-9_]*\)=.*/\1/p' "$template" | sort -u)
[ "$(wc -l <<<"$helped")" -gt 30 ] && ok "--help documents $(wc -l <<<"$helped") settings" \
    || not_ok "the settings of --help are found" "$helped"
missing=$(comm -23 <(echo "$helped") <(echo "$shown"))
[ -z "$missing" ] && ok "the template shows every setting of --help" || not_ok "the template shows every setting of --help" "missing: $(echo $missing)"
extra=$(comm -13 <(echo "$helped") <(echo "$shown"))
[ -z "$extra" ] && ok "the template shows no setting --help does not document" || not_ok "no undocumented setting in the template" "extra: $(echo $extra)"
dup=$(sed -n 's/^#\(PUSH_[A-Z0-9_]*\)=.*/\1/p' "$template" | sort | uniq -d)
[ -z "$dup" ] && ok "each setting is shown once" || not_ok "each setting shown once" "twice: $(echo $dup)"
# every setting line uncommented, PG* left out (they would be exported to libpq: harmless, but
# this check needs no database)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -n 's/^#\(PUSH_[A-Z0-9_]*=.*\)/\1/p' "$template" >"$work/pgpush.conf"
out=$(env -i "$top_builddir/tools/push-token" --config "$work/pgpush.conf" --verify v1.x 2>&1)
if grep -q 'configuration error' <<<"$out"; then not_ok "the template's defaults, uncommented, are read without error" "$out"
else ok "the template's defaults, uncommented, are read without error"; fi
echo "1..$n"
[ $bad = 0 ]
