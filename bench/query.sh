#!/usr/bin/env bash
# Issue 4's benchmark: how fast the auditor's queries answer on a large event log.
# Generates a database of EVENTS synthetic events over the 30 days ending now
# (bench/gen_events.cpp, through vigil's EventAppender), then times `vigil query`,
# `vigil history` and the nightly report's event summary (vigil::build_report). See README.md.
#
# Run from anywhere:  bench/query.sh
# Environment (all optional):
#   EVENTS      events to generate                         (default: 10000000)
#   SEED        generator seed                             (default: 4)
#   RUNS        timed runs per query, the median is given  (default: 5)
#   REGEN       1: regenerate the database even if one with the same EVENTS/SEED exists (default: 0)
#   IDLE_WAIT   seconds to wait for an idle machine before each timed run (default: 60)
#   RESULTS     markdown file the run is appended to       (default: bench/RESULTS.md)
#   BUILD       build directory for the Release vigil      (default: build-bench)
set -euo pipefail
export LC_ALL=C

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
BUILD="${BUILD:-$REPO/build-bench}"
WORK="$BENCH/work/query"
RESULTS="${RESULTS:-$BENCH/RESULTS.md}"
EVENTS="${EVENTS:-10000000}"
SEED="${SEED:-4}"
RUNS="${RUNS:-5}"
REGEN="${REGEN:-0}"
IDLE_WAIT="${IDLE_WAIT:-60}"

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'query.sh: %s\n' "$*" >&2; exit 1; }
[[ $RUNS -ge 1 ]] || die "RUNS must be at least 1"
command -v sqlite3 >/dev/null || die "needs the sqlite3 CLI (apt-get install sqlite3) for EXPLAIN QUERY PLAN"
mkdir -p "$WORK"

# --- Build -------------------------------------------------------------------------------
log "building vigil (Release) into $BUILD"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVIGIL_BUILD_TESTS=OFF -DVIGIL_WERROR=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target vigil >/dev/null
VIGIL="$BUILD/cli/vigil"
[[ -x $VIGIL ]] || VIGIL="$(find "$BUILD" -type f -name vigil -perm -u+x | head -n 1)"
[[ -x $VIGIL ]] || die "no vigil binary in $BUILD"
LIB="$BUILD/common/libvigil_common.a"
[[ -f $LIB ]] || die "no $LIB"
GEN="$WORK/gen_events"
g++ -O2 -std=c++20 -I"$REPO" "$BENCH/gen_events.cpp" "$LIB" -lcrypto -lsqlite3 -lpthread -o "$GEN"

# --- Database ------------------------------------------------------------------------------
# "--since 24h" is relative to the time of the query, the data ends at generation time: a
# database older than a few hours would have its last day partly outside the window, so it
# is reused only if generated in the last 2 hours.
DB="$WORK/events-$EVENTS-$SEED.db"
INFO="$DB.info"
if [[ $REGEN == 1 || ! -f $DB || ! -f $INFO || -n $(find "$INFO" -mmin +120) ]]; then
    log "generating $EVENTS events into $DB"
    rm -f "$DB" "$DB-wal" "$DB-shm" "$INFO"
    "$GEN" gen "$DB" "$EVENTS" "$SEED" >"$INFO.tmp"
    mv "$INFO.tmp" "$INFO"
fi
info() { sed -n "s/^$1=//p" "$INFO"; }
sqlite3 "$DB" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
db_bytes=$(stat -c %s "$DB")
db_rows=$(sqlite3 "$DB" 'SELECT count(*) FROM events')
bytes_per_event=$(awk -v b="$db_bytes" -v n="$db_rows" 'BEGIN {printf "%.0f", b / n}')
table_bytes=$(sqlite3 "$DB" "SELECT sum(pgsize) FROM dbstat WHERE name = 'events'" 2>/dev/null || echo "")
index_count=$(sqlite3 "$DB" "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL")
HOT=$(info hot_path)
TYPICAL=$(info typical_path)
TUSER=$(info typical_user)
log "database: $db_rows rows, $db_bytes bytes ($bytes_per_event bytes/event)"

