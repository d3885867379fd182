#!/usr/bin/env bash
# Real-time recording benchmark (issue 3): the same file workload bare, under vigild
# (fanotify), under vigild (fanotify) with its audit source on (issue 8), under vigild
# (inotify) and under auditd (-w DIR -p rwxa); see bench/README.md.
# Appends a report to bench/RESULTS.md. Run as root: sudo bench/realtime.sh
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"
BUILD="${BUILD:-$REPO/build-bench}"
WORK="${WORK:-$BENCH/work/realtime}"
RESULTS="${RESULTS:-$BENCH/RESULTS.md}"
MNT="${MNT:-/mnt/vigil-bench}"
TREE="$MNT/tree"
FILES="${FILES:-50000}"
DIRS="${DIRS:-500}"
PROCS="${PROCS:-2000}"
SHORT_FILES="${SHORT_FILES:-20}"
RUNS="${RUNS:-3}"
MODES="${MODES:-bare floor fanotify fanotify-audit inotify auditd}"
IDLE_WAIT="${IDLE_WAIT:-120}"              # per run: seconds to wait for an idle machine
START_IDLE_WAIT="${START_IDLE_WAIT:-1200}" # before the first run (a CI run may be going on)
RETRIES="${RETRIES:-2}"                    # repeats of a run disturbed by other processes
AUDIT_FORMAT="${AUDIT_FORMAT:-ENRICHED}"   # auditd log_format (Debian's default: ENRICHED)

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'realtime.sh: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (fanotify, auditd and mount need it)"
[[ $RUNS -ge 1 ]] || die "RUNS must be at least 1"

