#!/usr/bin/env bash
# Sealing benchmark (issue 5): event recording throughput with sealing on vs off (the
# agent writer's path: 1024-row transactions, WAL, synchronous=FULL), and `vigil verify`
# over a sealed log of 1,000,000 events. Appends a report to bench/RESULTS.md.
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"
BUILD="${BUILD:-$REPO/build-bench}"
WORK="${WORK:-$BENCH/work/seal}"
RESULTS="${RESULTS:-$BENCH/RESULTS.md}"
TP_EVENTS="${TP_EVENTS:-200000}"
VERIFY_EVENTS="${VERIFY_EVENTS:-1000000}"
RUNS="${RUNS:-3}"

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'seal.sh: %s\n' "$*" >&2; exit 1; }
[[ $RUNS -ge 1 ]] || die "RUNS must be at least 1"
mkdir -p "$WORK"

log "building vigil (Release) into $BUILD"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVIGIL_BUILD_TESTS=OFF -DVIGIL_WERROR=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target vigil >/dev/null
VIGIL="$BUILD/cli/vigil"
LIB="$BUILD/common/libvigil_common.a"
[[ -x $VIGIL && -f $LIB ]] || die "no vigil or libvigil_common.a in $BUILD"
TOOL="$WORK/seal_bench"
g++ -O2 -std=c++20 -I"$REPO" "$BENCH/seal_bench.cpp" "$LIB" -lcrypto -lsqlite3 -lpthread -o "$TOOL"

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

log "throughput: $TP_EVENTS events, sealed and unsealed, $RUNS runs each (alternating)"
"$TOOL" throughput "$WORK" "$TP_EVENTS" "$RUNS" | tee "$WORK/throughput.txt"
field() { sed -n "s/^mode=$1 .*$2=\([0-9.]*\).*/\1/p" "$WORK/throughput.txt" | median; }
plain=$(field unsealed rows_per_s)
sealed=$(field sealed rows_per_s)
plain_cpu=$(field unsealed cpu_us_per_row)
sealed_cpu=$(field sealed cpu_us_per_row)
cost=$(awk -v p="$plain" -v s="$sealed" 'BEGIN {printf "%.1f", (p - s) / p * 100}')
cpu_cost=$(awk -v p="$plain_cpu" -v s="$sealed_cpu" 'BEGIN {printf "%.1f", (s - p) / p * 100}')

DB="$WORK/verify-$VERIFY_EVENTS.db"
log "filling $DB with $VERIFY_EVENTS sealed events"
rm -f "$DB" "$DB"-wal "$DB"-shm "$DB".key "$DB".verification-key
"$TOOL" fill "$DB" "$VERIFY_EVENTS"
sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
"$VIGIL" verify --db "$DB" --key-file "$DB.verification-key" >/dev/null  # warm the page cache
times=()
for ((i = 1; i <= RUNS; i++)); do
    t0=$(date +%s%N)
    rc=0
    "$VIGIL" verify --db "$DB" --key-file "$DB.verification-key" >"$WORK/verify.out" || rc=$?
    t1=$(date +%s%N)
    [[ $rc -eq 0 ]] || { cat "$WORK/verify.out" >&2; die "verify failed (exit $rc)"; }
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')")
done
verify_s=$(printf '%s\n' "${times[@]}" | median)

{
    echo
    echo "## Sealing (bench/seal.sh), run of $(date -u '+%Y-%m-%d %H:%M') UTC"
    echo
    echo "- Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), kernel $(uname -r)"
    echo "- Software: vigil $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?') (Release), $(openssl version 2>/dev/null || echo OpenSSL), SQLite $(sqlite3 --version | cut -d' ' -f1)"
    echo "- Throughput: $TP_EVENTS agent-shaped events (full actor, label, hashes on modify) into a fresh database per run, 1024-row transactions, WAL + synchronous=FULL, 64 MiB cache, as vigild's writer; sealed = EventChain (HMAC-SHA-256 per row, chained, the tail re-read per transaction); runs alternate; median of $RUNS"
    echo "- Verify: \`vigil verify --db DB --key-file DB.verification-key\` over $VERIFY_EVENTS sealed events in epochs of 10,000 rows (page cache warm), median of $RUNS"
    echo
    echo "| measure | result | target | |"
    echo "|---|---:|---:|---|"
    echo "| rows/s unsealed (wall) | $plain | | |"
    echo "| rows/s sealed (wall) | $sealed | | |"
    echo "| throughput lost to sealing (wall; fsync waits make it noisy) | $cost % | < 10 % | $(awk -v c="$cost" 'BEGIN {print (c < 10) ? "met" : "**missed**"}') |"
    echo "| CPU per row unsealed / sealed | $plain_cpu / $sealed_cpu µs | | |"
    echo "| CPU cost of sealing per row | $cpu_cost % | < 10 % | $(awk -v c="$cpu_cost" 'BEGIN {print (c < 10) ? "met" : "**missed**"}') |"
    echo "| \`vigil verify\`, $VERIFY_EVENTS events | $verify_s s | < 5 s | $(awk -v v="$verify_s" 'BEGIN {print (v < 5) ? "met" : "**missed**"}') |"
    echo
    echo "Raw runs:"
    echo
    echo '```'
    cat "$WORK/throughput.txt"
    echo "verify_s ${times[*]}"
    echo '```'
} | tee -a "$RESULTS"
log "appended to $RESULTS"
