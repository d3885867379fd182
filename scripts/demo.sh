#!/usr/bin/env bash
# The main job on the embedded default policy: a fresh baseline of this machine, then a
# check against it, printing the report. Uses its own database so it never touches
# /var/lib/vigil. The check's exit code is vigil's (0 clean; 1/2/4 findings).
set -uo pipefail
cd "$(dirname "$0")/.."
db_dir=/var/tmp/vigil-demo
rm -rf "$db_dir"
build/cli/vigil init --db "$db_dir/vigil.db" || exit $?
echo
build/cli/vigil check --db "$db_dir/vigil.db"
