#!/usr/bin/env bash
# package_test: builds the Debian package from the build tree (cpack), checks it with
# lintian, installs it with dpkg on this machine, checks what a Debian admin gets (files,
# modes, conffile, units, man pages, completion), runs the installed binaries, validates
# the units with systemd-analyze, and purges the package again.
#   tests/packaging/package_test.sh BUILD_DIR SOURCE_DIR
# Needs root (dpkg). Registered with RUN_SERIAL: it installs into the live system and
# walks /etc and /usr while other tests would be changing them.
set -euo pipefail

build=$(realpath "$1")
source_dir=$(realpath "$2")
export LC_ALL=C.UTF-8

fail() {
    echo "package_test: FAIL: $*" >&2
    exit 1
}
step() { echo "== $*"; }

[[ $(id -u) == 0 ]] || fail "needs root (dpkg -i / --purge)"
for tool in cpack dpkg dpkg-deb lintian systemd-analyze man gzip; do
    command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/setup.sh"
done
[[ -f /usr/share/bash-completion/bash_completion ]] || fail "bash-completion is missing: run scripts/setup.sh"
[[ -f "$build/CPackConfig.cmake" ]] || fail "$build/CPackConfig.cmake missing: configure the build first"

# Never clobber a real installation or an admin's files: refuse instead.
if grep -q 'installed' <<<"$(dpkg-query -W -f='${Status}' vigil 2>/dev/null)"; then
    fail "the vigil package is already installed on this machine; purge it first"
fi
[[ ! -e /etc/vigil ]] || fail "/etc/vigil exists and does not come from the package; move it away first"
var_lib_existed=no
[[ -e /var/lib/vigil ]] && var_lib_existed=yes

