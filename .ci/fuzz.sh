#!/usr/bin/env bash
# Bounded coverage-guided fuzzing of every file reader in CI (issue 12): AFL++ from Debian, SharpFuzz
# 2.3.0 as a local tool (never committed). Each target runs SECONDS (default 30, 6 targets ≈ 3 min plus
# set-up); the run fails on any crash or hang, or when afl-fuzz did not actually execute inputs.
# Findings stay under .oracle/fuzz/<target> for replay (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
if ! command -v afl-fuzz >/dev/null 2>&1; then
  apt-get install -y -qq afl++ >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq afl++ >/dev/null; }
fi
tools="$PWD/.oracle/tools"
if [[ ! -x "$tools/sharpfuzz" ]]; then
  dotnet tool install --tool-path "$tools" SharpFuzz.CommandLine --version 2.3.0 >/dev/null
fi
export PATH="$tools:$PATH"
failed=0
for target in ${FUZZ_TARGETS:-gguf safetensors imatrix hfconfig gptqconfig tokenizer}; do
  out=".oracle/fuzz/$target"
  rm -rf "$out"
  fuzz/run-afl.sh "$target" "$seconds" "$out" >".oracle/fuzz-$target.log" 2>&1 || true
  stats="$out/default/fuzzer_stats"
  execs=$( [[ -f "$stats" ]] && awk -F: '/^execs_done/{gsub(/ /,"",$2); print $2}' "$stats" || echo 0)
  crashes=$(find "$out" -path '*crashes*' -type f ! -name README.txt 2>/dev/null | wc -l)
  hangs=$(find "$out" -path '*hangs*' -type f 2>/dev/null | wc -l)
  echo "fuzz $target: ${seconds}s, $execs executions, $crashes crashes, $hangs hangs"
  if [[ "$execs" -eq 0 ]]; then echo "fuzz $target: afl-fuzz executed nothing (see .oracle/fuzz-$target.log)"; failed=1; fi
  if [[ "$crashes" -gt 0 || "$hangs" -gt 0 ]]; then failed=1; fi
done
exit "$failed"
