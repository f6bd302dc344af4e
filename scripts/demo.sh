#!/usr/bin/env bash
# Command (a) of the README: install, build, write the demo model (random weights with the real
# Qwen3-0.6B shapes, bf16, and the real Qwen3 tokenizer), then run one chat turn on it and print
# the speed. Random weights answer in random tokens: the point is the pipeline and the speed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
if [ ! -f models/demo-qwen3-0.6b/config.json ]; then
  ./build/qwen3 make-test-model --preset qwen3-0.6b --seed 1 --dtype bf16 --out models/demo-qwen3-0.6b
fi
echo "Hello! Who are you?" | ./build/qwen3 chat --model models/demo-qwen3-0.6b --max-tokens 48 --stats
