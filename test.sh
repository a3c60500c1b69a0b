#!/usr/bin/env bash
# Runs the whole test suite as CI does: installs the llama.cpp oracle and the real tokenizer files (npm, never committed),
# builds in Release, runs every test category, then fuzzes every file reader for a bounded time
# (.ci/fuzz.sh). Prints "N passed, N failed" at the end.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/install-llama-cpp.sh
bash .ci/install-tokenizers.sh
bash .ci/install-jinja.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test QuantSharp.slnx -c Release "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# Bounded fuzzing of every file reader (AFL++ through SharpFuzz; 20 s per target): any crash or hang fails the run.
# QUANTSHARP_FUZZ_SECONDS=0 skips it (local runs); CI always runs it.
fuzz_seconds=${QUANTSHARP_FUZZ_SECONDS:-20}
fuzz_failed=0
if [ "$fuzz_seconds" != "0" ] || [ "${CI:-}" = "true" ]; then
  bash .ci/fuzz.sh "$([ "$fuzz_seconds" = "0" ] && echo 20 || echo "$fuzz_seconds")" || fuzz_failed=1
fi
set -e
summary=$(grep -aE 'Failed: +[0-9]+, Passed: +[0-9]+' "$log" | tail -n 1 || true)
if [ -n "$summary" ]; then
  failed=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$summary")
  passed=$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$summary")
  skipped=$(sed -E 's/.*Skipped: +([0-9]+).*/\1/' <<<"$summary")
  if [ "$fuzz_failed" = "1" ]; then failed=$((failed + 1)); status=1; echo "fuzzing found a crash or hang, or could not run (see above)"; fi
  echo "tests: $passed passed, $failed failed, $skipped skipped"
fi
[ "$fuzz_failed" = "1" ] && exit 1
exit "$status"