# --- Tools ----------------------------------------------------------------------------
need_pkgs=()
[[ -x /usr/bin/time ]] || need_pkgs+=(time)
command -v g++ >/dev/null || need_pkgs+=(g++)
command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3)
command -v auditd >/dev/null || [[ " $MODES " != *" auditd "* ]] || need_pkgs+=(auditd)
if ((${#need_pkgs[@]})); then
    log "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

# --- Build (Release, own build dir) -------------------------------------------------------
log "building vigild (Release) in $BUILD"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVIGIL_BUILD_TESTS=OFF -DVIGIL_WERROR=OFF >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target vigild vigil >/dev/null
VIGILD="$BUILD/agent/vigild"
[[ -x $VIGILD ]] || die "no vigild binary at $VIGILD"
mkdir -p "$WORK"
WORKLOAD="$WORK/workload"
g++ -O2 -std=c++20 -Wall -Wextra -o "$WORKLOAD" "$BENCH/workload.cpp"
FLOOR="$WORK/fanotify_floor"
g++ -O2 -std=c++20 -Wall -Wextra -o "$FLOOR" "$BENCH/fanotify_floor.cpp"
rm -f "$WORK"/*.run "$WORK"/*.out "$WORK"/*.err "$WORK"/*.samples "$WORK"/*.time "$WORK"/*.counts "$WORK"/*.pids

# --- State to restore, cleanup ---------------------------------------------------------------
agent_pid="" time_pid="" sampler_pid="" auditd_pid="" floor_pid=""
audit_saved=""
if command -v auditctl >/dev/null; then
    # enabled, failure, backlog_limit, backlog_wait_time as found
    audit_saved=$(auditctl -s | awk '$1 == "enabled" || $1 == "failure" || $1 == "backlog_limit" || $1 == "backlog_wait_time" {printf "%s=%s ", $1, $2}')
fi
audit_rules_before=$(auditctl -l 2>/dev/null || true)
mounted_here=0
cleanup() {
    local rc=$?
    set +e
    [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null
    [[ -n $floor_pid ]] && kill -TERM "$floor_pid" 2>/dev/null
    [[ -n $agent_pid ]] && kill -TERM "$agent_pid" 2>/dev/null && wait "$time_pid" 2>/dev/null
    if [[ -n $auditd_pid ]]; then
        auditctl -D >/dev/null 2>&1
        kill -TERM "$auditd_pid" 2>/dev/null
        wait "$auditd_pid" 2>/dev/null
    fi
    if [[ -n $audit_saved ]]; then
        auditctl -D >/dev/null 2>&1
        # rules that were there before us (normally none)
        if [[ $audit_rules_before != "No rules" && -n $audit_rules_before ]]; then
            while IFS= read -r r; do eval "auditctl $r" >/dev/null 2>&1; done <<<"$audit_rules_before"
        fi
        local kv
        for kv in $audit_saved; do
            case ${kv%%=*} in
                enabled) auditctl -e "${kv#*=}" >/dev/null 2>&1 ;;
                failure) auditctl -f "${kv#*=}" >/dev/null 2>&1 ;;
                backlog_limit) auditctl -b "${kv#*=}" >/dev/null 2>&1 ;;
                backlog_wait_time) auditctl --backlog_wait_time "${kv#*=}" >/dev/null 2>&1 ;;
            esac
        done
    fi
    if ((mounted_here)); then
        cd /
        umount "$MNT" 2>/dev/null || umount -l "$MNT"
        rmdir "$MNT" 2>/dev/null
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The watched tree: tmpfs -------------------------------------------------------------------
mkdir -p "$MNT"
if ! mountpoint -q "$MNT"; then
    mount -t tmpfs -o size=1G,mode=0755 vigil-bench "$MNT"
    mounted_here=1
fi
[[ $(findmnt -no FSTYPE --target "$MNT") == tmpfs ]] || die "$MNT is not a tmpfs"
[[ $(stat -c %d "$MNT") != $(stat -c %d "$WORK") ]] || die "database and tree on one filesystem"

# Once audit has been enabled on this kernel (audit_ever_enabled), every new process gets
# syscall-audit work even with audit disabled and no rules; a task,never rule turns that
# off for processes forked after it, as on a machine where audit was never used. Set for
# bare and vigild runs, deleted (auditctl -D) for auditd runs.
no_audit_for_new_tasks() {
    command -v auditctl >/dev/null || return 0
    auditctl -D >/dev/null
    auditctl -a task,never >/dev/null
}

POLICY="$WORK/policy.json"
cat >"$POLICY" <<EOF
{ "audit": { "enabled": false }, "rules": [ { "path": "$TREE", "watch": "access", "label": "bench" } ] }
EOF
chmod 600 "$POLICY"
# fanotify-audit: the same with the audit source on (denied attempts + attribution rules)
POLICY_AUDIT="$WORK/policy-audit.json"
cat >"$POLICY_AUDIT" <<EOF
{ "audit": { "enabled": true, "attribution": true }, "rules": [ { "path": "$TREE", "watch": "access", "label": "bench" } ] }
EOF
chmod 600 "$POLICY_AUDIT"
DB="$WORK/vigil.db"
EXPECTED="$WORK/expected.tsv"

# --- Idle machine, timing helpers (as bench/baseline.sh) ------------------------------------------
cpu_busy_pct() {
    local a b
    a=($(head -n 1 /proc/stat))
    sleep 1
    b=($(head -n 1 /proc/stat))
    local idle=$(((b[4] + b[5]) - (a[4] + a[5]))) total=0 i
    for ((i = 1; i < ${#a[@]}; i++)); do total=$((total + b[i] - a[i])); done
    echo $((total > 0 ? 100 * (total - idle) / total : 0))
}
busy_starts=0
wait_idle() {  # wait_idle LIMIT [CONSECUTIVE_IDLE_SECONDS]
    local limit=$1 need=${2:-1} waited=0 ok=0 busy
    while ((ok < need)); do
        busy=$(cpu_busy_pct)
        if ((busy <= 10)); then ok=$((ok + 1)); else ok=0; fi
        ((ok >= need)) && break
        waited=$((waited + 1))
        if ((waited >= limit)); then
            echo "  (machine still ${busy}% busy after ${limit}s: timing anyway)" >&2
            busy_starts=$((busy_starts + 1))
            return 0
        fi
    done
}
busy_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
HZ=$(getconf CLK_TCK)
proc_cpu_s() {  # user+sys seconds of pid $1 (0 if gone)
    awk -v hz="$HZ" '{sub(/^.*\) /, ""); printf "%.3f", ($12 + $13) / hz}' "/proc/$1/stat" 2>/dev/null || echo 0
}
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" "$2" | tail -n 1; }
db_max_id() { sqlite3 -readonly "$DB" 'PRAGMA busy_timeout=2000; SELECT coalesce(max(id), 0) FROM events' 2>/dev/null | tail -n 1; }
status_depth() {
    local s=""
    read -r -d '' s <"$DB.agent.status" 2>/dev/null || true
    [[ $s =~ \"queue_depth\":\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}

# sampler: "epoch_s max_id queue_depth" every 0.25 s into $1 (rows committed to SQLite)
start_sampler() {
    (
        while :; do
            printf '%s %s %s\n' "$EPOCHREALTIME" "$(db_max_id)" "$(status_depth)"
            sleep 0.25
        done
    ) >"$1" &
    sampler_pid=$!
}
stop_sampler() { [[ -z $sampler_pid ]] || { kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null || true; sampler_pid=""; }; }

# Until the agent has written everything: max(id) unchanged for 1.5 s and its queue empty.
wait_caught_up() {
    local last=-1 same=0 cur t0=$EPOCHREALTIME
    while ((same < 3)); do
        sleep 0.5
        cur=$(db_max_id)
        if [[ $cur == "$last" && $(status_depth) == 0 ]]; then same=$((same + 1)); else same=0; fi
        last=$cur
        if awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {exit !(b - a > 600)}'; then
            echo "  (agent still writing after 600 s)" >&2
            break
        fi
    done
}

wait_ready() {  # wait_ready PID ERR_FILE NAME TENTHS: until ERR_FILE says "ready"; dies if PID exits or time runs out
    local i
    for ((i = 0; i < $4; i++)); do
        grep -q ready "$2" 2>/dev/null && return
        kill -0 "$1" 2>/dev/null || die "$3 exited: $(cat "$2")"
        sleep 0.1
    done
    grep -q ready "$2" || die "$3 not ready after $(($4 / 10)) s"
}
start_vigild() {  # start_vigild WATCHER NAME [POLICY]
    rm -f "$DB" "$DB-wal" "$DB-shm" "$DB.agent.status" "$DB.key" "$DB.verification-key"  # a fresh sealed database each run
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/$2.agent.time" \
        "$VIGILD" --policy "${3:-$POLICY}" --db "$DB" --watcher "$1" 2>"$WORK/$2.agent.err" &
    time_pid=$!
    wait_ready "$time_pid" "$WORK/$2.agent.err" vigild 600
    agent_pid=$(pgrep -P "$time_pid")
    [[ -n $agent_pid ]] || die "cannot find vigild's pid"
}
start_floor() {  # start_floor NAME: the minimal fanotify reader (bench/fanotify_floor.cpp)
    "$FLOOR" "$TREE" 2000 >"$WORK/$1.floor.out" 2>"$WORK/$1.floor.err" &
    floor_pid=$!
    wait_ready "$floor_pid" "$WORK/$1.floor.err" fanotify_floor 100
}
stop_floor() {
    kill -TERM "$floor_pid"
    wait "$floor_pid" || true
    floor_pid=""
}
agent_rc=0
stop_vigild() {  # sets agent_rc to vigild's exit code (through /usr/bin/time)
    agent_rc=0
    kill -TERM "$agent_pid"
    wait "$time_pid" || agent_rc=$?
    agent_pid="" time_pid=""
}

AUDIT_DIR="$WORK/audit"
start_auditd() {
    mkdir -p "$AUDIT_DIR"
    rm -f "$AUDIT_DIR"/audit.log*
    # Debian's auditd.conf, with the log here and never rotated (a rotated log would lose
    # records from the count), in $AUDIT_FORMAT.
    sed -e "s|^log_file = .*|log_file = $AUDIT_DIR/audit.log|" \
        -e 's|^max_log_file_action = .*|max_log_file_action = IGNORE|' \
        -e "s|^log_format = .*|log_format = $AUDIT_FORMAT|" /etc/audit/auditd.conf >"$AUDIT_DIR/auditd.conf"
    chmod 600 "$AUDIT_DIR/auditd.conf"
    auditctl -D >/dev/null
    auditd -n -c "$AUDIT_DIR" >"$AUDIT_DIR/auditd.out" 2>&1 &
    auditd_pid=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ $(auditctl -s | awk '$1 == "pid" {print $2}') == "$auditd_pid" ]] && break
        kill -0 "$auditd_pid" 2>/dev/null || die "auditd exited: $(cat "$AUDIT_DIR/auditd.out")"
        sleep 0.1
    done
    [[ $(auditctl -s | awk '$1 == "pid" {print $2}') == "$auditd_pid" ]] || die "auditd did not register with the kernel"
    # Debian's /etc/audit/rules.d/audit.rules settings, then the watch.
    auditctl -b 8192 >/dev/null
    auditctl --backlog_wait_time 60000 >/dev/null
    auditctl -f 1 >/dev/null
    auditctl -e 1 >/dev/null
    auditctl -w "$TREE" -p rwxa -k vigilbench >/dev/null
}
audit_lost() { auditctl -s | awk '$1 == "lost" {print $2}'; }
wait_audit_log_quiet() {  # log size unchanged for 1.5 s
    local last=-1 same=0 cur
    while ((same < 3)); do
        sleep 0.5
        cur=$(stat -c %s "$AUDIT_DIR/audit.log" 2>/dev/null || echo 0)
        if [[ $cur == "$last" ]]; then same=$((same + 1)); else same=0; fi
        last=$cur
    done
}
stop_auditd() {
    auditctl -D >/dev/null
    kill -TERM "$auditd_pid"
    wait "$auditd_pid" || true
    auditd_pid=""
}
kauditd_pid=$(pgrep -x kauditd | head -n 1 || true)

# --- Analysis ----------------------------------------------------------------------------------------
# vigild: counts from the database after the agent stopped. Writes key=value to stdout.
analyse_vigild() {  # analyse_vigild SOURCE MAIN_PID
    local src=$1 mpid=$2
    sqlite3 "$DB" <<EOF
.mode tabs
CREATE TEMP TABLE exp (action TEXT, path TEXT, old_path TEXT);
.import $EXPECTED exp
CREATE TEMP TABLE rows AS
  SELECT action, source, CAST(path AS TEXT) AS p, coalesce(CAST(old_path AS TEXT), '') AS o, uid, pid, exe, time_ns,
         coalesce(detail LIKE '%"actor_source":"audit"%', 0) AS by_audit
  FROM events WHERE CAST(path AS TEXT) LIKE '$TREE/%';
CREATE TEMP TABLE got AS SELECT DISTINCT action, p, o FROM rows;
CREATE INDEX got_i ON got (action, p, o);
CREATE TEMP TABLE gotk AS SELECT DISTINCT action, p, o FROM rows WHERE source = '$src';
CREATE INDEX gotk_i ON gotk (action, p, o);
CREATE TEMP TABLE main AS SELECT * FROM rows WHERE source = '$src' AND p NOT LIKE '$TREE/short%'
  AND action IN ('create', 'modify', 'rename', 'open', 'read', 'delete', 'attrib');
CREATE TEMP TABLE short AS SELECT * FROM rows WHERE source = '$src' AND p LIKE '$TREE/short/%'
  AND action IN ('create', 'modify', 'rename', 'open', 'read', 'delete', 'attrib');
SELECT 'expected=' || count(*) FROM exp;
SELECT 'lost=' || count(*) FROM exp x WHERE NOT EXISTS
  (SELECT 1 FROM got g WHERE g.action = x.action AND g.p = x.path AND g.o = x.old_path);
SELECT 'lost_kernel=' || count(*) FROM exp x WHERE NOT EXISTS
  (SELECT 1 FROM gotk g WHERE g.action = x.action AND g.p = x.path AND g.o = x.old_path);
SELECT 'recorded=' || count(*) FROM main;
SELECT 'scan_rows=' || count(*) FROM rows WHERE source = 'scan' AND p NOT LIKE '$TREE/short%';
SELECT 'actor_pct=' || printf('%.2f', 100.0 * sum(uid IS NOT NULL) / max(count(*), 1)) FROM main;
SELECT 'workload_pid_pct=' || printf('%.2f', 100.0 * sum(pid = $mpid) / max(count(*), 1)) FROM main;
SELECT 'recv_rate=' || printf('%.0f', count(*) / max((max(time_ns) - min(time_ns)) / 1e9, 1e-3)) FROM main;
SELECT 'recv_span_s=' || printf('%.2f', (max(time_ns) - min(time_ns)) / 1e9) FROM main;
SELECT 'overflow_rows=' || count(*) FROM events WHERE action = 'overflow';
SELECT 'rescan_rows=' || count(*) FROM events WHERE action = 'rescan';
SELECT 'total_rows=' || count(*) FROM events;
SELECT 'short_create=' || sum(action = 'create') || ' short_open=' || sum(action = 'open') ||
       ' short_modify=' || sum(action = 'modify') || ' short_rows=' || count(*) ||
       ' short_uid_pct=' || printf('%.2f', 100.0 * sum(uid IS NOT NULL) / max(count(*), 1)) ||
       ' short_pid_pct=' || printf('%.2f', 100.0 * sum(pid IS NOT NULL) / max(count(*), 1)) ||
       ' short_exe_pct=' || printf('%.2f', 100.0 * sum(exe IS NOT NULL) / max(count(*), 1)) ||
       ' short_by_audit_pct=' || printf('%.2f', 100.0 * sum(by_audit) / max(count(*), 1)) FROM short;
SELECT 'denied_rows=' || count(*) FROM events WHERE action = 'denied';
EOF
}
# per-action table of the last run (markdown rows)
vigild_action_table() {  # SOURCE
    sqlite3 "$DB" <<EOF
.mode list
.separator ' | '
CREATE TEMP TABLE exp (action TEXT, path TEXT, old_path TEXT);
.mode tabs
.import $EXPECTED exp
.mode list
.separator ' | '
CREATE TEMP TABLE rows AS SELECT action, source, CAST(path AS TEXT) AS p, coalesce(CAST(old_path AS TEXT), '') AS o, uid
  FROM events WHERE CAST(path AS TEXT) LIKE '$TREE/%' AND CAST(path AS TEXT) NOT LIKE '$TREE/short%';
CREATE TEMP TABLE got AS SELECT DISTINCT action, p, o FROM rows;
CREATE INDEX got_i ON got (action, p, o);
SELECT '| ' || x.action, count(*),
  (SELECT count(*) FROM rows r WHERE r.action = x.action AND r.source = '$1'),
  (SELECT count(*) FROM rows r WHERE r.action = x.action AND r.source = 'scan'),
  sum(NOT EXISTS (SELECT 1 FROM got g WHERE g.action = x.action AND g.p = x.path AND g.o = x.old_path)),
  (SELECT printf('%.2f', 100.0 * sum(uid IS NOT NULL) / max(count(*), 1)) FROM rows r WHERE r.action = x.action AND r.source = '$1') || ' |'
FROM exp x GROUP BY x.action ORDER BY x.action;
EOF
}

# auditd: SYSCALL records with our key, by syscall name, for the main workload's pid and
# for the short-lived children.
analyse_audit() {  # analyse_audit MAIN_PID PIDS_FILE
    awk -v mpid="$1" -v pidsf="$2" -v files="$FILES" -v dirs="$DIRS" -v procs="$PROCS" '
        BEGIN {
            while ((getline l < pidsf) > 0) kid[l] = 1
            # x86_64 numbers; the *at variants count as the plain call
            split("2:openat 85:openat 257:openat 82:rename 264:rename 316:rename 87:unlink 263:unlink 83:mkdir 258:mkdir 84:rmdir", m, " ")
            for (i in m) { split(m[i], kvp, ":"); name[kvp[1]] = kvp[2] }
        }
        /^type=SYSCALL/ && /key="vigilbench"/ {
            pid = ""; sc = ""; exe = 0; uid = 0; ts = ""
            if (match($0, / pid=[0-9]+/)) pid = substr($0, RSTART + 5, RLENGTH - 5)
            if (match($0, / uid=[0-9]+/)) uid = 1
            if (match($0, /exe="[^"]+"/) && substr($0, RSTART, RLENGTH) != "exe=\"(null)\"") exe = 1
            if (match($0, / syscall=[0-9]+/)) sc = substr($0, RSTART + 9, RLENGTH - 9)
            sc = (sc in name) ? name[sc] : "nr" sc
            if (match($0, /audit\([0-9.]+:/)) ts = substr($0, RSTART + 6, RLENGTH - 7) + 0
            if (pid == mpid) {
                n[sc]++; total++; att += (uid && exe && pid != "")
                if (first == "" || ts < first) first = ts
                if (ts > last) last = ts
            } else if (pid in kid) {
                sn++; satt_uid += uid; satt_pid += (pid != ""); satt_exe += exe
            }
        }
        END {
            # what the workload did, as the syscalls a -p rwxa watch records
            e["openat"] = 2 * files; e["rename"] = files; e["unlink"] = files; e["mkdir"] = dirs; e["rmdir"] = dirs
            ex = 0; lost = 0
            for (s in e) { ex += e[s]; d = e[s] - n[s]; if (d > 0) lost += d }
            per = ""
            for (s in n) per = per s ":" n[s] ","
            printf "expected=%d recorded=%d lost=%d actor_pct=%.2f workload_pid_pct=100.00 per_syscall=%s", ex, total, lost, 100 * att / (total ? total : 1), per
            printf " recv_rate=%.0f recv_span_s=%.2f", total / (last - first > 0.001 ? last - first : 0.001), last - first
            printf " short_rows=%d short_expected=%d short_uid_pct=%.2f short_pid_pct=%.2f short_exe_pct=%.2f\n", sn, procs, 100 * satt_uid / (sn ? sn : 1), 100 * satt_pid / (sn ? sn : 1), 100 * satt_exe / (sn ? sn : 1)
        }' "$AUDIT_DIR"/audit.log
}

# rows/s committed to SQLite, from the sampler: (rows at the end - rows at the start) over
# the time from the last sample before the first new row to the first sample with all rows.
write_rate() {  # write_rate SAMPLES W_START W_END
    awk -v w0="$2" -v w1="$3" '
        NF >= 2 && $2 != "" { n++; t[n] = $1; w[n] = $2 }
        END {
            a = 0; b = 0
            for (i = 1; i <= n; i++) { if (w[i] <= w0) a = i; if (!b && w[i] >= w1) b = i }
            if (!a || !b || t[b] <= t[a]) { print "write_rate=0 write_span_s=0 peak_write_rate=0"; exit }
            peak = 0
            for (i = a; i < b; i++) for (j = i + 1; j <= b; j++) if (t[j] - t[i] >= 1) {
                r = (w[j] - w[i]) / (t[j] - t[i]); if (r > peak) peak = r; break }
            printf "write_rate=%.0f write_span_s=%.2f peak_write_rate=%.0f\n", (w1 - w0) / (t[b] - t[a]), t[b] - t[a], peak
        }' "$1"
}

# --- One session ---------------------------------------------------------------------------------------
# run_once MODE RUN: fresh tree (and agent), the files workload timed, catch-up, the
# short-lived workload, stop, analysis. Appends one key=value line to $WORK/MODE.run.
run_once() {
    local mode=$1 run=$2 name="$1-$2"
    local out="$WORK/$name.out" sout="$WORK/$name.short.out" pids="$WORK/$name.pids"
    rm -rf "$TREE"
    mkdir -p "$TREE"
    local a0=0 a1=0 a2=0 hwm=0 rc=0 w0=0 w1=0 lost0=0 lost1=0 k0=0 k1=0 caught_s=0
    case $mode in
        bare) no_audit_for_new_tasks ;;
        floor) no_audit_for_new_tasks; start_floor "$name" ;;
        fanotify | inotify)
            no_audit_for_new_tasks
            start_vigild "$mode" "$name"
            start_sampler "$WORK/$name.samples"
            ;;
        fanotify-audit)
            # vigild's audit rules need syscall auditing of new tasks: no task,never rule
            if command -v auditctl >/dev/null; then auditctl -D >/dev/null; fi
            start_vigild fanotify "$name" "$POLICY_AUDIT"
            start_sampler "$WORK/$name.samples"
            ;;
        auditd) start_auditd; lost0=$(audit_lost) ;;
    esac
    wait_idle "$IDLE_WAIT"
    case $mode in
        floor) a0=$(proc_cpu_s "$floor_pid") ;;
        fanotify | fanotify-audit | inotify) a0=$(proc_cpu_s "$agent_pid"); w0=$(db_max_id) ;;
        auditd) a0=$(proc_cpu_s "$auditd_pid"); k0=$(proc_cpu_s "$kauditd_pid") ;;
    esac
    local b0 b1 t_end
    b0=$(busy_jiffies)
    "$WORKLOAD" files "$TREE" "$FILES" "$DIRS" "$EXPECTED" >"$out"
    b1=$(busy_jiffies)
    t_end=$EPOCHREALTIME
    local agent_window=0
    case $mode in
        floor) a1=$(proc_cpu_s "$floor_pid"); a2=$a1; agent_window=$(awk -v a="$a0" -v b="$a1" 'BEGIN {print b - a}') ;;
        fanotify | fanotify-audit | inotify) a1=$(proc_cpu_s "$agent_pid"); agent_window=$(awk -v a="$a0" -v b="$a1" 'BEGIN {print b - a}') ;;
        auditd) a1=$(proc_cpu_s "$auditd_pid"); k1=$(proc_cpu_s "$kauditd_pid")
            agent_window=$(awk -v a="$a0" -v b="$a1" -v c="$k0" -v d="$k1" 'BEGIN {print b - a + d - c}') ;;
    esac
    # other processes' CPU during the workload: machine busy time - workload - recorder
    local wall wcpu foreign
    wall=$(kv wall_s "$out")
    wcpu=$(awk -v u="$(kv user_s "$out")" -v s="$(kv sys_s "$out")" 'BEGIN {print u + s}')
    foreign=$(awk -v b="$((b1 - b0))" -v hz="$HZ" -v w="$wcpu" -v a="$agent_window" 'BEGIN {
        x = b / hz - w - a; printf "%.2f", x < 0 ? 0 : x }')
    # catch-up, then the short-lived workload
    case $mode in
        fanotify | fanotify-audit | inotify)
            wait_caught_up
            caught_s=$(awk -v a="$t_end" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a - 1.5}')
            a2=$(proc_cpu_s "$agent_pid")
            w1=$(db_max_id)
            ;;
        auditd) wait_audit_log_quiet; a2=$(awk -v a="$(proc_cpu_s "$auditd_pid")" -v k="$(proc_cpu_s "$kauditd_pid")" -v k0="$k0" 'BEGIN {print a + k - k0}') ;;
    esac
    "$WORKLOAD" short "$TREE" "$PROCS" "$SHORT_FILES" "$pids" >"$sout"
    local extra=""
    case $mode in
        fanotify | fanotify-audit | inotify)
            wait_caught_up
            hwm=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$agent_pid/status")
            stop_sampler
            stop_vigild
            rc=$agent_rc
            vigild_action_table "${mode%-audit}" >"$WORK/$mode.actions"
            extra="$(analyse_vigild "${mode%-audit}" "$(kv pid "$out")" | tr '\n' ' ') $(write_rate "$WORK/$name.samples" "$w0" "$w1")"
            extra+=" agent_total=$(awk '{printf "%s/%s/%s", $2, $3, $4}' "$WORK/$name.agent.time")"
            ;;
        floor)
            stop_floor
            extra="floor_events=$(kv events "$WORK/$name.floor.out")"
            ;;
        auditd)
            wait_audit_log_quiet
            hwm=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$auditd_pid/status")
            lost1=$(audit_lost)
            stop_auditd
            extra="$(analyse_audit "$(kv pid "$out")" "$pids") kernel_lost=$((lost1 - lost0))"
            extra+=" log_mb=$(du -m "$AUDIT_DIR/audit.log" | cut -f1)"
            rm -f "$AUDIT_DIR"/audit.log*
            ;;
    esac
    local agent_cpu
    agent_cpu=$(awk -v a="$a0" -v b="$a2" 'BEGIN {printf "%.2f", b - a}')
    printf 'mode=%s run=%d wall=%s wl_cpu=%.2f foreign=%s agent_cpu=%s hwm_mb=%s agent_rc=%s caught_up_s=%s short_wall=%s %s\n' \
        "$mode" "$run" "$wall" "$wcpu" "$foreign" "$agent_cpu" "$hwm" "$rc" "$caught_s" "$(kv wall_s "$sout")" "$extra" \
        >"$WORK/$name.line"
    echo "  $(cat "$WORK/$name.line")" >&2
    # a run during which others used more than 10% of one CPU is repeated (caller decides)
    awk -v x="$foreign" -v w="$wall" 'BEGIN {exit !(x <= 0.1 * w + 0.05)}'
}

retried_runs=0
contended_runs=0
run_mode() {
    local mode=$1 run attempt
    rm -f "$WORK/$mode.run"
    for ((run = 1; run <= RUNS; run++)); do
        for ((attempt = 0; attempt <= RETRIES; attempt++)); do
            if run_once "$mode" "$run"; then break; fi
            echo "  $mode run $run: other processes used CPU meanwhile: discarded" >&2
            if ((attempt == RETRIES)); then contended_runs=$((contended_runs + 1)); else retried_runs=$((retried_runs + 1)); fi
        done
        cat "$WORK/$mode-$run.line" >>"$WORK/$mode.run"
    done
}

# --- Runs -------------------------------------------------------------------------------------------------
log "waiting (up to ${START_IDLE_WAIT}s) for the machine to be idle for 5 s in a row"
wait_idle "$START_IDLE_WAIT" 5
started=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$SECONDS
# one untimed warm-up of the workload (page cache of the binary, tmpfs, dentries)
mkdir -p "$TREE"
"$WORKLOAD" files "$TREE" "$FILES" "$DIRS" >/dev/null
for mode in $MODES; do
    log "$mode ($RUNS runs)"
    run_mode "$mode"
done
rm -rf "$TREE"

# --- Report -------------------------------------------------------------------------------------------------
med() {  # med MODE KEY: median of KEY over the runs of MODE
    [[ -f $WORK/$1.run ]] || { echo "-"; return; }
    sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" "$WORK/$1.run" | sort -g | awk '{a[NR] = $1} END {
        if (NR == 0) printf "-"; else if (NR % 2) printf "%s", a[(NR + 1) / 2]; else printf "%s", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
maxof() { [[ -f $WORK/$1.run ]] && sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" "$WORK/$1.run" | sort -g | tail -n 1 || echo "-"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else printf "-"}'; }
label() { case $1 in bare) echo "bare" ;; floor) echo "kernel floor: a minimal fanotify reader with vigild's flags" ;; fanotify) echo "vigild (fanotify)" ;; fanotify-audit) echo "vigild (fanotify + audit source)" ;; inotify) echo "vigild (inotify)" ;; auditd) echo "auditd -w -p rwxa" ;; esac; }
has() { [[ -f $WORK/$1.run ]]; }
bare_wall=$(med bare wall)
bare_short=$(med bare short_wall)

report="$WORK/report.md"
{
    echo "## Real-time agent (bench/realtime.sh), run of $started"
    echo
    echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
         "kernel $(uname -r), $(awk '/MemTotal/ {printf "%.0f GB RAM", $2 / 1048576}' /proc/meminfo)"
    echo "- Software: $("$VIGILD" --version) (Release, commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet 2>/dev/null || echo ' + uncommitted changes')),"\
         "auditd $(dpkg-query -W -f '${Version}' auditd 2>/dev/null || echo '?') (log_format=$AUDIT_FORMAT), $(sqlite3 --version | cut -d' ' -f1 | sed 's/^/SQLite /')"
    echo "- Watched tree: \`$TREE\` on **tmpfs** (size=1G). Database and audit log: \`$WORK\`, on"\
         "$(findmnt -no FSTYPE --target "$WORK") ($(findmnt -no SOURCE --target "$WORK")), a different filesystem (WAL, synchronous=FULL)"
    echo "- Kernel queues: fs.fanotify.max_queued_events=$(cat /proc/sys/fs/fanotify/max_queued_events 2>/dev/null || echo '?'),"\
         "fs.inotify.max_queued_events=$(cat /proc/sys/fs/inotify/max_queued_events)"
    echo "- Files workload: one process, $FILES files in $DIRS directories, four phases: mkdir + at once create/write 100 B/close"\
         "of its files; rename; open/read/close; unlink + rmdir. Short-lived workload: $PROCS x \`/bin/sh -c 'echo x >> $TREE/short/sNNN'\`"\
         "($SHORT_FILES files), spawned and reaped one after the other"
    echo "- $RUNS runs per mode, each a fresh tree, agent and database; medians. Before each timed run the CPUs had to be >= 90% idle"\
         "(busy starts: $busy_starts); runs during which other processes used > 10% of a CPU were repeated ($retried_runs repeats,"\
         "kept although contended: $contended_runs). Whole run: $(((SECONDS - t_start) / 60)) min"
    echo "- audit: this kernel had audit enabled before (audit_ever_enabled), so bare and vigild runs had \`auditctl -a task,never\`"\
         "(no syscall auditing of new processes, as on a machine that never ran auditd); auditd runs had Debian's settings"\
         "(-b 8192, --backlog_wait_time 60000, -f 1)"
    echo
    echo "Commands:"
    echo
    echo '```'
    echo "$WORKLOAD files $TREE $FILES $DIRS $EXPECTED"
    echo "$WORKLOAD short $TREE $PROCS $SHORT_FILES PIDS_FILE"
    echo "$VIGILD --policy $POLICY --db $DB --watcher fanotify|inotify   # under /usr/bin/time, SIGTERM at the end"
    echo "auditd -n -c $AUDIT_DIR; auditctl -b 8192 --backlog_wait_time 60000 -f 1 -e 1; auditctl -w $TREE -p rwxa -k vigilbench"
    echo '```'
    echo
    echo "policy.json: \`$(tr -s ' \n' ' ' <"$POLICY")\`"
    echo
    echo "Files workload (medians of $RUNS):"
    echo
    echo "| mode | workload wall s | slowdown | events expected | recorded | lost | actor resolved | agent CPU s | peak RSS MiB | rows/s into SQLite (peak 1 s) | events/s received |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for m in $MODES; do
        has "$m" || continue
        if [[ $m == bare ]]; then
            echo "| bare | $(med bare wall) | 1.00 | - | - | - | - | - | - | - | - |"
        elif [[ $m == floor ]]; then
            echo "| $(label "$m") | $(med "$m" wall) | $(ratio "$(med "$m" wall)" "$bare_wall") | - | $(med "$m" floor_events) kernel events read, none kept | - | - | - | - | - | - |"
        elif [[ $m == auditd ]]; then
            echo "| $(label "$m") | $(med "$m" wall) | $(ratio "$(med "$m" wall)" "$bare_wall") | $(med "$m" expected) syscalls |"\
                 "$(med "$m" recorded) | $(med "$m" lost) (max $(maxof "$m" lost)) | $(med "$m" actor_pct)% | $(med "$m" agent_cpu) (auditd + kauditd) |"\
                 "$(med "$m" hwm_mb) | - (text log: $(med "$m" log_mb) MB) | $(med "$m" recv_rate) |"
        else
            echo "| $(label "$m") | $(med "$m" wall) | $(ratio "$(med "$m" wall)" "$bare_wall") | $(med "$m" expected) | $(med "$m" recorded) |"\
                 "$(med "$m" lost) (max $(maxof "$m" lost)) | $(med "$m" actor_pct)% | $(med "$m" agent_cpu) | $(med "$m" hwm_mb) |"\
                 "$(med "$m" write_rate) ($(med "$m" peak_write_rate)) | $(med "$m" recv_rate) |"
        fi
    done
    echo
    echo "Short-lived processes ($PROCS x sh -c 'echo x >> f'; medians):"
    echo
    echo "| mode | wall s | slowdown | rows (expected) | uid resolved | pid resolved | exe resolved | of which by audit records |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for m in $MODES; do
        has "$m" || continue
        case $m in
            bare) echo "| bare | $(med bare short_wall) | 1.00 | - | - | - | - | - |" ;;
            floor) echo "| $(label "$m") | $(med "$m" short_wall) | $(ratio "$(med "$m" short_wall)" "$bare_short") | - | - | - | - | - |" ;;
            auditd) echo "| $(label "$m") | $(med "$m" short_wall) | $(ratio "$(med "$m" short_wall)" "$bare_short") |"\
                         "$(med "$m" short_rows) ($PROCS openat) | $(med "$m" short_uid_pct)% | $(med "$m" short_pid_pct)% | $(med "$m" short_exe_pct)% | - |" ;;
            *) echo "| $(label "$m") | $(med "$m" short_wall) | $(ratio "$(med "$m" short_wall)" "$bare_short") |"\
                    "$(med "$m" short_rows) ($PROCS open + $PROCS modify + $SHORT_FILES create) | $(med "$m" short_uid_pct)% |"\
                    "$(med "$m" short_pid_pct)% | $(med "$m" short_exe_pct)% | $(med "$m" short_by_audit_pct)% |" ;;
        esac
    done
    echo
    for m in fanotify fanotify-audit inotify; do
        has "$m" || continue
        echo "$(label "$m"), last run, per action (expected = distinct (action, path, old path) of the workload; rows by source):"
        echo
        echo "| action | expected | $m rows | scan rows | lost (no row) | actor resolved |"
        echo "|---|---:|---:|---:|---:|---:|"
        # the database of the last run of this mode is gone (fresh per run): saved per mode
        cat "$WORK/$m.actions" 2>/dev/null || echo "| (not kept) | | | | | |"
        echo
    done
    echo "Targets (issue 3):"
    echo
    echo "| target | vigild (fanotify) | vigild (inotify) |"
    echo "|---|---|---|"
    vt() { has "$1" || { echo "-"; return; }; awk -v v="$2" -v t="$3" -v d="$4" 'BEGIN {ok = d == "le" ? v + 0 <= t : v + 0 >= t; printf "%s %s", v, ok ? "met" : "**missed**"}'; }
    echo "| zero lost events (max over runs) | $(vt fanotify "$(maxof fanotify lost)" 0 le) | $(vt inotify "$(maxof inotify lost)" 0 le) |"
    echo "| slowdown <= 1.5x on tmpfs | $(vt fanotify "$(ratio "$(med fanotify wall)" "$bare_wall")" 1.5 le) | $(vt inotify "$(ratio "$(med inotify wall)" "$bare_wall")" 1.5 le) |"
    echo "| >= 50,000 events/s into SQLite | $(vt fanotify "$(med fanotify write_rate)" 50000 ge) | $(vt inotify "$(med inotify write_rate)" 50000 ge) |"
    echo "| actor resolved >= 99% (long-lived workload) | $(vt fanotify "$(med fanotify actor_pct)" 99 ge) | n/a (inotify has no actor) |"
    echo
    echo "Targets (issue 8, the audit source: vigild (fanotify + audit source) against vigild (fanotify)):"
    echo
    echo "| target | measured |"
    echo "|---|---|"
    echo "| audit source adds <= 10% to the files workload's time | $(vt fanotify-audit "$(ratio "$(med fanotify-audit wall)" "$(med fanotify wall)")" 1.10 le) |"
    echo "| audit source adds <= 10% to the short-lived workload's time | $(vt fanotify-audit "$(ratio "$(med fanotify-audit short_wall)" "$(med fanotify short_wall)")" 1.10 le) |"
    echo "| >= 99.9% attributed, short-lived workload, with audit correlation | $(vt fanotify-audit "$(med fanotify-audit short_uid_pct)" 99.9 ge) |"
    echo "| (without audit correlation, for comparison) | $(med fanotify short_uid_pct)% |"
    echo
    echo "Raw runs (one line per run; wall, CPU and rates in s or /s; agent_total = vigild's whole life: wall/user/sys, from /usr/bin/time):"
    echo
    echo '```'
    for m in $MODES; do has "$m" && cat "$WORK/$m.run"; done
    echo '```'
    echo
} >"$report.body"
mv "$report.body" "$report"
cat "$report" >>"$RESULTS"
cat "$report"
log "appended to $RESULTS (this run alone: $report)"
