#!/usr/bin/env bash
# Bit-for-bit check of a kernel refactor: runs `qwen3 logits` with two binaries (BEFORE, AFTER)
# on every instruction set this CPU runs (QWEN3_ISA), every weight format, KV dtype and numerics
# mode, and compares the .npy files byte for byte. Exits 1 on any difference.
#
#   scripts/check_kernels_bitwise.sh BEFORE_BINARY AFTER_BINARY [WORKDIR]
#
# Models (written by BEFORE's make-test-model, seed 1): the tiny preset in bf16, f32 and f16, an FP8
# checkpoint, and a bf16 model with odd shapes (hidden 72, intermediate 200, head_dim 24, 6 query
# heads over 2 KV heads) so that every kernel's partial-vector tail and the GQA groups of 2 + 1
# heads are exercised. Token batches: 40 + 7 ids (prefill tiles), 1 id and 2 + 1 ids (decode tiles).
set -euo pipefail
before=$(realpath "$1")
after=$(realpath "$2")
work=${3:-$(mktemp -d /tmp/kernels-bitwise.XXXXXX)}
mkdir -p "$work"

make_model() {  # name, extra make-test-model flags...
  local name=$1
  shift
  [[ -f $work/$name/config.json ]] && return
  "$before" make-test-model --preset tiny --seed 1 --out "$work/$name" "$@" >"$work/make-$name.log" 2>&1 ||
    { cat "$work/make-$name.log"; exit 1; }
}
make_model bf16 --dtype bf16
make_model f32 --dtype f32
make_model f16 --dtype f16
make_model fp8ckpt --fp8
make_model odd --dtype bf16 --override \
  '{"hidden_size": 72, "intermediate_size": 200, "head_dim": 24, "num_attention_heads": 6, "num_key_value_heads": 2}'

long=$(seq -s, 11 50)             # 40 ids
batches=("--ids $long --ids 300,301,302,303,304,305,306" "--ids 17" "--ids 5,6 --ids 7")

# model quant kv numerics
cases=(
  "bf16 none f32 exact" "bf16 none bf16 exact" "bf16 none f16 exact"
  "bf16 none f32 fast" "bf16 none bf16 fast" "bf16 none f16 fast"
  "bf16 q8 bf16 exact" "bf16 q4 bf16 exact" "bf16 fp8 bf16 exact" "bf16 q8 f32 fast"
  "f32 none f32 exact" "f16 none f16 exact"
  "fp8ckpt none bf16 exact" "fp8ckpt none f32 fast"
  "odd none f32 exact" "odd none bf16 exact" "odd none f16 exact" "odd none bf16 fast"
  "odd q8 f32 exact" "odd q4 f16 exact" "odd fp8 bf16 exact"
)

status=0
for isa in avx512 avx2 portable; do
  pass=0 fail=0
  for c in "${cases[@]}"; do
    read -r model quant kv numerics <<<"$c"
    for b in "${!batches[@]}"; do
      args=(logits --model "$work/$model" --quant "$quant" --kv-dtype "$kv" --numerics "$numerics" --threads 2)
      # shellcheck disable=SC2206  # the batch string is a list of --ids flags
      ids=(${batches[$b]})
      tag="$isa-$model-$quant-$kv-$numerics-$b"
      QWEN3_ISA=$isa "$before" "${args[@]}" "${ids[@]}" --out "$work/before-$tag.npy" >/dev/null
      QWEN3_ISA=$isa "$after" "${args[@]}" "${ids[@]}" --out "$work/after-$tag.npy" >/dev/null
      if cmp -s "$work/before-$tag.npy" "$work/after-$tag.npy"; then
        pass=$((pass + 1))
      else
        echo "DIFFERENT: $tag"
        fail=$((fail + 1))
        status=1
      fi
      rm -f "$work/before-$tag.npy" "$work/after-$tag.npy"
    done
  done
  echo "$isa: $pass identical, $fail different"
done
exit $status
