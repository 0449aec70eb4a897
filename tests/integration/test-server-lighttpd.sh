#!/usr/bin/env bash
# test-server-lighttpd.sh: the end-to-end server suite behind lighttpd spawning the programs with bin-path (conf/lighttpd-spawned.conf)
SERVER=lighttpd
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/server-suite.sh"
