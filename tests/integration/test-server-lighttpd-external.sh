#!/usr/bin/env bash
# test-server-lighttpd-external.sh: the end-to-end server suite behind lighttpd in front of external daemons started by systemd-socket-activate (conf/lighttpd-external.conf, conf/systemd/)
SERVER=lighttpd-external
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/server-suite.sh"
