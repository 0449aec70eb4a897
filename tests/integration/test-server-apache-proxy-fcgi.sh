#!/usr/bin/env bash
# test-server-apache-proxy-fcgi.sh: the end-to-end server suite behind Apache 2.4 + mod_proxy_fcgi in front of external daemons started by spawn-fcgi (conf/apache-proxy-fcgi.conf)
SERVER=apache-proxy-fcgi
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/server-suite.sh"
