#!/usr/bin/env bash
# test-server-nginx.sh: the end-to-end server suite behind nginx in front of external daemons (conf/nginx.conf)
SERVER=nginx
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/server-suite.sh"
