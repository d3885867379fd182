#!/usr/bin/env bash
# Before/after timing of the query benchmark's queries (bench/query.sh) for several vigil
# binaries on one database, e.g. the Release build of main against a branch's:
#
#   bench/query_ab.sh bench/work/query/events-10000000-4.db 7 /tmp/vigil-main build-bench/cli/vigil
#
# Unlike query.sh, the windows ("24h", "7d") end at the database's generation time (end_ns
# of DB.info), not at now, so a database of any age gives the same rows, and the binaries
# run alternately (run i of each before run i+1 of any), so a machine that gets busier
# halfway through slows them alike. Before each query the database file is read whole once
# (a cache that is reclaimed behind idle files would otherwise make the first runs read
# the disk), then each binary runs once untimed. Per (query, binary): the median wall ms
# and the median user+sys CPU ms (/usr/bin/time, 10 ms resolution). ONLY="a b" runs only
# those queries.
# shellcheck disable=SC2046,SC2086 # command lines and run lists are words on purpose
set -euo pipefail
export LC_ALL=C
[[ $# -ge 3 ]] || { echo "usage: $0 DB RUNS VIGIL..." >&2; exit 2; }
DB=$1
RUNS=$2
shift 2
info() { sed -n "s/^$1=//p" "$DB.info"; }
end=$(info end_ns)
rfc() { date -u -d "@$(($1 / 1000000000))" +%Y-%m-%dT%H:%M:%SZ; }
d1=$(rfc $((end - 86400000000000)))
d7=$(rfc $((end - 7 * 86400000000000)))
HOT=$(info hot_path)
TYP=$(info typical_path)
TUSER=$(info typical_user)
NAMES=(history_typical history_hot user_24h root_24h under_eu_7d label_24h root_24h_l20 under_eu_7d_l20 label_24h_l20)
args() {
    case $1 in
        history_typical) echo "history $TYP --db $DB --format jsonl" ;;
        history_hot) echo "history $HOT --db $DB --format jsonl" ;;
        user_24h) echo "query --db $DB --format jsonl --user $TUSER --since $d1" ;;
        root_24h) echo "query --db $DB --format jsonl --user root --since $d1" ;;
        under_eu_7d) echo "query --db $DB --format jsonl --under /srv/customers/eu --since $d7" ;;
        label_24h) echo "query --db $DB --format jsonl --label customers --since $d1" ;;
        root_24h_l20) echo "query --db $DB --format jsonl --user root --since $d1 --limit 20" ;;
        under_eu_7d_l20) echo "query --db $DB --format jsonl --under /srv/customers/eu --since $d7 --limit 20" ;;
        label_24h_l20) echo "query --db $DB --format jsonl --label customers --since $d1 --limit 20" ;;
    esac
}
median() {
    sort -g | awk '{a[NR] = $1} END {
        if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ONLY=${ONLY:-}
echo "windows end at $(rfc "$end"): --since $d1 (24h), --since $d7 (7d); ms: median wall / median CPU"
printf '%-16s %8s' query rows
for b in "$@"; do printf ' %16s' "$(basename "$(dirname "$b")")/$(basename "$b")"; done
echo
for n in "${NAMES[@]}"; do
    [[ -z $ONLY || " $ONLY " == *" $n "* ]] || continue
    cat "$DB" >/dev/null
    rows=$("$1" $(args "$n") | wc -l)
    for b in "$@"; do "$b" $(args "$n") >/dev/null; done
    declare -A wall=() cpu=()
    for ((i = 0; i < RUNS; i++)); do
        for b in "$@"; do
            t0=$(date +%s%N)
            c=$({ /usr/bin/time -f '%U %S' "$b" $(args "$n") >/dev/null; } 2>&1 | tail -n 1)
            t1=$(date +%s%N)
            wall[$b]+="$(((t1 - t0) / 1000)) "
            cpu[$b]+="$(awk '{printf "%d", ($1 + $2) * 1000}' <<<"$c") "
        done
    done
    printf '%-16s %8s' "$n" "$rows"
    for b in "$@"; do
        w=$(printf '%s\n' ${wall[$b]} | median | awk '{printf "%.1f", $1 / 1000}')
        c=$(printf '%s\n' ${cpu[$b]} | median | awk '{printf "%.0f", $1}')
        printf ' %16s' "$w / $c"
    done
    echo
    unset wall cpu
done
