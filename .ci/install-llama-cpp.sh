#!/usr/bin/env bash
# Installs the llama.cpp oracle (build b8390, prebuilt by node-llama-cpp) into <repo>/.oracle.
# Test and benchmark infrastructure only: nothing here is shipped or committed (.oracle/ is ignored).
# Idempotent: does nothing when the libraries are already present.
set -euo pipefail

PACKAGE="@node-llama-cpp/linux-x64"
VERSION="3.18.1"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$REPO_ROOT/.oracle"
LIB_DIR="$PREFIX/node_modules/$PACKAGE/bins/linux-x64"

if [[ -f "$LIB_DIR/libllama.b8390.so" ]]; then
  exit 0
fi

mkdir -p "$PREFIX"
# --no-save keeps .oracle free of a package.json the repository would have to track.
npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$PREFIX" "$PACKAGE@$VERSION" >/dev/null

if [[ ! -f "$LIB_DIR/libllama.b8390.so" ]]; then
  echo "install-llama-cpp: $PACKAGE@$VERSION installed but $LIB_DIR/libllama.b8390.so is missing" >&2
  exit 1
fi
