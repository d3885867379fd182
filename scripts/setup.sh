#!/usr/bin/env bash
# Installs what Vigil needs on Debian 12 (as root), then configures and builds it.
#   scripts/setup.sh              release build with tests in build/
#   scripts/setup.sh --sanitize   AddressSanitizer + UBSan build with tests in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libssl-dev libsqlite3-dev sqlite3 nlohmann-json3-dev catch2
          attr acl clang-format clang-tidy chromium
          libsystemd-dev systemd lintian bash-completion man-db file
          clang libclang-rt-14-dev rsyslog
          libaudit-dev libauparse-dev auditd)
# libaudit-dev, libauparse-dev: vigild's audit source; auditd: its tests. libsystemd-dev:
# vigild's sd_notify. file (CPack's shlibdeps finds ELF files with it), lintian, systemd
# (systemd-analyze verify), bash-completion, man-db: the package test (tests/packaging/).
# clang + libclang-rt-14-dev: the libFuzzer runtime for scripts/fuzz.sh. rsyslog: the
# tested example of the log-pipeline output (tests/agent/rsyslog_test.cpp).
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ "${1:-}" == "--sanitize" ]]; then
  build=build-asan
  flags=(-DCMAKE_BUILD_TYPE=Debug -DVIGIL_SANITIZE=ON)
fi
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
