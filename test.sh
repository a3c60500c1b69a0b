#!/usr/bin/env bash
# Runs the whole test suite as CI does: installs the llama.cpp oracle and the real tokenizer files (npm, never committed),
# builds in Release and runs every test category. Prints "N passed, N failed" at the end.
set -euo pipefail
cd "$(dirname "$0")"
bash .ci/install-llama-cpp.sh
bash .ci/install-tokenizers.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
dotnet test QuantSharp.slnx -c Release "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -aE 'Failed: +[0-9]+, Passed: +[0-9]+' "$log" | tail -n 1 || true)
if [ -n "$summary" ]; then
  failed=$(sed -E 's/.*Failed: +([0-9]+).*/\1/' <<<"$summary")
  passed=$(sed -E 's/.*Passed: +([0-9]+).*/\1/' <<<"$summary")
  skipped=$(sed -E 's/.*Skipped: +([0-9]+).*/\1/' <<<"$summary")
  echo "tests: $passed passed, $failed failed, $skipped skipped"
fi
exit "$status"
