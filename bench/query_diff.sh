#!/usr/bin/env bash
# Byte-for-byte comparison of two vigil binaries' query and history output, in every
# format, on a benchmark database (bench/query.sh): a speed-up must not change a byte.
#
#   bench/query_diff.sh bench/work/query/events-2000000-4.db /tmp/vigil-main build/cli/vigil
#
# Windows end at the database's generation time (as in query_ab.sh). Exit 1 on a difference.
set -uo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 DB OLD NEW" >&2; exit 2; }
DB=$1
OLD=$2
NEW=$3
info() { sed -n "s/^$1=//p" "$DB.info"; }
end=$(info end_ns)
rfc() { date -u -d "@$(($1 / 1000000000))" +%Y-%m-%dT%H:%M:%SZ; }
d1=$(rfc $((end - 86400000000000)))
d7=$(rfc $((end - 7 * 86400000000000)))
HOT=$(info hot_path)
TYP=$(info typical_path)
fail=0
n=0
while IFS= read -r q; do
    for f in jsonl json csv table; do
        # shellcheck disable=SC2086 # $q is words by design
        a=$("$OLD" $q --db "$DB" --format $f | md5sum)
        # shellcheck disable=SC2086
        b=$("$NEW" $q --db "$DB" --format $f | md5sum)
        n=$((n + 1))
        [[ $a == "$b" ]] || { echo "DIFF: $q --format $f"; fail=1; }
    done
done <<Q
history $TYP
history $HOT
query --user root --since $d1
query --label customers --since $d1
query --under /srv/customers/eu --since $d7
query --under /srv/customers/eu --since $d7 --limit 50
query --under /srv/customers/eu --since $d7 --limit 50 --reverse
query --under /srv/customers --since $d7 --limit 500 --action delete
query --under /srv/customers --since $d7 --limit 500 --action delete --reverse
query --action rename,delete --since $d7
query --action agent_start,agent_stop
query --unexpected
query --path $TYP --reverse
Q
echo "$n outputs compared, $([[ $fail == 0 ]] && echo "all identical" || echo "some differ")"
exit $fail
