#!/usr/bin/env bash
# Exhaustive Unicode comparison with Hugging Face (see scan.js). Usage:
#   tests/tokenizer/unicode_scan/run.sh [BUILD_DIR]     (default: build; needs qwen3_tokenizer built)
# Takes about a minute.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
${CXX:-g++} -std=c++20 -O2 -I"$root/src" "$here/dump.cpp" "$build/libqwen3_tokenizer.a" "$build/libqwen3_core.a" \
  $(pkg-config --libs libpcre2-8 libutf8proc fmt) -o "$out/dump"
node "$here/scan.js" "$out/dump"
