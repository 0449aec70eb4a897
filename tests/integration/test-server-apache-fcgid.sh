#!/usr/bin/env bash
# test-server-apache-fcgid.sh: the end-to-end server suite behind Apache 2.4 + mod_fcgid spawning the programs (conf/apache-fcgid.conf)
SERVER=apache-fcgid
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/server-suite.sh"
