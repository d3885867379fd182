#!/usr/bin/env bash
# Where vigil's time and memory go, on the corpus baseline.sh built (run baseline.sh first).
#   1. perf record (DWARF call graphs) of one `vigil init` and one `vigil check`, split into
#      phases by perf_phases.py: CPU seconds per phase, main thread vs walk workers.
#   2. Peak RSS of `vigil check` and `vigil init` with glibc's default malloc and with a fixed
#      mmap threshold (GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072), which shows how
#      much of the peak is freed-but-retained heap from growing vectors.
# Prints markdown and writes it to bench/work/profile.md. Needs perf (Debian: linux-perf).
set -euo pipefail
export LC_ALL=C

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
WORK="$BENCH/work"
VIGIL="$REPO/build-bench/cli/vigil"
POLICY="$WORK/policy.json"
THREADS="${THREADS:-$(nproc)}"
HZ="${HZ:-999}"
DB="$WORK/profile.db"

[[ -x $VIGIL && -f $POLICY ]] || { echo "run bench/baseline.sh first" >&2; exit 1; }
command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf >/dev/null

out="$WORK/profile.md"
rm -f "$DB" "$DB-wal" "$DB-shm"
# One untimed run so the caches are as warm as in baseline.sh.
"$VIGIL" init --policy "$POLICY" --db "$DB" --threads "$THREADS" >/dev/null

{
    echo "## Profile of $(date -u '+%Y-%m-%d %H:%M UTC') ($THREADS threads, perf at $HZ Hz, DWARF unwinding)"
    echo
    for cmd in init check; do
        [[ $cmd == init ]] && rm -f "$DB" "$DB-wal" "$DB-shm"
        perf record -q -F "$HZ" --call-graph dwarf,16384 -o "$WORK/$cmd.perf" -- \
            "$VIGIL" "$cmd" --policy "$POLICY" --db "$DB" --threads "$THREADS" >"$WORK/profile_$cmd.out" 2>/dev/null
        perf script -i "$WORK/$cmd.perf" -F tid,ip,sym 2>/dev/null >"$WORK/$cmd.perf.txt"
        python3 "$BENCH/perf_phases.py" "$WORK/$cmd.perf.txt" "$HZ" "vigil $cmd"
        echo "vigil's own timing line: \`$(grep -m1 -E 'hashed|Checked' "$WORK/profile_$cmd.out")\`"
        echo
    done

    echo "Peak RSS (MiB, /usr/bin/time %M) with glibc's default malloc vs a fixed mmap threshold:"
    echo
    echo "| run | default malloc | mmap_threshold=128 KiB |"
    echo "|---|---:|---:|"
    for cmd in init check; do
        d=() f=()
        for i in 1 2 3; do
            [[ $cmd == init ]] && rm -f "$DB" "$DB-wal" "$DB-shm"
            d+=("$(/usr/bin/time -f '%M' "$VIGIL" "$cmd" --policy "$POLICY" --db "$DB" --threads "$THREADS" 2>&1 >/dev/null | tail -n 1)")
            [[ $cmd == init ]] && rm -f "$DB" "$DB-wal" "$DB-shm"
            f+=("$(GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 /usr/bin/time -f '%M' "$VIGIL" "$cmd" --policy "$POLICY" --db "$DB" --threads "$THREADS" 2>&1 >/dev/null | tail -n 1)")
        done
        fmt() { printf '%s\n' "$@" | awk '{printf "%s%.0f", (NR > 1 ? " / " : ""), $1 / 1024}'; }
        echo "| vigil $cmd (3 runs) | $(fmt "${d[@]}") | $(fmt "${f[@]}") |"
    done
    echo
} | tee "$out"
rm -f "$DB" "$DB-wal" "$DB-shm"
