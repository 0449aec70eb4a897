#!/usr/bin/env bash
# test-layers.sh: fails when a file includes a header from a layer above its own (lib/README.md).
#
# lib/ is in layers, each a folder; a file may include headers of its own layer and of the layers
# below it, never above, and never of a sibling at its own level (runtime/, mqtt/ and webpush/ know
# nothing of each other):
#     core (0) -> store (1) -> http (2) -> transport (3) -> runtime (4), mqtt (4), webpush (4)
# The programs (cgi-bin/, daemons/, tools/) may include any layer. The Mosquitto plugin
# (mosquitto/) is linked with core and mqtt files only, so it may include only those. Project
# headers are always named with their layer ("core/push_log.h"), and the header must exist.
#
#   tests/unit/test-layers.sh [--list]   --list: print each layer's files and exit
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top_srcdir" || exit 1

declare -A rank=([core]=0 [store]=1 [http]=2 [transport]=3 [runtime]=4 [mqtt]=4 [webpush]=4)

if [ "${1:-}" = "--list" ]; then
    for l in core store http transport runtime mqtt webpush; do
        printf '%-10s %d  %s\n' "$l" "${rank[$l]}" "$(cd lib/$l && ls -- *.c | tr '\n' ' ')"
    done
    exit 0
fi

n=0 bad=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $1"; shift; printf '#   %s\n' "$@"; }

# every folder of lib/ is a known layer, and no source lies loose in lib/
stray=()
for d in lib/*/; do
    d=${d%/}; d=${d#lib/}
    [ -n "${rank[$d]+x}" ] || stray+=("lib/$d/ is not a layer (add it to rank[] here and to lib/README.md)")
done
for f in lib/*.c lib/*.h; do [ -e "$f" ] && stray+=("$f is in no layer"); done
if [ ${#stray[@]} = 0 ]; then ok "every file of lib/ is in a known layer"
else not_ok "every file of lib/ is in a known layer" "${stray[@]}"; fi

# allowed LAYER-OF-FILE INCLUDED-LAYER: 0 when the include points down (or sideways within a layer)
allowed() {
    local from=$1 to=$2
    case $from in
        program) return 0 ;;
        plugin) [ "$to" = core ] || [ "$to" = mqtt ] ;;
        *) [ "$from" = "$to" ] || [ "${rank[$to]}" -lt "${rank[$from]}" ] ;;
    esac
}

check_files() { # check_files WHAT FILE...: one test line for the includes of these files
    local what=$1 f from inc to errs=()
    shift
    for f in "$@"; do
        case $f in
            lib/*) from=${f#lib/}; from=${from%%/*} ;;
            mosquitto/*) from=plugin ;;
            *) from=program ;;
        esac
        # the project's own headers: every #include "..." but config.h (autoconf's)
        while IFS= read -r inc; do
            [ "$inc" = config.h ] && continue
            to=${inc%%/*}
            if [ "$to" = "$inc" ] || [ -z "${rank[$to]+x}" ]; then
                errs+=("$f: #include \"$inc\" does not name its layer (core/, store/, http/, ...)")
            elif [ ! -e "lib/$inc" ]; then
                errs+=("$f: #include \"$inc\": no such header in lib/")
            elif ! allowed "$from" "$to"; then
                errs+=("$f ($from) includes $inc, a layer above or beside it")
            fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done
    if [ ${#errs[@]} = 0 ]; then ok "$what include only from their own layer and the layers below"
    else not_ok "$what include only from their own layer and the layers below" "${errs[@]}"; fi
}

for l in core store http transport runtime mqtt webpush; do
    check_files "lib/$l/ (${rank[$l]})" lib/$l/*.[ch]
done
check_files "the Mosquitto plugin (core and mqtt only)" mosquitto/*.c
check_files "the programs" cgi-bin/*.c daemons/*.c tools/*.c

echo "$((n - bad)) passed, $bad failed"
[ $bad = 0 ]
