#!/bin/bash
# Quick audit-source measurement (issue 8), a few minutes instead of realtime.sh's hour:
# bench/audit_quick.sh MODE RUN, MODE = off (audit source off, task,never as realtime.sh)
# | fail (failure rules only) | on (failure + attribution rules). Run from a scratch dir
# holding a built bench/workload.cpp as ./workload; tree on /dev/shm (tmpfs), db in cwd.
set -u
VIGILD=${VIGILD:-$(cd "$(dirname "$0")/.." && pwd)/build/agent/vigild}
TREE=/dev/shm/vigil-q/tree
mode=$1 run=$2 files=${FILES:-10000} dirs=${DIRS:-100} procs=${PROCS:-1000}
rm -rf /dev/shm/vigil-q; mkdir -p $TREE
en=$([ $mode != off ] && echo true || echo false); attr=$([ $mode = on ] && echo true || echo false)
echo "{ \"audit\": { \"enabled\": $en, \"attribution\": $attr }, \"rules\": [ { \"path\": \"$TREE\", \"watch\": \"access\", \"label\": \"bench\" } ] }" > pol.json; chmod 600 pol.json
if [ $mode = off ]; then auditctl -a task,never >/dev/null; fi
rm -f db db-wal db-shm db.*
$VIGILD --policy pol.json --db db 2> agent.err &
apid=$!
until grep -q ready agent.err; do sleep 0.1; done
sleep 1
fw=$(./workload files $TREE $files $dirs | tr ' ' '\n' | grep '^wall_s=' | cut -d= -f2)
sleep 2
sw=$(./workload short $TREE $procs 20 | tr ' ' '\n' | grep '^wall_s=' | cut -d= -f2)
sleep 3
kill -TERM $apid; wait $apid
if [ $mode = off ]; then auditctl -d task,never >/dev/null; fi
att=$(sqlite3 db "SELECT printf('%.2f', 100.0*sum(uid IS NOT NULL)/count(*)) || ' ' || printf('%.2f', 100.0*sum(coalesce(detail LIKE '%\"actor_source\":\"audit\"%',0))/count(*)) || ' ' || count(*) FROM events WHERE source='fanotify' AND CAST(path AS TEXT) LIKE '$TREE/short/%' AND action IN ('create','modify','open','read')")
echo "mode=$mode run=$run files_wall=$fw short_wall=$sw short_attributed_pct/by_audit_pct/rows=$att"
