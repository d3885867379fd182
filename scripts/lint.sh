#!/usr/bin/env bash
# Style gate of CI: clang-format on every C++ file, clang-tidy (.clang-tidy, warnings are
# errors) on the production sources, using the compile database of build/.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t all < <(git ls-files '*.cpp' '*.h')
clang-format --dry-run --Werror "${all[@]}"
mapfile -t sources < <(git ls-files 'common/*.cpp' 'cli/*.cpp' 'agent/*.cpp')
# The build flags are GCC's (-Wno-restrict); clang-tidy must not trip over the ones it lacks.
if ! out=$(clang-tidy --quiet -p build --extra-arg=-Wno-unknown-warning-option "${sources[@]}" 2>&1); then
  echo "$out" | grep -v "warnings generated"
  echo "clang-tidy found problems" >&2
  exit 1
fi
