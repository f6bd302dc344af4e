#!/usr/bin/env bash
# The fuzzers (libFuzzer, clang, ASan+UBSan); see fuzz/README.md.
#
#   fuzz/run.sh build                 configure and build every fuzzer in $QWEN3_FUZZ_BUILD (build-fuzz)
#   fuzz/run.sh seeds                 (re)write the seed corpora from the test data
#   fuzz/run.sh <name> [seconds] [libFuzzer flags...]
#                                     fuzz one target (e.g. jinja) for that long (default 300 s);
#                                     new inputs go to $BUILD/corpus/<name>, crashes to $BUILD/artifacts/<name>/
#   fuzz/run.sh replay                run every saved reproducer under fuzz/regressions/ once
#   fuzz/run.sh ci [seconds]          build, seeds, replay, then every fuzzer for `seconds` (default 6)
#   fuzz/run.sh list                  the fuzzers' names
#
# A crash, a sanitizer report, a timeout (10 s for one input), running out of memory (2 GB) or a
# leak makes the command fail. The build must have a clang with libFuzzer (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${QWEN3_FUZZ_BUILD:-build-fuzz}
jobs=${QWEN3_FUZZ_JOBS:-$(nproc)}
limits=(-timeout=10 -rss_limit_mb=2048)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

names() { for f in fuzz/fuzz_*.cpp; do f=${f#fuzz/fuzz_}; echo "${f%.cpp}"; done; }

dict_for() {
  case $1 in
    jinja) echo fuzz/jinja.dict ;;
    config|tokenizer_json|openai_request|chat_request|safetensors) echo fuzz/json.dict ;;
    grammar) echo fuzz/grammar.dict ;;
    output_parser|generation_writer|detokenize) echo fuzz/tags.dict ;;
  esac
}

build() {
  if [ ! -f "$BUILD/build.ninja" ]; then
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
      -DQWEN3_FUZZ=ON -DQWEN3_BUILD_TESTS=OFF -DQWEN3_BUILD_BENCH=OFF
  fi
  cmake --build "$BUILD" -j"$jobs" --target fuzzers
}

seeds() {
  rm -rf "$BUILD/seeds"
  local qwen3=() bin=${QWEN3_BIN:-build/qwen3}  # for the make-test-model seeds
  [ -x "$bin" ] && qwen3=(--qwen3 "$bin")
  python3 fuzz/make_seeds.py "$BUILD/seeds" "${qwen3[@]}"
}

# fuzz NAME SECONDS [flags...]: the seeds are read, new inputs are written to the corpus directory.
fuzz() {
  local name=$1 seconds=$2
  shift 2
  local dict corpus="$BUILD/corpus/$name"
  dict=$(dict_for "$name")
  mkdir -p "$corpus" "$BUILD/artifacts/$name" "$BUILD/seeds/$name"
  "$BUILD/fuzz/fuzz_$name" -max_total_time="$seconds" "${limits[@]}" -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/$name/" ${dict:+-dict="$dict"} "$@" "$corpus" "$BUILD/seeds/$name"
}

# Each saved reproducer, 1000 times (libFuzzer runs the files it is given as arguments and exits):
# a write past the end of a buffer by a library built without ASan (utf8proc) only shows when it
# lands on the allocator's metadata or off the mapped heap, which takes a few hundred runs.
replay() {
  local failed=0 dir name
  for dir in fuzz/regressions/*/; do
    [ -d "$dir" ] || continue
    name=$(basename "$dir")
    mapfile -t files < <(find "$dir" -type f ! -name '*.md' | sort)
    [ ${#files[@]} -gt 0 ] || continue
    echo "== replay $name: ${#files[@]} file(s)"
    "$BUILD/fuzz/fuzz_$name" "${limits[@]}" -runs=1000 "${files[@]}" || { echo "FAILED: replay of $dir"; failed=1; }
  done
  return $failed
}

ci() {
  local seconds=${1:-6} start failed=() name
  start=$(date +%s)
  build
  seeds
  replay || failed+=(replay)
  for name in $(names); do
    echo "== fuzz $name for $seconds s"
    fuzz "$name" "$seconds" 2>&1 | tail -n 40 || failed+=("$name")
  done
  echo "fuzz stage wall time: $(( $(date +%s) - start )) s"
  if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz stage FAILED: ${failed[*]} (crashing inputs under $BUILD/artifacts/)"
    return 1
  fi
}

case ${1:-} in
  build) build ;;
  seeds) seeds ;;
  replay) replay ;;
  list) names ;;
  ci) shift; ci "$@" ;;
  ""|-h|--help) sed -n '2,15p' "$0" ;;
  *) name=$1; seconds=${2:-300}; shift; shift || true; fuzz "$name" "$seconds" "$@" ;;
esac
