#!/usr/bin/env bash
# Fuzzes one reader with AFL++ through SharpFuzz: publishes the harness, instruments the reader
# assemblies, writes seeds and runs afl-fuzz. Needs afl++ (Debian package) and the sharpfuzz tool
# (dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0).
# Usage: fuzz/run-afl.sh TARGET [SECONDS] [OUT]   (TARGET: gguf safetensors imatrix hfconfig gptqconfig tokenizer)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?target}
seconds=${2:-600}
out=${3:-fuzz/findings/$target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dotnet publish fuzz/QuantSharp.Fuzz -c Release -o "$work/bin" -v quiet
# Seeds first: instrumented code only runs under afl-fuzz (it writes to AFL's shared memory).
dotnet "$work/bin/quantsharp-fuzz.dll" seeds "$work/seeds"
# Only the readers are instrumented: coverage feedback from them is what guides AFL.
for dll in QuantSharp.Formats.dll QuantSharp.Core.dll; do sharpfuzz "$work/bin/$dll"; done
mkdir -p "$out"
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1
timeout --preserve-status "$seconds" afl-fuzz -i "$work/seeds/$target" -o "$out" -t 10000 -m none \
  -- dotnet "$work/bin/quantsharp-fuzz.dll" "$target" afl || true
echo "crashes: $(find "$out" -path '*crashes*' -type f ! -name README.txt | wc -l), hangs: $(find "$out" -path '*hangs*' -type f | wc -l)"
echo "replay: dotnet run --project fuzz/QuantSharp.Fuzz -c Release -- $target replay $out/default/crashes"
