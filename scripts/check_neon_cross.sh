#!/usr/bin/env bash
# Cross-compiles the CPU kernels (portable + neon/) and test_kernels for AArch64 and runs the tests
# under qemu: the NEON kernels against their scalar twins, as on an ARM machine. By hand, not in
# CI. Needs Debian's g++-aarch64-linux-gnu and qemu-user, and the sources of libgtest-dev and
# headers of libfmt-dev (used header-only), which are arch-independent.
#
#   scripts/check_neon_cross.sh [BUILD_DIR [GTEST_ARGS...]]     (default /tmp/qwen3-neon)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-/tmp/qwen3-neon}")
[[ $# -gt 0 ]] && shift
cxx=${CXX_AARCH64:-aarch64-linux-gnu-g++}
gtest=/usr/src/googletest/googletest
mkdir -p "$out/obj" "$out/inc"
ln -sfn /usr/include/fmt "$out/inc/fmt"  # not -I/usr/include: that holds the host's libc headers

flags=(-std=c++20 -O2 -Wall -Wextra -ffp-contract=off -DFMT_HEADER_ONLY -DQWEN3_SOURCE_DIR="\"$root\""
       -I"$root/src" -I"$out/inc" -isystem "$gtest/include" -I"$gtest")
cd "$root"
srcs=(src/core/*.cpp src/kernels/*.cpp src/kernels/ref/*.cpp src/kernels/cpu/*.cpp src/kernels/cpu/portable/*.cpp
      src/kernels/cpu/neon/*.cpp tests/unit/kernels/*.cpp)
objs=()
for s in "${srcs[@]}"; do objs+=("$out/obj/$(echo "$s" | tr / _).o"); done
# gtest once (it does not change); the project's files every time, two at a time.
for g in gtest-all gtest_main; do
  [[ -f $out/obj/$g.o ]] || "$cxx" "${flags[@]}" -w -c "$gtest/src/$g.cc" -o "$out/obj/$g.o"
done
printf '%s\n' "${srcs[@]}" | xargs -P 2 -I{} sh -c \
  'o="$0/obj/$(echo {} | tr / _).o"; exec "$@" -c {} -o "$o"' "$out" "$cxx" "${flags[@]}"
"$cxx" -o "$out/test_kernels" "${objs[@]}" "$out/obj/gtest-all.o" "$out/obj/gtest_main.o" -pthread
echo "built $out/test_kernels"
QEMU_LD_PREFIX=/usr/aarch64-linux-gnu qemu-aarch64 "$out/test_kernels" "$@"
