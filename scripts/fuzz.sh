#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan, coverage) in build-fuzz/ and
# runs each for a bounded time, seeded with its committed corpus fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh [seconds]   seconds per target; default 60 (issue 6). CI (.ci/run)
#                               passes 20 so the seven targets stay under three minutes.
#
# Fails on any crash, sanitizer report, leak, 10 s hang or 2 GiB of memory. The input that
# did it is left in build-fuzz/artifacts/<target>-*: fix the code, then add the input to
# fuzz/corpus/<target>/ so every later run replays it. New inputs the fuzzer finds go to
# build-fuzz/corpus/<target>/ (not committed; copy the interesting ones to fuzz/corpus/).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [seconds per target]" >&2
  exit 2
fi
if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "fuzz.sh: needs clang and libFuzzer (Debian: clang libclang-rt-14-dev; scripts/setup.sh installs them)" >&2
  exit 2
fi

build=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_FUZZ=ON \
  -DVIGIL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_all

targets=(policy escape time_parse query_options fanotify_records inotify_records xattrs)
mkdir -p "$build/artifacts" "$build/logs"
failed=()
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  mkdir -p "$work"
  dict=()
  [[ -f "fuzz/$t.dict" ]] && dict=("-dict=fuzz/$t.dict")
  log="$build/logs/$t.log"
  echo "== fuzz $t for ${seconds}s"
  # The first corpus directory receives new inputs; the committed seeds are only read.
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 "${dict[@]}" \
      "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | tail -2 || true
  else
    echo "fuzz $t FAILED; the end of $log:" >&2
    tail -40 "$log" >&2
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzzing found problems in: ${failed[*]} (inputs in $build/artifacts/)" >&2
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets, ${seconds}s each, no crash"
