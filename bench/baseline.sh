#!/usr/bin/env bash
# Vigil performance benchmark: vigil init/check against AIDE and against the SHA-256
# hashing limit of the machine, on a reproducible corpus copied from /usr. See README.md.
#
# Run as root from anywhere:  bench/baseline.sh
# Environment (all optional):
#   CORPUS_PRESET   small | default | full              (default: default)
#                   small:   /usr/share only                          (~58k files, ~0.9 GB)
#                   default: /usr/share + /usr/lib minus its 4 largest trees (~116k files, ~2.3 GB)
#                   full:    /usr/share + /usr/lib                    (~123k files, ~5.3 GB)
#   CORPUS_SOURCES  space-separated absolute dirs to copy (overrides the preset)
#   CORPUS_EXCLUDE  space-separated absolute dirs to leave out (overrides the preset)
#   RUNS            timed runs per tool, the median is reported   (default: 3)
#   THREADS         worker threads for every tool                  (default: nproc)
#   WARMUP          1: one untimed run of each tool before timing  (default: 1)
#   SKIP_AIDE       1: do not run AIDE                             (default: 0)
#   PROFILE         1: also time vigil with --threads 1 and split init's phases (default: 1)
#   RESULTS         markdown file the run is appended to           (default: bench/RESULTS.md)
set -euo pipefail
export LC_ALL=C

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$BENCH")"
BUILD="$REPO/build-bench"
CORPUS="$BENCH/corpus"
WORK="$BENCH/work"
RESULTS="${RESULTS:-$BENCH/RESULTS.md}"
RUNS="${RUNS:-3}"
THREADS="${THREADS:-$(nproc)}"
WARMUP="${WARMUP:-1}"
SKIP_AIDE="${SKIP_AIDE:-0}"
PROFILE="${PROFILE:-1}"
CORPUS_PRESET="${CORPUS_PRESET:-default}"

case "$CORPUS_PRESET" in
    small) def_sources="/usr/share"; def_exclude="" ;;
    default)
        def_sources="/usr/share /usr/lib"
        # The four largest trees by bytes (2.8 GB in 6.2k files): without them the corpus is
        # ~116k files / ~2.3 GB with the shape of a real system (many small files, some big).
        def_exclude="/usr/lib/google-cloud-sdk/bin /usr/lib/jvm /usr/lib/llvm-14 /usr/lib/x86_64-linux-gnu" ;;
    full) def_sources="/usr/share /usr/lib"; def_exclude="" ;;
    *) echo "CORPUS_PRESET must be small, default or full" >&2; exit 2 ;;
esac
CORPUS_SOURCES="${CORPUS_SOURCES:-$def_sources}"
CORPUS_EXCLUDE="${CORPUS_EXCLUDE-$def_exclude}"

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'baseline.sh: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (AIDE and vigil must read every file of the corpus)"
[[ $RUNS -ge 1 ]] || die "RUNS must be at least 1"

