#!/usr/bin/env bash
# Installs @huggingface/jinja (the JS Jinja implementation transformers.js renders chat templates with) into
# <repo>/.oracle/jinja, for the chat-template tests' reference strings (tests/QuantSharp.Tests/Chat/render-reference.mjs).
# Test infrastructure only: nothing here is shipped or committed (.oracle/ is ignored).
# Idempotent: does nothing when the package is already present.
set -euo pipefail

PACKAGE="@huggingface/jinja"
VERSION="0.5.11"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$REPO_ROOT/.oracle/jinja"

if [[ -f "$PREFIX/node_modules/$PACKAGE/package.json" ]]; then
  exit 0
fi

mkdir -p "$PREFIX"
# --no-save keeps .oracle free of a package.json the repository would have to track.
npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$PREFIX" "$PACKAGE@$VERSION" >/dev/null

if [[ ! -f "$PREFIX/node_modules/$PACKAGE/package.json" ]]; then
  echo "install-jinja: $PACKAGE@$VERSION installed but its package.json is missing" >&2
  exit 1
fi