work=$(mktemp -d /tmp/vigil-package-test.XXXXXX)
installed=no
agent_pid=
cleanup() {
    local rc=$?
    if [[ -n $agent_pid ]]; then
        kill -KILL "$agent_pid" 2>/dev/null || true
        wait "$agent_pid" 2>/dev/null || true
    fi
    if [[ $installed == yes ]]; then
        echo "package_test: purging the package after a failure" >&2
        dpkg --purge vigil >/dev/null 2>&1 || true
        [[ $var_lib_existed == yes ]] || rmdir /var/lib/vigil 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# dpkg takes a lock; another process on a shared machine (apt) may hold it for a while.
dpkg_retry() {
    local out
    for _ in $(seq 1 120); do
        if out=$(dpkg "$@" 2>&1); then
            printf '%s\n' "$out"
            return 0
        fi
        grep -qi 'lock' <<<"$out" || {
            printf '%s\n' "$out" >&2
            return 1
        }
        sleep 1
    done
    printf '%s\n' "$out" >&2
    return 1
}

step "cpack -G DEB"
version=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$build/CPackConfig.cmake")
[[ -n $version ]] || fail "no CPACK_PACKAGE_VERSION in CPackConfig.cmake"
# Under the strictest umask an admin may have: the package's directories must still come
# out 0755 (packaging/directory_modes.cmake), checked below.
(umask 077 && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1) ||
    { cat "$work/cpack.log" >&2; fail "cpack failed"; }
deb=$(find "$work/out" -maxdepth 1 -name "vigil_${version}_*.deb" -print -quit)
[[ -n $deb ]] || { cat "$work/cpack.log" >&2; fail "no vigil_${version}_*.deb produced"; }

step "control fields"
control=$(dpkg-deb --field "$deb")
echo "$control"
grep -qx "Package: vigil" <<<"$control" || fail "Package field"
grep -qx "Version: $version" <<<"$control" || fail "Version field"
depends=$(dpkg-deb --field "$deb" Depends)
# Computed by dpkg-shlibdeps from the binaries, so each library they link must be there.
for lib in libc6 libssl3 libsqlite3-0 libsystemd0 libstdc++6; do
    grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
grep -qx './conffiles' <<<"$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)" || fail "no conffiles in the control archive"

contents=$(dpkg-deb --contents "$deb")
bad_dirs=$(awk '$1 ~ /^d/ && $1 != "drwxr-xr-x"' <<<"$contents")
[[ -z $bad_dirs ]] || fail "directories in the package that are not 0755: $bad_dirs"
bad_owner=$(awk '$2 != "root/root"' <<<"$contents")
[[ -z $bad_owner ]] || fail "entries in the package not owned by root: $bad_owner"

step "lintian"
# Tags the package cannot avoid are overridden in packaging/debian/lintian-overrides,
# each with its reason; anything else at warning level or above fails the test.
if ! lintian --fail-on error,warning --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1; then
    cat "$work/lintian.log" >&2
    fail "lintian reports warnings or errors"
fi
cat "$work/lintian.log"

step "dpkg -i"
installed=yes
dpkg_retry -i "$deb" >/dev/null || fail "dpkg -i $deb"
[[ $(dpkg-query -W -f='${Status}' vigil) == "install ok installed" ]] || fail "not installed after dpkg -i"

# expect_file MODE OWNER:GROUP PATH: exists with exactly that octal mode and owner.
expect_file() {
    local mode=$1 owner=$2 path=$3
    [[ -e $path ]] || fail "$path is not installed"
    local got
    got=$(stat -c '%a %U:%G' "$path")
    [[ $got == "$mode $owner" ]] || fail "$path is '$got', expected '$mode $owner'"
}

step "installed files"
expect_file 755 root:root /usr/bin/vigil
expect_file 755 root:root /usr/sbin/vigild
[[ -x /usr/bin/vigil && -f /usr/bin/vigil && ! -L /usr/bin/vigil ]] || fail "/usr/bin/vigil is not an executable file"
kind=$(file -b /usr/sbin/vigild)
grep -q 'ELF.*, stripped' <<<"$kind" || fail "vigild is not a stripped ELF binary: $kind"
expect_file 755 root:root /etc/vigil
expect_file 644 root:root /etc/vigil/policy.json
cmp -s /etc/vigil/policy.json "$source_dir/policies/default.json" ||
    fail "/etc/vigil/policy.json is not policies/default.json"
grep -q '^ /etc/vigil/policy.json [0-9a-f]\{32\}' <<<"$(dpkg-query -W -f='${Conffiles}\n' vigil)" ||
    fail "/etc/vigil/policy.json is not a conffile: $(dpkg-query -W -f='${Conffiles}' vigil)"
[[ -d /var/lib/vigil && ! -L /var/lib/vigil ]] || fail "/var/lib/vigil is not a directory"
expect_file 700 root:root /var/lib/vigil
for unit in vigild.service vigil-report.service vigil-report.timer; do
    expect_file 644 root:root "/lib/systemd/system/$unit"
done
for page in man8/vigil.8.gz man8/vigild.8.gz man5/vigil-policy.5.gz; do
    expect_file 644 root:root "/usr/share/man/$page"
    gzip -t "/usr/share/man/$page" || fail "$page is not valid gzip"
    # Rendered with every groff warning on: a page that does not render cleanly fails.
    warnings=$(man --warnings -l "/usr/share/man/$page" 2>&1 >/dev/null)
    [[ -z $warnings ]] || fail "man $page: $warnings"
    grep -q '^NAME' <<<"$(man -l "/usr/share/man/$page" 2>/dev/null)" || fail "man $page has no NAME section"
done
grep -q 'vigil init' <<<"$(man -l /usr/share/man/man8/vigil.8.gz 2>/dev/null)" || fail "vigil(8) lacks vigil init"
expect_file 644 root:root /usr/share/bash-completion/completions/vigil
expect_file 644 root:root /usr/share/bash-completion/completions/vigild
expect_file 644 root:root /usr/share/doc/vigil/copyright
expect_file 644 root:root /usr/share/doc/vigil/changelog.gz
[[ $(zcat /usr/share/doc/vigil/changelog.gz) == "vigil ($version) "* ]] ||
    fail "changelog.gz does not start with version $version"
grep -q 'Permission is hereby granted' /usr/share/doc/vigil/copyright || fail "copyright lacks the license"

step "bash completion"
# The installed completion, driven the way bash drives it for `vigil qu<TAB>` and
# `vigil query --format <TAB>`.
completion=$(bash -c '
    source /usr/share/bash-completion/bash_completion
    source /usr/share/bash-completion/completions/vigil
    complete_line() {
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
        _vigil vigil "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}" 2>/dev/null
        echo "${COMPREPLY[*]}"
    }
    complete_line vigil qu
    complete_line vigil query --format ""
    complete_line vigil verify --k
')
[[ $completion == $'query\ntable json jsonl csv\n--key-file' ]] || fail "completion gave: $completion"

step "man pages and completion cover every command and option the binaries offer"
# A drift check: what `vigil --help` and each `vigil CMD --help` list must be in vigil(8)
# and in the completion, so a new command or option cannot ship undocumented.
complete_words() {
    bash -c '
        source /usr/share/bash-completion/bash_completion
        source "/usr/share/bash-completion/completions/$1"
        shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
        "_${COMP_WORDS[0]}" "${COMP_WORDS[0]}" "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}" 2>/dev/null
        echo " ${COMPREPLY[*]} "' _ "$@"
}
vigil_page=$(zcat /usr/share/man/man8/vigil.8.gz | sed 's/\\-/-/g')
commands=$(/usr/bin/vigil --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
[[ $(wc -w <<<"$commands") -ge 8 ]] || fail "could not read the commands from vigil --help: $commands"
all_commands=$(complete_words vigil vigil "")
for command in $commands; do
    grep -q "^\.B $command\$" <<<"$vigil_page" || fail "vigil(8) does not document the command $command"
    [[ $all_commands == *" $command "* ]] || fail "completion does not offer the command $command"
    command_options=$(complete_words vigil vigil "$command" --)
    for option in $(/usr/bin/vigil "$command" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        grep -q -- "$option" <<<"$vigil_page" || fail "vigil(8) does not document $command $option"
        [[ $command_options == *" $option "* ]] || fail "completion of vigil $command lacks $option"
    done
done
vigild_page=$(zcat /usr/share/man/man8/vigild.8.gz | sed 's/\\-/-/g')
vigild_options=$(complete_words vigild vigild --)
for option in $(/usr/sbin/vigild --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    grep -q -- "$option" <<<"$vigild_page" || fail "vigild(8) does not document $option"
    [[ $vigild_options == *" $option "* ]] || fail "completion of vigild lacks $option"
done

step "installed binaries"
[[ $(/usr/bin/vigil --version) == "vigil $version" ]] || fail "vigil --version: $(/usr/bin/vigil --version)"
help=$(/usr/sbin/vigild --help) || fail "vigild --help exited non-zero"
grep -q '^usage: vigild' <<<"$help" || fail "vigild --help: $help"
# vigil init with the installed policy. Walked in full it hashes all of /usr: 8.3 GB and
# 61,488 entries on the development machine, 100 s on 2 busy cores — too much for CI. So
# every rule of the installed file is kept as it is, and only the /usr rules are made
# non-recursive (their directory and its direct entries): the real file's 30-odd rules,
# globs, excludes and labels all go through the installed vigil, in seconds.
step "vigil init with the installed /etc/vigil/policy.json (/usr rules non-recursive)"
policy="$work/policy.json"
sed 's|^\( *{ "path": "/usr/[a-z0-9]*",\)|\1 "recursive": false,|' /etc/vigil/policy.json >"$policy"
chmod 0644 "$policy"
usr_rules=$(grep -c '^ *{ "path": "/usr/' /etc/vigil/policy.json)
made_shallow=$(grep -c '"recursive": false' "$policy")
shallow_before=$(grep -c '"recursive": false' /etc/vigil/policy.json || true)
# If the file's layout changes so that the edit misses a /usr rule, fail here rather than
# walk 9 GB.
((usr_rules > 0 && made_shallow - shallow_before == usr_rules)) ||
    fail "could not make the $usr_rules /usr rules non-recursive (made $((made_shallow - shallow_before)))"
rules=$(grep -c '^ *{ "path": ' /etc/vigil/policy.json)
db_dir="$work/db"
set +e
/usr/bin/vigil init --policy "$policy" --db "$db_dir/vigil.db" >"$work/init.out" 2>"$work/init.err"
rc=$?
set -e
[[ $rc == 0 ]] || { cat "$work/init.out" "$work/init.err" >&2; fail "vigil init exited $rc"; }
cat "$work/init.out"
grep -q "^Policy: .*, $rules rules$" "$work/init.out" || fail "vigil init did not load the policy's $rules rules"
grep -qi 'verification key' "$work/init.out" || fail "vigil init printed no verification key"
expect_file 400 root:root "$db_dir/vigil.db.verification-key"
expect_file 600 root:root "$db_dir/vigil.db"
expect_file 700 root:root "$db_dir"
entries=$(sqlite3 "file:$db_dir/vigil.db?mode=ro" 'SELECT count(*) FROM files' 2>/dev/null || echo 0)
set +e
/usr/bin/vigil status --db "$db_dir/vigil.db" >/dev/null 2>&1
status_rc=$?
/usr/bin/vigil verify --db "$db_dir/vigil.db" --key-file "$db_dir/vigil.db.verification-key" >"$work/verify.out" 2>&1
verify_rc=$?
set -e
[[ $status_rc == 3 ]] || fail "vigil status without an agent exited $status_rc, expected 3"
[[ $verify_rc == 0 ]] || { cat "$work/verify.out" >&2; fail "vigil verify of the new baseline exited $verify_rc"; }
((entries > 0)) || fail "the baseline has no entries"
echo "baseline entries: $entries"

step "installed vigild behind a read-only view, as ProtectSystem=strict/ProtectHome=read-only give it"
# vigild.service hides nothing from the agent but makes the tree read-only in its mount
# namespace. fanotify marks are per filesystem, so changes made through the host's
# writable mounts must still arrive, with their actor. No systemd runs here, so the
# namespace is built by hand: the watched tree bind-mounted read-only, only for vigild.
agent_dir="$work/agent"
mkdir -p "$agent_dir/watched"
echo '{"rules": [{"path": "'"$agent_dir"'/watched", "label": "pkgtest"}]}' >"$agent_dir/policy.json"
chmod 0644 "$agent_dir/policy.json"
unshare --mount --propagation slave bash -c '
    set -e
    mount --bind "$1/watched" "$1/watched"
    mount -o remount,bind,ro "$1/watched"
    if touch "$1/watched/probe" 2>/dev/null; then echo "the view is not read-only" >&2; exit 99; fi
    exec /usr/sbin/vigild --policy "$1/policy.json" --db "$1/db/vigil.db"' _ "$agent_dir" \
    >"$agent_dir/vigild.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 600); do
    grep -q ' ready: ' "$agent_dir/vigild.log" && break
    kill -0 "$agent_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q ' ready: ' "$agent_dir/vigild.log" || { cat "$agent_dir/vigild.log" >&2; fail "vigild never became ready"; }
echo "written from outside" >"$agent_dir/watched/from-host"
# The change is on record once `vigil query` shows it; SIGTERM then flushes and stops.
for _ in $(seq 1 600); do
    /usr/bin/vigil query --db "$agent_dir/db/vigil.db" --path "$agent_dir/watched/from-host" --action modify \
        --format csv 2>/dev/null | grep -c ',fanotify,' >/dev/null && break
    sleep 0.1
done
kill -TERM "$agent_pid"
set +e
wait "$agent_pid"
rc=$?
set -e
agent_pid=
[[ $rc == 0 ]] || { cat "$agent_dir/vigild.log" >&2; fail "vigild exited $rc after SIGTERM"; }
row=$(/usr/bin/vigil query --db "$agent_dir/db/vigil.db" --path "$agent_dir/watched/from-host" --action modify \
    --format jsonl)
echo "$row"
grep -q '"source":"fanotify"' <<<"$row" || fail "the change made outside the read-only view was not recorded"
grep -q '"exe":"/usr/bin/bash"' <<<"$row" || fail "the change was recorded without its actor: $row"
grep -q '"sha256_after":"[0-9a-f]\{64\}"' <<<"$row" || fail "the change was recorded without its new hash: $row"

step "systemd-analyze verify"
# Checks unit syntax, that ExecStart binaries exist and that Documentation= man pages
# resolve. Messages about units other than ours (this machine's own) are not ours to fix.
analyze=$(cd / && systemd-analyze verify /lib/systemd/system/vigild.service \
    /lib/systemd/system/vigil-report.service /lib/systemd/system/vigil-report.timer 2>&1) ||
    { echo "$analyze" >&2; fail "systemd-analyze verify failed"; }
ours=$(grep -i 'vigil' <<<"$analyze" || true)
[[ -z $ours ]] || fail "systemd-analyze verify: $ours"

step "conffile kept across a reinstall; postinst tightens /var/lib/vigil"
echo '// local edit' >>/etc/vigil/policy.json
chmod 0755 /var/lib/vigil
dpkg_retry -i "$deb" >/dev/null || fail "reinstall"
[[ $(tail -n 1 /etc/vigil/policy.json) == '// local edit' ]] || fail "the admin's edit of the conffile was lost"
expect_file 700 root:root /var/lib/vigil

step "dpkg --purge"
dpkg_retry --purge vigil >/dev/null || fail "dpkg --purge"
installed=no
if grep -q 'installed' <<<"$(dpkg-query -W -f='${Status}' vigil 2>/dev/null)"; then fail "still installed after purge"; fi
for path in /usr/bin/vigil /usr/sbin/vigild /etc/vigil /lib/systemd/system/vigild.service \
    /lib/systemd/system/vigil-report.timer /usr/share/man/man8/vigil.8.gz \
    /usr/share/bash-completion/completions/vigil /usr/share/doc/vigil; do
    [[ ! -e $path ]] || fail "$path remains after purge"
done
if [[ $var_lib_existed == no ]]; then
    [[ ! -e /var/lib/vigil ]] || fail "the empty /var/lib/vigil remains after purge"
fi
echo "package_test: OK"
