#!/bin/bash
# Issue 6's resource measurements, reproducible: bench/storm.sh [RUNS]
#
# 1. Storm: vigild (fanotify) on a tmpfs tree with limits.queue_memory_mb=$QMB, then
#    `workload storm` (100 dirs x 3000 files: create+write, rewrite, unlink a third: about
#    a million events). Waits until the agent has caught up (`vigil status`: no rescan
#    pending or running, both queues empty, nothing written for 3 s), then reads its CPU
#    (utime+stime of /proc/PID/stat) and peak RSS (VmHWM) and the record: rows, overflow
#    rows and the events they count as lost, rescans.
# 2. Disk full: the database on a 128 MiB tmpfs, filled; `workload files` (20,000 files,
#    ~100,000 events, within the default 512 MiB queue) while nothing can be committed;
#    then the filler is removed. Recovery time = from the removal until the queue is
#    empty and every event is written. Lost must be 0 (the memory bound was not exceeded).
#
# Needs root (fanotify, mount), a built tree (scripts/setup.sh), g++, sqlite3, python3.
# Prints one key=value line per run and a median line per part; results go to
# bench/RESULTS.md by hand.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VIGILD=${VIGILD:-$REPO/build/agent/vigild}
VIGIL=${VIGIL:-$REPO/build/cli/vigil}
RUNS=${1:-3}
QMB=${QMB:-32}
WORK=${WORK:-/tmp/vigil-bench-storm}
TREE=/dev/shm/vigil-bench-storm

cleanup() {
    [ -n "${apid:-}" ] && kill -TERM "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
    mountpoint -q "$WORK/dfs" 2>/dev/null && umount -l "$WORK/dfs"
    rm -rf "$TREE"
}
trap cleanup EXIT
mkdir -p "$WORK"
g++ -std=c++20 -O2 -o "$WORK/workload" "$REPO/bench/workload.cpp"

status_field() {  # status_field DB KEY: one field of the agent's status (JSON)
    "$VIGIL" status --db "$1" --format json | python3 -c "import json,sys; a=json.load(sys.stdin).get('agent') or {}; print(a.get('$2'))"
}

# Waits until the agent on DB has caught up: idle (no rescan, queues empty, nothing refused
# waiting for its row) and events_written unchanged for 3 consecutive seconds.
wait_idle() {
    local db=$1 quiet=0 last=-1
    while [ $quiet -lt 3 ]; do
        sleep 1
        local s
        s=$("$VIGIL" status --db "$db" --format json | python3 -c "
import json,sys
a=json.load(sys.stdin).get('agent') or {}
idle = not a.get('rescan_running') and not a.get('rescan_pending') and a.get('queue_depth')==0 \
       and a.get('hash_queue_depth')==0 and a.get('lost_unrecorded')==0
print(('idle' if idle else 'busy'), a.get('events_written'))")
        set -- $s
        if [ "$1" = idle ] && [ "$2" = "$last" ]; then quiet=$((quiet + 1)); else quiet=0; fi
        last=$2
    done
}

agent_cpu_s() {  # utime + stime of PID in seconds
    awk -v tck="$(getconf CLK_TCK)" '{print ($14 + $15) / tck}' "/proc/$1/stat"
}

start_agent() {  # start_agent POLICY DB ERR
    "$VIGILD" --policy "$1" --db "$2" --watcher fanotify 2>"$3" &
    apid=$!
    until grep -q ready "$3"; do
        kill -0 $apid 2>/dev/null || { cat "$3"; exit 1; }
        sleep 0.1
    done
}

stop_agent() {
    kill -TERM "$apid"
    wait "$apid"
    apid=
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

: >"$WORK/storm.runs"
for run in $(seq 1 "$RUNS"); do
    rm -rf "$TREE" "$WORK/db"
    mkdir -p "$TREE" "$WORK/db"
    printf '{"audit":{"enabled":false},"limits":{"queue_memory_mb":%s},"rules":[{"path":"%s","label":"storm"}]}\n' \
        "$QMB" "$TREE" >"$WORK/policy.json"
    chmod 600 "$WORK/policy.json"
    db=$WORK/db/vigil.db
    start_agent "$WORK/policy.json" "$db" "$WORK/agent.err"
    t0=$(date +%s.%N)
    wl=$("$WORK/workload" storm "$TREE" 100 3000)
    wait_idle "$db"
    caught=$(echo "$(date +%s.%N) - $t0 - 3" | bc)
    cpu=$(agent_cpu_s "$apid")
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$apid/status")
    stop_agent
    rows=$(sqlite3 "$db" "SELECT count(*) FROM events")
    overflows=$(sqlite3 "$db" "SELECT count(*) FROM events WHERE action='overflow'")
    lost=$(sqlite3 "$db" "SELECT coalesce(sum(json_extract(detail,'\$.lost')),0) FROM events WHERE action='overflow'")
    rescans=$(sqlite3 "$db" "SELECT count(*) FROM events WHERE action='rescan'")
    wl_wall=$(echo "$wl" | tr ' ' '\n' | sed -n 's/^wall_s=//p')
    line="run=$run workload_wall_s=$wl_wall caught_up_s=$caught agent_cpu_s=$cpu peak_rss_mib=$((rss / 1024)) rows=$rows overflow_rows=$overflows lost_then_rescanned=$lost rescans=$rescans"
    echo "storm $line"
    echo "$line" >>"$WORK/storm.runs"
done
for key in workload_wall_s caught_up_s agent_cpu_s peak_rss_mib rows overflow_rows lost_then_rescanned rescans; do
    printf 'storm median %s=%s\n' "$key" "$(sed -n "s/.* $key=\([0-9.]*\).*/\1/p" "$WORK/storm.runs" | median)"
done

: >"$WORK/diskfull.runs"
for run in $(seq 1 "$RUNS"); do
    rm -rf "$TREE"
    mkdir -p "$TREE" "$WORK/dfs"
    mount -t tmpfs -o size=128m,mode=0700 tmpfs "$WORK/dfs"
    printf '{"audit":{"enabled":false},"rules":[{"path":"%s","label":"diskfull"}]}\n' "$TREE" >"$WORK/policy.json"
    chmod 600 "$WORK/policy.json"
    db=$WORK/dfs/vigil.db
    start_agent "$WORK/policy.json" "$db" "$WORK/agent.err"
    dd if=/dev/zero of="$WORK/dfs/filler" bs=1M 2>/dev/null || true  # until ENOSPC
    "$WORK/workload" files "$TREE" 20000 100 >/dev/null
    until grep -q retrying "$WORK/agent.err"; do sleep 0.1; done
    written_before=$(status_field "$db" events_written)
    t0=$(date +%s.%N)
    rm -f "$WORK/dfs/filler"
    wait_idle "$db"
    recovered=$(echo "$(date +%s.%N) - $t0 - 3" | bc)
    held=$(($(status_field "$db" events_written) - written_before))
    stop_agent
    lost=$(sqlite3 "$db" "SELECT coalesce(sum(json_extract(detail,'\$.lost')),0) FROM events WHERE action='overflow'")
    integrity=$(sqlite3 "$db" "PRAGMA integrity_check")
    umount "$WORK/dfs"
    line="run=$run held_in_memory=$held recovery_s=$recovered lost=$lost integrity=$integrity"
    echo "diskfull $line"
    echo "$line" >>"$WORK/diskfull.runs"
done
for key in held_in_memory recovery_s lost; do
    printf 'diskfull median %s=%s\n' "$key" "$(sed -n "s/.* $key=\([0-9.]*\).*/\1/p" "$WORK/diskfull.runs" | median)"
done