# --- Tools ----------------------------------------------------------------------------
need_pkgs=()
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
command -v aide >/dev/null || [[ $SKIP_AIDE == 1 ]] || need_pkgs+=(aide)
command -v g++ >/dev/null || need_pkgs+=(g++)
[[ -f /usr/include/openssl/evp.h ]] || need_pkgs+=(libssl-dev)
if ((${#need_pkgs[@]})); then
    log "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

# --- Build (Release, own build dir; never touches build/) -------------------------------
log "building vigil (Release) in $BUILD"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVIGIL_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
VIGIL="$BUILD/cli/vigil"
[[ -x $VIGIL ]] || die "no vigil binary at $VIGIL"

mkdir -p "$WORK"
rm -f "$WORK"/*.times  # results of a previous run
HASH_LIMIT="$WORK/hash_limit"
g++ -O2 -std=c++20 -o "$HASH_LIMIT" "$BENCH/hash_limit.cpp" -lcrypto -lpthread

# --- Corpus -----------------------------------------------------------------------------
spec="sources=$CORPUS_SOURCES exclude=$CORPUS_EXCLUDE"
if [[ ! -f $CORPUS/.spec || "$(cat "$CORPUS/.spec")" != "$spec" ]]; then
    log "building corpus in $CORPUS: $spec"
    rm -rf "$CORPUS"
    mkdir -p "$CORPUS"
    tar_args=(--anchored)
    for x in $CORPUS_EXCLUDE; do tar_args+=("--exclude=${x#/}"); done
    members=()
    for s in $CORPUS_SOURCES; do members+=("${s#/}"); done
    # tar keeps owners, modes, times, hard links, symlinks, ACLs, xattrs and capabilities.
    tar -C / --xattrs --xattrs-include='*' --acls "${tar_args[@]}" -cf - "${members[@]}" |
        tar -C "$CORPUS" --xattrs --xattrs-include='*' --acls --numeric-owner -xpf -
    printf '%s' "$spec" >"$CORPUS/.spec"
fi
# .spec sits at the corpus root: every tool sees it, it is one more small file.
corpus_files=$(find "$CORPUS" -type f | wc -l)
corpus_entries=$(find "$CORPUS" | wc -l)
corpus_bytes=$(find "$CORPUS" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')
corpus_gb=$(awk -v b="$corpus_bytes" 'BEGIN {printf "%.2f", b / 1e9}')
log "corpus: $corpus_files regular files, $corpus_entries entries, $corpus_bytes bytes ($corpus_gb GB)"

# --- Configurations -----------------------------------------------------------------------
POLICY="$WORK/policy.json"
cat >"$POLICY" <<EOF
{ "rules": [ { "path": "$CORPUS", "label": "bench",
  "check": ["sha256", "mode", "uid", "gid", "size", "mtime", "ctime", "inode", "nlink",
            "xattrs", "acl", "caps", "target", "dev"] } ] }
EOF
chmod 600 "$POLICY"
VDB="$WORK/vigil.db"

AIDE_CONF="$WORK/aide.conf"
AIDE_DB="$WORK/aide.db"          # database_in: what --check reads
AIDE_DB_NEW="$WORK/aide.db.new"  # database_out: what --init writes
# The same attributes as vigil records: file type, permissions, inode, link target, link
# count, owner, group, size, mtime, ctime, SHA-256, ACLs, SELinux label, other xattrs and
# capabilities (vigil keeps all xattrs, the SELinux label among them). No e2fsattrs (vigil
# does not read chattr flags), no atime. Uncompressed database, as vigil's SQLite file is,
# and no checksums of the database itself in the report (database_attrs=E): vigil has none.
cat >"$AIDE_CONF" <<EOF
database_in=file:$AIDE_DB
database_out=file:$AIDE_DB_NEW
gzip_dbout=no
database_attrs=E
num_workers=$THREADS
report_url=stdout
log_level=warning
VigilAll = ftype+p+i+l+n+u+g+s+m+c+sha256+acl+selinux+xattrs+caps
$CORPUS VigilAll
EOF
if [[ $SKIP_AIDE != 1 ]]; then aide -c "$AIDE_CONF" -D >/dev/null || die "AIDE rejects $AIDE_CONF"; fi

# --- Timing helpers -------------------------------------------------------------------------
# Other users of the machine distort timings: before every timed run wait (at most
# IDLE_WAIT s, default 120) until the CPUs are at least 90% idle over one second. Runs that
# started on a busy machine are counted and reported.
IDLE_WAIT="${IDLE_WAIT:-120}"
busy_starts=0
cpu_busy_pct() {  # busy % of all CPUs over the next second, from /proc/stat
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

# CPU jiffies (USER_HZ) spent by the whole machine so far, busy only.
busy_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# timed NAME CMD...: runs CMD under /usr/bin/time and appends "wall user sys maxrss_kb rc"
# to $WORK/NAME.times; stdout/stderr of the last run are kept in $WORK/NAME.out/.err.
# A run during which other processes used more than 10% of one CPU (the machine's busy
# time minus the command's own user+sys) is thrown away and repeated, up to RETRIES times;
# the last attempt is kept regardless and counted as contended.
RETRIES="${RETRIES:-4}"
contended_runs=0
retried_runs=0
timed() {
    local name=$1
    shift
    local tf="$WORK/$name.time" rc attempt b0 b1 line foreign hz
    hz=$(getconf CLK_TCK)
    for ((attempt = 0; attempt <= RETRIES; attempt++)); do
        ((attempt == 0)) || { retried_runs=$((retried_runs + 1)); $prep_now; wait_idle; }
        rc=0
        b0=$(busy_jiffies)
        /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
        b1=$(busy_jiffies)
        line=$(tail -n 1 "$tf")
        foreign=$(awk -v b="$((b1 - b0))" -v hz="$hz" -v l="$line" 'BEGIN {
            split(l, f, " "); x = b / hz - f[2] - f[3]; printf "%.2f", x < 0 ? 0 : x }')
        if awk -v x="$foreign" -v l="$line" 'BEGIN {split(l, f, " "); exit !(x <= 0.1 * f[1] + 0.05)}'; then
            break
        fi
        echo "  $name: $line rc=$rc -- other processes used ${foreign}s CPU meanwhile: discarded" >&2
        if ((attempt == RETRIES)); then contended_runs=$((contended_runs + 1)); fi
    done
    echo "$line $rc" >>"$WORK/$name.times"
    echo "  $name: $line rc=$rc" >&2
}
median() {  # median of column $2 of file $1
    awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR] = $1} END {
        if (NR % 2) printf "%s", a[(NR + 1) / 2]; else printf "%s", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
last_rc() { tail -n 1 "$WORK/$1.times" | awk '{print $5}'; }

# ready commands (run before every run, untimed)
prep_vinit() { rm -f "$VDB" "$VDB-wal" "$VDB-shm"; }
prep_ainit() { rm -f "$AIDE_DB_NEW"; }

# bench NAME PREP CMD...: optional warm-up run, then $RUNS timed runs.
bench() {
    local name=$1 prep=$2
    shift 2
    rm -f "$WORK/$name.times"
    if [[ $WARMUP == 1 ]]; then
        $prep
        "$@" >/dev/null 2>&1 || true
    fi
    prep_now=$prep
    for ((i = 1; i <= RUNS; i++)); do
        $prep
        wait_idle
        timed "$name" "$@"
    done
}

# --- Warm the page cache --------------------------------------------------------------------------
log "warming the page cache (one cat pass over the corpus)"
find "$CORPUS" -type f -print0 | xargs -0 -n 256 -P "$THREADS" cat >/dev/null

# --- Runs ------------------------------------------------------------------------------------------
log "hash limit ($RUNS runs)"
bench hash_limit true "$HASH_LIMIT" "$CORPUS" "$THREADS"

log "vigil init ($RUNS runs, fresh database each)"
bench vigil_init prep_vinit "$VIGIL" init --policy "$POLICY" --db "$VDB" --threads "$THREADS"
[[ $(last_rc vigil_init) == 0 ]] || die "vigil init failed: $(cat "$WORK/vigil_init.err")"

log "vigil check ($RUNS runs, against the last init's database)"
bench vigil_check true "$VIGIL" check --policy "$POLICY" --db "$VDB" --threads "$THREADS"
[[ $(last_rc vigil_check) == 0 ]] || echo "WARNING: vigil check reported differences (rc $(last_rc vigil_check)), see $WORK/vigil_check.out" >&2

if [[ $SKIP_AIDE != 1 ]]; then
    log "aide --init ($RUNS runs, fresh database each)"
    bench aide_init prep_ainit aide -c "$AIDE_CONF" --init
    [[ $(last_rc aide_init) == 0 ]] || die "aide --init failed: $(cat "$WORK/aide_init.err")"
    mv -f "$AIDE_DB_NEW" "$AIDE_DB"

    log "aide --check ($RUNS runs)"
    bench aide_check true aide -c "$AIDE_CONF" --check
    [[ $(last_rc aide_check) == 0 ]] || echo "WARNING: aide --check reported differences (rc $(last_rc aide_check)), see $WORK/aide_check.out" >&2
fi

if [[ $PROFILE == 1 ]]; then
    log "profile: vigil with --threads 1, hash limit with 1 thread"
    bench vigil_init_t1 prep_vinit "$VIGIL" init --policy "$POLICY" --db "$VDB" --threads 1
    bench vigil_check_t1 true "$VIGIL" check --policy "$POLICY" --db "$VDB" --threads 1
    bench hash_limit_t1 true "$HASH_LIMIT" "$CORPUS" 1
fi

# --- Report ----------------------------------------------------------------------------------------
row() {  # row LABEL NAME
    local f="$WORK/$2.times"
    [[ -f $f ]] || return 0
    local w u s m
    w=$(median "$f" 1)
    u=$(median "$f" 2)
    s=$(median "$f" 3)
    m=$(median "$f" 4)
    printf '| %s | %.2f | %.2f | %.2f | %.2f | %.0f |\n' "$1" "$w" "$u" "$s" "$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')" "$(awk -v m="$m" 'BEGIN {print m / 1024}')"
}
wall() { median "$WORK/$1.times" 1; }
rss() { median "$WORK/$1.times" 4; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "n/a"}'; }
verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN {ok = dir == "le" ? v <= t : v >= t; printf ok ? "met" : "**missed**"}'; }

hl_line=$(cat "$WORK/hash_limit.out")
report="$WORK/report.md"
{
    echo "## Run of $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
         "kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2 / 1048576}' /proc/meminfo),"\
         "$(findmnt -no FSTYPE --target "$CORPUS") on $(findmnt -no SOURCE --target "$CORPUS");"\
         "SHA extensions: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)"
    echo "- Software: $("$VIGIL" --version) (Release, commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' + uncommitted changes')),"\
         "$(aide --version 2>&1 | head -n 1), $(openssl version | cut -d' ' -f1-2), $(g++ --version | head -n 1)"
    echo "- Corpus: \`$CORPUS\` = $CORPUS_SOURCES minus ${CORPUS_EXCLUDE:-nothing} (preset \`$CORPUS_PRESET\`):"\
         "**$corpus_files regular files** ($corpus_entries entries), **$corpus_gb GB** ($corpus_bytes bytes)"
    echo "- Each tool: page cache warm (one cat pass$([[ $WARMUP == 1 ]] && echo ' + one untimed run of each tool')), then $RUNS timed runs;"\
         "each column is the median of the $RUNS runs; threads = $THREADS for every tool"
    echo "- Quiet machine: every timed run waited (up to ${IDLE_WAIT}s) for the CPUs to be >= 90% idle;"\
         "runs started on a busy machine anyway: $busy_starts. Runs during which other processes used more than"\
         "10% of a CPU were discarded and repeated ($retried_runs repeats); kept although contended: $contended_runs"
    echo "- hash limit (last run): \`$hl_line\`"
    echo
    echo "Commands:"
    echo
    echo '```'
    echo "/usr/bin/time -f '%e %U %S %M' <command>"
    echo "$HASH_LIMIT $CORPUS $THREADS"
    echo "$VIGIL init --policy $POLICY --db $VDB --threads $THREADS   # db removed before each run"
    echo "$VIGIL check --policy $POLICY --db $VDB --threads $THREADS"
    [[ $SKIP_AIDE == 1 ]] || echo "aide -c $AIDE_CONF --init    # database_out removed before each run"
    [[ $SKIP_AIDE == 1 ]] || echo "aide -c $AIDE_CONF --check   # after mv aide.db.new aide.db"
    echo '```'
    echo
    echo "policy.json: \`$(tr -s ' \n' ' ' <"$POLICY")\`"
    echo
    [[ $SKIP_AIDE == 1 ]] || { echo "aide.conf:"; echo; echo '```'; cat "$AIDE_CONF"; echo '```'; echo; }
    echo "| tool | wall s | user s | sys s | CPU s (user+sys) | peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|---:|"
    row "hash limit" hash_limit
    row "vigil init" vigil_init
    row "vigil check" vigil_check
    row "aide --init" aide_init
    row "aide --check" aide_check
    if [[ $PROFILE == 1 ]]; then
        row "hash limit, 1 thread" hash_limit_t1
        row "vigil init --threads 1" vigil_init_t1
        row "vigil check --threads 1" vigil_check_t1
    fi
    echo
    echo "| ratio (wall time) | value | target | |"
    echo "|---|---:|---:|---|"
    r=$(ratio "$(wall vigil_init)" "$(wall hash_limit)")
    echo "| vigil init / hash limit | $r | <= 1.5 | $(verdict "$r" 1.5 le) |"
    r=$(ratio "$(wall vigil_check)" "$(wall hash_limit)")
    echo "| vigil check / hash limit | $r | <= 1.5 | $(verdict "$r" 1.5 le) |"
    if [[ $SKIP_AIDE != 1 ]]; then
        r=$(ratio "$(wall aide_init)" "$(wall vigil_init)")
        echo "| aide --init / vigil init | $r | >= 2.5 | $(verdict "$r" 2.5 ge) |"
        r=$(ratio "$(wall aide_check)" "$(wall vigil_check)")
        echo "| aide --check / vigil check | $r | >= 5 | $(verdict "$r" 5 ge) |"
        r=$(ratio "$(rss vigil_init)" "$(rss aide_init)")
        echo "| peak RSS vigil init / aide --init | $r | <= 1 | $(verdict "$r" 1 le) |"
        r=$(ratio "$(rss vigil_check)" "$(rss aide_check)")
        echo "| peak RSS vigil check / aide --check | $r | <= 1 | $(verdict "$r" 1 le) |"
    fi
    echo
    echo "Raw runs (wall user sys maxrss_kb rc):"
    echo
    echo '```'
    for n in hash_limit vigil_init vigil_check aide_init aide_check hash_limit_t1 vigil_init_t1 vigil_check_t1; do
        [[ -f $WORK/$n.times ]] && printf '%-16s %s\n' "$n" "$(paste -sd';' "$WORK/$n.times" | sed 's/;/ ; /g')"
    done
    echo '```'
    echo
} >"$report"

[[ -f $RESULTS ]] || printf '# Vigil benchmark results\n\nAppended by bench/baseline.sh; see bench/README.md.\n\n' >"$RESULTS"
cat "$report" >>"$RESULTS"
cat "$report"
log "appended to $RESULTS (this run alone: $report)"