# --- Timing helpers (as in baseline.sh) --------------------------------------------------------
busy_starts=0
cpu_busy_pct() {
    local a b
    a=($(head -n 1 /proc/stat))
    sleep 1
    b=($(head -n 1 /proc/stat))
    local idle=$(((b[4] + b[5]) - (a[4] + a[5]))) total=0 i
    for ((i = 1; i < ${#a[@]}; i++)); do total=$((total + b[i] - a[i])); done
    echo $((total > 0 ? 100 * (total - idle) / total : 0))
}
wait_idle() {
    local waited=0 busy
    while busy=$(cpu_busy_pct); ((busy > 10)); do
        if ((waited >= IDLE_WAIT)); then
            echo "  (machine still ${busy}% busy after ${IDLE_WAIT}s: timing anyway)" >&2
            busy_starts=$((busy_starts + 1))
            return 0
        fi
        waited=$((waited + 1))
    done
}
now_ns() { date +%s%N; }
median() {  # median of the numbers on stdin
    sort -g | awk '{a[NR] = $1} END {
        if (NR % 2) printf "%.1f", a[(NR + 1) / 2]; else printf "%.1f", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# bench NAME CMD...: one untimed warm-up (warm page cache) with stdout to a file (rows = its
# line count, one JSON object per line), then RUNS timed runs of CMD with stdout to /dev/null;
# wall ms from date +%s%N around it.
declare -A MED ROWS RAW CMD
ORDER=()
bench() {
    local name=$1
    shift
    local out="$WORK/$name.out" i t0 t1 ms list=""
    "$@" >"$out" || die "$name failed: $*"
    for ((i = 1; i <= RUNS; i++)); do
        wait_idle
        t0=$(now_ns)
        "$@" >/dev/null
        t1=$(now_ns)
        ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e6}')
        list+="$ms "
    done
    MED[$name]=$(printf '%s\n' $list | median)
    ROWS[$name]=$(wc -l <"$out")
    RAW[$name]=$list
    CMD[$name]="$*"
    ORDER+=("$name")
    echo "  $name: median ${MED[$name]} ms, ${ROWS[$name]} rows (runs: $list)" >&2
}

# --- Queries -------------------------------------------------------------------------------------
Q=("$VIGIL" query --db "$DB" --format jsonl)
log "timing queries ($RUNS runs each, warm cache)"
bench history_typical "$VIGIL" history "$TYPICAL" --db "$DB" --format jsonl
bench history_hot "$VIGIL" history "$HOT" --db "$DB" --format jsonl
bench user_24h "${Q[@]}" --user "$TUSER" --since 24h
bench root_24h "${Q[@]}" --user root --since 24h
bench under_eu_7d "${Q[@]}" --under /srv/customers/eu --since 7d
bench label_24h "${Q[@]}" --label customers --since 24h

# The nightly report's event summary: `vigil report` needs a policy and a baseline of a real
# tree (it runs a check first), which would time the file walk, not the event log. gen_events
# report calls vigil::build_report itself, with an empty DiffResult (no findings to explain),
# over the last 24 h: the unexpected count, accesses to labelled/critical files by user, the
# agent-health counters and the downtime scan: every SQL statement of the event summary.
log "timing build_report over the last 24 h"
"$GEN" report "$DB" 1 >/dev/null
rep_list=""
for ((i = 1; i <= RUNS; i++)); do
    wait_idle
    line=$("$GEN" report "$DB" 1)
    rep_list+="$(sed -n 's/^ms=\([0-9.]*\).*/\1/p' <<<"$line") "
done
MED[report]=$(printf '%s\n' $rep_list | median)
ROWS[report]="$(sed 's/^ms=[0-9.]* //' <<<"$line")"
RAW[report]=$rep_list
CMD[report]="$GEN report $DB 1   # vigil::build_report(db, DiffResult{}, CheckContext{}, now-24h, now)"
echo "  report: median ${MED[report]} ms (${ROWS[report]}; runs: $rep_list)" >&2

# --- Plans ---------------------------------------------------------------------------------------
# The plans of the SQL vigil builds (explain_event_query) for the timed filters, and of the
# report's statements (their SQL from common/report.cpp, values inlined here only for the plan).
now=$(now_ns)
d1=$((now - 86400000000000))
plan() { sqlite3 "$DB" "EXPLAIN QUERY PLAN $1" | sed 's/^/    /'; }
plans="$WORK/plans.txt"
{
    "$GEN" plans "$DB" "$TYPICAL" "$TUSER"
    echo "report: accesses"
    plan "SELECT coalesce(user, CAST(uid AS TEXT), '(unknown)'), coalesce(label, '(critical)'), count(*), count(DISTINCT path) FROM events WHERE action IN ('open', 'read') AND time_ns >= $d1 AND time_ns <= $now AND (label IS NOT NULL OR severity = 'critical') GROUP BY 1, 2 ORDER BY 3 DESC, 1"
    echo "report: counters (count(*) ... WHERE time_ns BETWEEN AND <where>)"
    plan "SELECT count(*) FROM events WHERE time_ns >= $d1 AND time_ns <= $now AND source = 'fanotify' AND uid IS NULL AND user IS NULL"
    echo "report: downtime"
    plan "SELECT action, time_ns FROM events WHERE action IN ('agent_start', 'agent_stop') ORDER BY time_ns, id"
} >"$plans"
cat "$plans" >&2

# --- Report ----------------------------------------------------------------------------------------
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {printf v <= t ? "met" : "**missed**"}'; }
label_of() {
    case $1 in
        history_typical) echo "\`vigil history\` of a typical file (popularity rank 1000)" ;;
        history_hot) echo "\`vigil history\` of the busiest file (rank 1, worst case)" ;;
        user_24h) echo "\`--user $TUSER --since 24h\` (6th busiest user)" ;;
        root_24h) echo "\`--user root --since 24h\` (busiest user, uid 0 also matched)" ;;
        under_eu_7d) echo "\`--under /srv/customers/eu --since 7d\`" ;;
        label_24h) echo "\`--label customers --since 24h\`" ;;
    esac
}
scale_note=""
[[ $EVENTS == 10000000 ]] || scale_note=" (**scaled down** from the issue's 10,000,000: EVENTS=$EVENTS)"
report="$WORK/report.md"
{
    echo "## Query benchmark (bench/query.sh), run of $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
         "kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2 / 1048576}' /proc/meminfo),"\
         "$(findmnt -no FSTYPE --target "$WORK")"
    echo "- Software: $("$VIGIL" --version 2>/dev/null || echo vigil) (Release, commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' + uncommitted changes')),"\
         "SQLite $(sqlite3 --version | cut -d' ' -f1)"
    echo "- Data: **$(info events) events**$scale_note + $(info extra_rows) agent_start/agent_stop rows, over the 30 days"\
         "ending at generation time (seed $SEED, bench/gen_events.cpp through EventAppender, 10,000 rows per"\
         "transaction, generated in $(info insert_s) s); 100,000 distinct paths (Zipf s=0.9), 50 users (Zipf s=1.1, root"\
         "$(info root_share | awk '{printf "%.0f%%", $1 * 100}') of attributed rows)"
    echo "- Database size: **$db_bytes bytes = $bytes_per_event bytes/event** (after a WAL checkpoint;"\
         "the events table alone: ${table_bytes:-n/a} bytes, the rest is its $index_count indexes)"
    echo "- Each query: one untimed warm-up run (page cache warm), then $RUNS timed runs, each after waiting (up to"\
         "${IDLE_WAIT}s) for the CPUs to be >= 90% idle (started busy anyway: $busy_starts); wall time of the whole"\
         "process (\`date +%s%N\` around it), output to /dev/null (rows counted in the warm-up's output); median"
    echo
    echo "Commands (DB = \`$DB\`):"
    echo
    echo '```'
    for n in "${ORDER[@]}" report; do echo "${CMD[$n]}" | sed "s#$DB#DB#g; s#$BUILD/cli/##; s#$WORK/##"; done
    echo '```'
    echo
    echo "| query | median ms | rows returned | target | |"
    echo "|---|---:|---:|---:|---|"
    for n in "${ORDER[@]}"; do
        echo "| $(label_of "$n") | ${MED[$n]} | ${ROWS[$n]} | < 100 ms | $(verdict "${MED[$n]}" 100) |"
    done
    echo "| nightly report's event summary (\`build_report\`, last 24 h, no findings) | ${MED[report]} | ${ROWS[report]} | < 2000 ms | $(verdict "${MED[report]}" 2000) |"
    echo
    echo "Raw runs (ms):"
    echo
    echo '```'
    for n in "${ORDER[@]}" report; do printf '%-16s %s\n' "$n" "${RAW[$n]}"; done
    echo '```'
    echo
    echo "Query plans (EXPLAIN QUERY PLAN of the SQL built by common/event_query.cpp and common/report.cpp):"
    echo
    echo '```'
    cat "$plans"
    echo '```'
    echo
} >"$report"
[[ -f $RESULTS ]] || printf '# Vigil benchmark results\n\n' >"$RESULTS"
cat "$report" >>"$RESULTS"
cat "$report"
log "appended to $RESULTS (this run alone: $report)"
