#!/usr/bin/python3
"""Compares the C++ engine's Qwen3 forward pass with the float64 NumPy reference (qwen3_ref.py).

    QWEN3_BIN=build/qwen3 /usr/bin/python3 tests/reference/test_reference.py        # engine vs reference
    /usr/bin/python3 tests/reference/test_reference.py --self-test                 # the reference alone
    ... --only yarn,linear                                                          # a subset, by name
    ... --extended                                                                  # and known divergences
    ... --ranks 2                                          # logits and generate tensor-parallel under mpirun

For each configuration: `qwen3 make-test-model` writes a tiny random checkpoint; `qwen3 logits`
gives float32 logits of every position, which must agree with the reference to
max|Δ| / max|ref| < 1e-4 (with an f32 KV cache; bf16 / f16 caches: see below); `qwen3 generate`
gives 32 greedy tokens, which must equal the reference's. One line per configuration, then `N passed, M failed`; the exit status is non-zero on
any failure.

Why one bound for f32, bf16 and f16 weights: the reference reads the very same stored weights and
widens them exactly to float64, so storage precision cancels out and only the engine's float32
arithmetic remains (expected ~1e-6 relative to the largest logit; 1e-4 leaves ample room while
still catching any wrong formula, which shows up at 1e-2 or above).

The KV cache dtype (`--kv-dtype`: bf16 by default, f32 and f16 in some configurations) is
emulated by the reference: it rounds its k (after RoPE) and v to the cache type, to nearest even,
as the engine rounds its float32 k and v (qwen3_ref.round_kv). With an f32 cache the bound stays
1e-4. With bf16 / f16 it cannot: the engine's float32 k and v differ from the exact ones by ~1e-6
relative, so an element whose exact value lies that close to a rounding midpoint rounds the other
way (a few per configuration here), and one such flip moves one element by a whole bf16 (2^-8) or
f16 (2^-11) step, which these small random models amplify to up to ~5e-4 (bf16) / ~9e-5 (f16) of
the largest logit. Measured (emulated over all configurations; not emulated, over five of them):
bf16 <= 5.6e-4 emulated vs >= 3.8e-3 not, f16 <= 8.7e-5 vs >= 5.7e-4. So 16-bit caches are held to bounds between the two, 1e-3
(bf16) and 2e-4 (f16): passing needs the emulated rounding (round to nearest even, k after RoPE),
and the greedy continuations must still be identical.

Quantized caches (`q8`, `q8-head`, `fp8`: core/kv_dtype.h) are emulated too (qwen3_ref.quantize_kv:
block scales rounded to f16, codes rounded half to even). A code that flips at a midpoint moves an
element by a whole step (max|x| / 127), so the bound is wider: measured over these configurations
and two more, emulated 7e-5 .. 3.8e-3 (one flip), not emulated (reference with an f32 cache)
1.4e-2 .. 9.3e-2; held to 6e-3.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen3_ref as ref  # noqa: E402

TOLERANCE = {"f32": 1e-4, "bf16": 1e-3, "f16": 2e-4,  # by KV cache dtype, see above
             "q8": 6e-3, "q8-head": 6e-3, "fp8": 6e-3}
GREEDY_TOKENS = 32
VOCAB = 151936  # the tiny preset keeps Qwen3's real vocabulary


# --------------------------------------------------------------------------------------------
# Prompts: ids spread over the whole vocabulary, deterministic.
# --------------------------------------------------------------------------------------------

def prompt(length: int, seed: int) -> list[int]:
    ids = np.random.default_rng(seed).integers(0, VOCAB, size=length).tolist()
    # The extremes of the table and the special tokens are in every prompt of length >= 8.
    if length >= 8:
        ids[1], ids[3], ids[5], ids[7] = 0, VOCAB - 1, 151643, 151645
    return [int(i) for i in ids]


# name, --dtype, --seed, --shards, --override (None: the preset as is), prompt length[, --kv-dtype]
# (--kv-dtype: the engine's default bf16 unless given)
CONFIGS = [
    ("f32-tied-silu", "f32", 1, 1, None, 37),
    ("f32-tied-silu-kv-f32", "f32", 1, 1, None, 37, "f32"),
    ("f32-tied-silu-kv-f16", "f32", 1, 1, None, 37, "f16"),
    ("bf16-tied-silu", "bf16", 2, 1, None, 37),
    ("f16-tied-silu", "f16", 3, 1, None, 37),
    ("f16-tied-silu-kv-f16", "f16", 3, 1, None, 37, "f16"),
    ("bf16-untied", "bf16", 4, 1, {"tie_word_embeddings": False}, 23),
    ("f32-untied", "f32", 5, 1, {"tie_word_embeddings": False}, 23),
    ("attention-bias", "f32", 6, 1, {"attention_bias": True}, 29),
    ("attention-bias-bf16", "bf16", 7, 1, {"attention_bias": True}, 29),
    ("gelu", "bf16", 8, 1, {"hidden_act": "gelu"}, 19),
    ("gelu-pytorch-tanh", "f32", 9, 1, {"hidden_act": "gelu_pytorch_tanh"}, 19),
    ("mqa-1kv", "f32", 10, 1, {"num_key_value_heads": 1}, 31),
    ("mqa-1kv-kv-f32", "f32", 10, 1, {"num_key_value_heads": 1}, 31, "f32"),
    ("mha-4kv", "f16", 11, 1, {"num_key_value_heads": 4}, 31),
    ("long-prompt-130", "bf16", 12, 1, None, 130),
    # past one attention partition (256 positions): partitions merged, in each cache type
    ("long-prompt-300", "bf16", 27, 1, None, 300),
    ("long-prompt-300-kv-f32", "bf16", 27, 1, None, 300, "f32"),
    ("long-prompt-300-kv-f16", "bf16", 27, 1, None, 300, "f16"),
    ("f32-tied-silu-kv-q8", "f32", 1, 1, None, 37, "q8"),
    ("hd64-kv-q8-head", "f32", 1, 1, {"head_dim": 64}, 37, "q8-head"),
    ("hd64-kv-q8", "f32", 1, 1, {"head_dim": 64}, 37, "q8"),
    ("f32-tied-silu-kv-fp8", "f32", 1, 1, None, 37, "fp8"),
    ("long-prompt-300-kv-q8", "bf16", 27, 1, None, 300, "q8"),
    # positions 0..231 run far past original_max_position_embeddings / factor (8) and past
    # original_max_position_embeddings (32); the configured factor 4 is used, not 4096 / 32.
    ("yarn", "f32", 13, 1, {"rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                                             "original_max_position_embeddings": 32}}, 200),
    ("yarn-bf16", "bf16", 14, 1, {"rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                                                   "original_max_position_embeddings": 32}}, 200),
    # legacy "type" key, beta_fast/beta_slow, mscale/mscale_all_dim and truncate: false
    ("yarn-mscale-notruncate", "f32", 15, 1, {"rope_scaling": {
        "type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64, "beta_fast": 16,
        "beta_slow": 2, "mscale": 1.0, "mscale_all_dim": 0.5, "truncate": False}}, 150),
    # explicit attention_factor
    ("yarn-attention-factor", "f32", 16, 1, {"rope_scaling": {
        "rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 48,
        "attention_factor": 0.9}}, 120),
    # legacy "type" key and a different rope_theta
    ("linear", "f32", 17, 1, {"rope_theta": 10000.0,
                              "rope_scaling": {"type": "linear", "factor": 4.0}}, 150),
    ("linear-bf16", "bf16", 18, 1, {"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, 110),
    ("sharded-3", "f32", 19, 3, None, 41),
    ("sharded-3-untied-bf16", "bf16", 20, 3, {"tie_word_embeddings": False}, 41),
    # head_dim null: hidden_size // num_attention_heads = 16
    ("head-dim-null", "f32", 21, 1, {"head_dim": None}, 25),
    # transformers v5 spelling: rope_parameters holding rope_theta (10000 here, not the top-level 1e6)
    ("rope-parameters-v5", "f32", 24, 1, {"rope_scaling": None, "rope_parameters": {
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32, "rope_theta": 10000.0}}, 120),
    # factor null: transformers uses max_position_embeddings / original_max_position_embeddings
    # (4096 / 1024 = 4).
    ("yarn-factor-null", "f32", 22, 1, {"rope_scaling": {
        "rope_type": "yarn", "factor": None, "original_max_position_embeddings": 1024}}, 60),
    # A top-level original_max_position_embeddings overrides rope_scaling's in transformers'
    # standardize_rope_params (run again when the yarn parameters are computed, by which time the
    # extra config.json key is an attribute); 256 moves the correction range from [0, 2] to [0, 5].
    ("yarn-toplevel-original-max", "f32", 23, 1, {"original_max_position_embeddings": 256, "rope_scaling": {
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}}, 120),
    ("relu", "f32", 25, 1, {"hidden_act": "relu"}, 17),
    ("gelu-new", "f32", 26, 1, {"hidden_act": "gelu_new"}, 17),
]

# Hugging Face FP8 checkpoints (`make-test-model --fp8`: F8_E4M3 weights with 128x128
# weight_scale_inv blocks). The same bound holds: the reference dequantizes the very same bytes
# exactly in float64 (e4m3 value x scale: a 4-bit times a 24-bit significand), and the engine keeps
# activations in float32 and dequantizes only the weights, so again only float32 arithmetic
# separates them. The tiny preset leaves partial blocks everywhere (hidden 64, k/v 64 rows,
# intermediate 160: gate/up/down blocks of 128 + 32), and its fused k | v and gate | up parts do not
# start on 128-row boundaries. Extra make-test-model arguments come last.
FP8_CONFIGS = [
    ("fp8-f32-scales-tied", "bf16", 31, 1, None, 37, ["--fp8"]),
    ("fp8-bf16-scales", "bf16", 32, 1, None, 37, ["--fp8", "--fp8-scale-dtype", "bf16"]),
    ("fp8-f16-scales-untied", "f16", 33, 1, {"tie_word_embeddings": False}, 29, ["--fp8", "--fp8-scale-dtype", "f16"]),
    # intermediate 300: down_proj has three column blocks (128, 128, 44); with attention biases.
    ("fp8-inter300-bias", "f32", 34, 1, {"intermediate_size": 300, "attention_bias": True}, 31, ["--fp8"]),
    ("fp8-sharded-3-untied", "bf16", 35, 3, {"tie_word_embeddings": False}, 41, ["--fp8", "--fp8-scale-dtype", "bf16"]),
    # Shapes whose tensor-parallel splits fall on the 128 x 128 blocks over 2 and 4 ranks (as in
    # Qwen's FP8 checkpoints): head_dim 128 (q 512 rows, k / v 256), intermediate 512, untied.
    ("fp8-tp-aligned", "bf16", 36, 1, {"head_dim": 128, "intermediate_size": 512, "tie_word_embeddings": False}, 33,
     ["--fp8"]),
]

# Run with --extended: configurations on which current transformers and the engine are known to
# part ways (none at present).
EXTENDED_CONFIGS = [
]


# --------------------------------------------------------------------------------------------
# Engine vs reference
# --------------------------------------------------------------------------------------------

ENGINE_SECONDS = [0.0]
# Distinct ids in each reference continuation: a continuation that repeats one id would match a
# broken engine just as well, so the test models must keep greedy decoding varied.
DISTINCT_IDS: list[int] = []
MIN_MEAN_DISTINCT = 16  # wall time spent in the qwen3 binary, for the per-configuration line


# --ranks N: `qwen3 logits` and `qwen3 generate` run under `mpirun -n N` (tensor parallelism,
# docs/parallel.md), against the same reference. The logits are compared with an f32 KV cache, at
# its bound (1e-4), in every configuration; the greedy continuation keeps the configuration's cache
# dtype and must still equal the reference's. Why not the 16-bit bounds for the logits: the ranks add
# the partial sums of o_proj and down_proj in another order than one process, which moves float32 k
# and v by a last bit, and (as explained at the top) a last-bit move flips a bf16 rounding at a
# midpoint, which these small random models amplify: measured, f16-tied-silu with a bf16 cache over
# 2 ranks reached 1.09e-3 (bound 1e-3; 3.5e-4 in one process), while the same configuration with an
# f32 cache is at 7.7e-7 over 2 ranks (5.3e-7 in one process). So the f32 comparison is the one that
# tests the parallel arithmetic, tighter, and the 16-bit rounding itself is per-rank code the
# single-process run covers. Configurations whose FP8 128 x 128
# blocks a rank boundary would cut are refused by the engine with a message naming the blocks:
# for them, that refusal is what is checked (TP_REFUSED).
RANKS = [1]
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]
TP_REFUSED = "do not fall on the"


def launch(cmd: list[str]) -> list[str]:
    return cmd if RANKS[0] == 1 else MPIRUN + ["-n", str(RANKS[0])] + cmd


def run(cmd: list[str], timeout: int = 300) -> str:
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    ENGINE_SECONDS[0] += time.time() - t0
    if r.returncode != 0:
        # Under mpirun the engine's own message comes before the launcher's banner.
        errors = [l for l in r.stderr.splitlines() if l.startswith("qwen3: error:")]
        raise RuntimeError(f"`{' '.join(cmd)}` exited {r.returncode}: {' '.join(errors) or r.stderr.strip()[-600:]}")
    return r.stdout


def check_config(binary: str, tmp: str, name: str, dtype: str, seed: int, shards: int,
                 override: dict | None, length: int, extra: list[str] | None = None,
                 kv_dtype: str = "bf16") -> tuple[bool, str]:
    model_dir = os.path.join(tmp, name)
    cmd = [binary, "make-test-model", "--preset", "tiny", "--seed", str(seed), "--dtype", dtype,
           "--out", model_dir] + list(extra or [])
    if shards > 1:
        cmd += ["--shards", str(shards)]
    if override is not None:
        cmd += ["--override", json.dumps(override)]
    run(cmd)
    if shards > 1 and not os.path.exists(os.path.join(model_dir, "model.safetensors.index.json")):
        return False, "make-test-model --shards wrote no model.safetensors.index.json"

    ids = prompt(length, seed + 1000)
    ids_arg = ",".join(map(str, ids))
    npy = os.path.join(tmp, name + ".npy")
    logits_kv = "f32" if RANKS[0] > 1 else kv_dtype
    try:
        run(launch([binary, "logits", "--model", model_dir, "--ids", ids_arg, "--out", npy, "--kv-dtype", logits_kv]))
    except RuntimeError as e:
        if RANKS[0] > 1 and extra and "--fp8" in extra and TP_REFUSED in str(e):
            return True, f"refused over {RANKS[0]} ranks, as it must be: {str(e).split('error: ')[-1][:160]}"
        raise
    got = np.load(npy)

    model = ref.load_model(model_dir)
    want = ref.forward(model, ids, kv_dtype=logits_kv)
    if got.shape != want.shape:
        return False, f"engine logits shape {got.shape}, expected {want.shape}"
    dtype_note = "" if got.dtype == np.float32 else f" (engine .npy dtype {got.dtype}, expected float32)"
    diff = float(np.abs(got.astype(np.float64) - want).max())
    scale = float(np.abs(want).max())
    rel = diff / scale
    worst = np.unravel_index(int(np.argmax(np.abs(got - want))), want.shape)
    # Where the worst error sits hints at the cause: a RoPE slip grows with the position.
    figures = (f"T={length:<3d} max|Δ|={diff:.2e} max|ref|={scale:.3f} rel={rel:.2e} < {TOLERANCE[logits_kv]:.0e} "
               f"(worst at pos {worst[0]}{', logits with kv f32' if logits_kv != kv_dtype else ''})")

    out = json.loads(run(launch([binary, "generate", "--model", model_dir, "--ids", ids_arg, "--kv-dtype", kv_dtype,
                                 "--max-tokens", str(GREEDY_TOKENS), "--format", "json", "--ignore-eos", "--temperature", "0"])))
    got_ids = [int(t) for t in out["ids"]]
    want_ids = ref.greedy(model, ids, GREEDY_TOKENS, kv_dtype)
    same = sum(1 for _ in iter_prefix(got_ids, want_ids))
    ok = rel < TOLERANCE[logits_kv] and got_ids == want_ids and not dtype_note
    greedy_note = f"greedy {same}/{GREEDY_TOKENS} identical, {len(set(want_ids))} distinct"
    DISTINCT_IDS.append(len(set(want_ids)))
    if got_ids != want_ids:
        margins = ref.greedy_margins(model, ids, want_ids, kv_dtype)
        if same < len(margins):
            greedy_note += f" (reference top1-top2 margin at step {same}: {margins[same]:.2e})"
        if len(got_ids) != GREEDY_TOKENS:
            greedy_note += f" (engine gave {len(got_ids)} ids)"
    return ok, f"{figures}  {greedy_note}{dtype_note}"


def iter_prefix(a: list[int], b: list[int]):
    for x, y in zip(a, b):
        if x != y:
            return
        yield x


# Under the sanitizers (QWEN3_SANITIZED, scripts/test.sh) the numbers are the optimised build's
# business; this subset still drives every code path of the engine (each weight and KV dtype,
# untied, biases, GQA/MQA, several attention partitions, YaRN, shards, FP8 with partial blocks)
# through ASan/UBSan at a quarter of the time.
SANITIZED_SUBSET = {"f32-tied-silu-kv-f32", "f32-tied-silu-kv-q8", "f16-tied-silu-kv-f16", "bf16-untied", "attention-bias-bf16", "gelu",
                    "mqa-1kv", "long-prompt-300", "yarn", "sharded-3-untied-bf16", "fp8-inter300-bias",
                    "fp8-sharded-3-untied"}


def compare(binary: str, only: set[str] | None, extended: bool) -> tuple[int, int]:
    passed = failed = 0
    if only is None and os.environ.get("QWEN3_SANITIZED"):
        only = SANITIZED_SUBSET
    with tempfile.TemporaryDirectory(prefix="qwen3-ref-") as tmp:
        for name, dtype, seed, shards, override, length, *extra in (CONFIGS + FP8_CONFIGS +
                                                                   (EXTENDED_CONFIGS if extended else [])):
            if only and name not in only:
                continue
            t0, ENGINE_SECONDS[0] = time.time(), 0.0
            # A 7th element: the KV cache dtype (a string) or extra make-test-model arguments (a list).
            kv_dtype = next((e for e in extra if isinstance(e, str)), "bf16")
            make_args = next((e for e in extra if isinstance(e, list)), None)
            try:
                ok, msg = check_config(binary, tmp, name, dtype, seed, shards, override, length, make_args, kv_dtype)
            except Exception as e:  # noqa: BLE001 - one configuration's failure must not stop the rest
                ok, msg = False, f"{type(e).__name__}: {e}"
            # ~40-80 MB per checkpoint (the real 151936-row vocabulary): do not keep them all.
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
            if os.path.exists(os.path.join(tmp, name + ".npy")):
                os.remove(os.path.join(tmp, name + ".npy"))  # T x 151936 float32: up to 120 MB
            print(f"{'PASS' if ok else 'FAIL'} {name:<24s} {dtype:<4s} kv {kv_dtype:<4s} {msg}  [{time.time() - t0:.1f}s, engine {ENGINE_SECONDS[0]:.1f}s]",
                  flush=True)
            passed, failed = passed + ok, failed + (not ok)
    if len(DISTINCT_IDS) >= 5:
        mean = sum(DISTINCT_IDS) / len(DISTINCT_IDS)
        ok = mean >= MIN_MEAN_DISTINCT and min(DISTINCT_IDS) >= 2
        print(f"{'PASS' if ok else 'FAIL'} greedy-diversity: mean {mean:.1f} distinct ids per {GREEDY_TOKENS}-token "
              f"continuation (need >= {MIN_MEAN_DISTINCT}), min {min(DISTINCT_IDS)} (need >= 2)", flush=True)
        passed, failed = passed + ok, failed + (not ok)
    return passed, failed


# --------------------------------------------------------------------------------------------
# Self-test of the reference (no engine needed)
# --------------------------------------------------------------------------------------------

def _write_safetensors(path: str, tensors: dict[str, tuple[str, np.ndarray]], metadata: dict | None) -> None:
    """A safetensors writer independent of the reader: tensors {name: (dtype, raw array)}."""
    header, blobs, offset = {}, [], 0
    for name, (dt, arr) in tensors.items():
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def selftest_safetensors(tmp: str) -> None:
    rng = np.random.default_rng(0)
    f32 = rng.standard_normal((3, 5)).astype("<f4")
    f16 = rng.standard_normal((7,)).astype("<f2")
    # bf16: keep the upper 16 bits of float32 values, so the expected float64 values are exact.
    bf_src = rng.standard_normal((2, 4)).astype("<f4")
    bf_bits = (bf_src.view("<u4") >> 16).astype("<u2")
    bf_expect = (bf_bits.astype(np.uint32) << 16).view("<f4").astype(np.float64)
    path = os.path.join(tmp, "model.safetensors")
    _write_safetensors(path, {"a": ("F32", f32), "b": ("F16", f16), "c": ("BF16", bf_bits),
                              "s": ("F32", np.array(2.5, dtype="<f4"))}, {"format": "pt"})
    t, meta = ref.read_safetensors(path)
    assert meta == {"format": "pt"}, meta
    assert t["a"].dtype == np.float64 and np.array_equal(t["a"], f32.astype(np.float64))
    assert np.array_equal(t["b"], f16.astype(np.float64))
    assert np.array_equal(t["c"], bf_expect)
    assert t["s"].shape == () and t["s"] == 2.5
    # Known bit patterns: bf16 0x3FC0 = 1.5, 0xC000 = -2; f16 0x3C00 = 1, 0xC400 = -4.
    _write_safetensors(path, {"x": ("BF16", np.array([0x3FC0, 0xC000], "<u2")),
                              "y": ("F16", np.array([0x3C00, 0xC400], "<u2"))}, None)
    t, meta = ref.read_safetensors(path)
    assert t["x"].tolist() == [1.5, -2.0] and t["y"].tolist() == [1.0, -4.0] and meta == {}
    # Sharded folder: two files and an index.
    shard_dir = os.path.join(tmp, "sharded")
    os.makedirs(shard_dir)
    _write_safetensors(os.path.join(shard_dir, "model-00001-of-00002.safetensors"), {"a": ("F32", f32)}, {})
    _write_safetensors(os.path.join(shard_dir, "model-00002-of-00002.safetensors"), {"b": ("F16", f16)}, {})
    with open(os.path.join(shard_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                                                  "b": "model-00002-of-00002.safetensors"}}, f)
    t = ref.read_checkpoint(shard_dir)
    assert set(t) == {"a", "b"} and np.array_equal(t["b"], f16.astype(np.float64))
    # A corrupt header (offsets past the end) is refused.
    bad = os.path.join(tmp, "bad.safetensors")
    h = json.dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    with open(bad, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"\0" * 8)
    try:
        ref.read_safetensors(bad)
        raise AssertionError("corrupt safetensors accepted")
    except ValueError:
        pass


def _cfg(**over) -> ref.Config:
    cj = {"hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 50, "rope_theta": 1e6,
          "max_position_embeddings": 4096, "rope_scaling": None}
    cj.update(over)
    return ref.parse_config(cj)


def selftest_rope() -> None:
    # rope_scaling null: each pair (x_i, x_{i+d/2}) turns by p * theta^(-2i/d), written out as a
    # plain rotation.
    cfg = _cfg()
    inv_freq, scale = ref.rope_parameters(cfg)
    assert scale == 1.0 and inv_freq.shape == (16,)
    D, theta = 32, 1e6
    x = np.random.default_rng(1).standard_normal((5, 3, D))
    pos = np.array([0, 1, 7, 100, 4000])
    cos, sin = ref.rope_cos_sin(inv_freq, scale, pos)
    got = ref.apply_rope(x, cos, sin)
    want = np.empty_like(x)
    for t, p in enumerate(pos):
        for i in range(D // 2):
            a = p * theta ** (-2 * i / D)
            x0, x1 = x[t, :, i], x[t, :, i + D // 2]
            want[t, :, i] = x0 * math.cos(a) - x1 * math.sin(a)
            want[t, :, i + D // 2] = x1 * math.cos(a) + x0 * math.sin(a)
    assert np.abs(got - want).max() < 1e-12
    assert np.abs(got[0] - x[0]).max() == 0  # position 0 is the identity

    # linear: the default frequencies divided by factor (equivalently positions / factor).
    lin, s = ref.rope_parameters(_cfg(rope_scaling={"type": "linear", "factor": 4.0}))
    assert s == 1.0 and np.allclose(lin, inv_freq / 4.0, rtol=1e-15)

    # yarn, head_dim 32, theta 1e6, factor 4, original_max_position_embeddings 32 (the test's
    # "yarn" configuration), by hand from transformers' formulas:
    #   correction_dim(r) = 32 ln(32 / (2 pi r)) / (2 ln 1e6)
    #   low  = floor(correction_dim(32)) = floor(32 * -1.837877 / 27.631021) = floor(-2.1285) = -3 -> 0
    #   high = ceil(correction_dim(1))   = ceil(32 * 1.627859 / 27.631021)   = ceil(1.8853)   = 2
    #   ramp_i = clip(i / 2, 0, 1) = 0, 0.5, 1, 1, ...
    #   inv_freq_i = (1 - ramp_i) theta^(-i/16) + ramp_i theta^(-i/16) / 4
    #     i = 0: 1;  i = 1: 0.625 * 10^(-0.375) = 0.625 * 0.4216965034 = 0.2635603146;
    #     i >= 2: 10^(-6i/16) / 4, e.g. i = 2: 0.1778279410 / 4 = 0.04445698525
    #   attention_factor = 0.1 ln 4 + 1 = 1.1386294361
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}
    y, s = ref.rope_parameters(_cfg(rope_scaling=yarn))
    assert abs(s - 1.1386294361) < 1e-10, s
    assert y[0] == 1.0 and abs(y[1] - 0.2635603146) < 1e-10 and abs(y[2] - 0.04445698525) < 1e-11, y[:3]
    assert np.allclose(y[2:], theta ** (-np.arange(2, 16) / 16) / 4, rtol=1e-14)
    # The configured factor is used even though max_position_embeddings / original = 128 ...
    y128, s128 = ref.rope_parameters(_cfg(rope_scaling=dict(yarn, factor=128.0)))
    assert not np.allclose(y, y128) and abs(s128 - (0.1 * math.log(128) + 1)) < 1e-12
    # ... and the ratio only when factor is null: 4096 / 1024 = 4, the same numbers as factor 4
    # with original 1024. A top-level original_max_position_embeddings overrides the dict's.
    a, sa = ref.rope_parameters(_cfg(rope_scaling={"rope_type": "yarn", "factor": None,
                                                   "original_max_position_embeddings": 1024}))
    b, sb = ref.rope_parameters(_cfg(rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                                   "original_max_position_embeddings": 1024}))
    c, sc = ref.rope_parameters(_cfg(original_max_position_embeddings=1024, rope_scaling=yarn))
    assert np.array_equal(a, b) and sa == sb == sc and np.array_equal(b, c)
    # original_max_position_embeddings absent: it defaults to max_position_embeddings (4096).
    d, _ = ref.rope_parameters(_cfg(rope_scaling={"rope_type": "yarn", "factor": 4.0}))
    e, _ = ref.rope_parameters(_cfg(rope_scaling=dict(yarn, original_max_position_embeddings=4096)))
    assert np.array_equal(d, e)

    # Qwen3's published yarn recipe: head_dim 128, theta 1e6, factor 4, original 32768:
    #   correction_dim(32) = 128 ln(32768 / (64 pi)) / 27.631021 = 128 * 5.093595 / 27.631021 = 23.596 -> 23
    #   correction_dim(1)  = 128 ln(32768 / (2 pi))  / 27.631021 = 128 * 8.559331 / 27.631021 = 39.651 -> 40
    #   so i <= 23 keep theta^(-i/64), i >= 40 get theta^(-i/64) / 4, and i = 30 (ramp 7/17) gets
    #   theta^(-30/64) * (10/17 + (7/17) / 4) = 0.0015399265 * 0.6911764706 = 0.0010643610
    q, s = ref.rope_parameters(_cfg(hidden_size=2048, num_attention_heads=16, head_dim=128,
                                    max_position_embeddings=40960, rope_scaling={
                                        "rope_type": "yarn", "factor": 4.0,
                                        "original_max_position_embeddings": 32768}))
    base = 1e6 ** (-np.arange(64) / 64)
    assert np.allclose(q[:24], base[:24], rtol=1e-14) and np.allclose(q[40:], base[40:] / 4, rtol=1e-14)
    assert abs(q[30] - 0.0010643610) < 1e-10 and not np.isclose(q[23 + 1], base[24]), q[30]

    # mscale / mscale_all_dim and truncate false, head_dim 32, theta 1e6, factor 8, original 64,
    # beta_fast 16, beta_slow 2:
    #   attention_factor = (1 + 0.1 * 1 * ln 8) / (1 + 0.1 * 0.5 * ln 8) = 1.2079441542 / 1.1039720771
    #                    = 1.0941799881
    #   low  = 32 ln(64 / (32 pi)) / 27.631021 = 32 * -0.451583 / 27.631021 = -0.52299 -> 0
    #   high = 32 ln(64 / (4 pi))  / 27.631021 = 32 *  1.627859 / 27.631021 = 1.885254 (not rounded)
    #   ramp_1 = 1 / 1.885254 = 0.5304326; inv_freq_1 = theta^(-1/16) (1 - 0.5304326 + 0.5304326 / 8)
    m, s = ref.rope_parameters(_cfg(rope_scaling={"type": "yarn", "factor": 8.0,
                                                  "original_max_position_embeddings": 64, "beta_fast": 16,
                                                  "beta_slow": 2, "mscale": 1.0, "mscale_all_dim": 0.5,
                                                  "truncate": False}))
    assert abs(s - 1.0941799881) < 1e-9, s
    r1 = 1 / (32 * math.log(64 / (4 * math.pi)) / (2 * math.log(1e6)))
    assert abs(r1 - 0.5304326) < 1e-7
    assert abs(m[1] - 10 ** -0.375 * (1 - r1 + r1 / 8)) < 1e-14 and m[0] == 1.0
    assert np.allclose(m[2:], theta ** (-np.arange(2, 16) / 16) / 8, rtol=1e-14)
    # explicit attention_factor is taken as is
    _, s = ref.rope_parameters(_cfg(rope_scaling=dict(yarn, attention_factor=0.9)))
    assert s == 0.9


def selftest_fp8(tmp: str) -> None:
    t = ref.e4m3_table()
    assert np.isnan(t).sum() == 2 and np.isnan(t[0x7F]) and np.isnan(t[0xFF])
    assert t[0x7E] == 448 and t[0xFE] == -448 and t[0x38] == 1 and t[0x01] == 2.0 ** -9
    assert t[0x07] == 7 * 2.0 ** -9 and t[0x08] == 2.0 ** -6 and t[0x80] == 0 and math.copysign(1, t[0x80]) == -1
    assert t[0x3C] == 1.5 and t[0xC0] == -2 and t[0x50] == 8  # S.0111.100, S.1000.000, S.1010.000
    fin = t[:0x7F]
    assert np.all(np.diff(fin) > 0) and np.array_equal(t[0x80:0xFF], -fin)
    # A [130, 3] F8_E4M3 weight with F16 scales of its two row blocks: rows 0..127 x 0.5, 128..129 x 4.
    codes = np.full((130, 3), 0x38, np.uint8)
    codes[129, 2] = 0xC0
    sc = np.array([[0x3800], [0x4400]], "<u2")  # f16 0.5 and 4
    path = os.path.join(tmp, "fp8.safetensors")
    _write_safetensors(path, {"w.weight": ("F8_E4M3", codes), "w.weight_scale_inv": ("F16", sc)}, None)
    tensors, _ = ref.read_safetensors(path)
    cfg = _cfg(quantization_config={"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                                    "weight_block_size": [128, 128]})
    w = ref.dequantize_fp8(cfg, tensors)["w.weight"]
    assert w.shape == (130, 3) and np.all(w[:128] == 0.5) and w[128, 0] == 4 and w[129, 2] == -8


def selftest_config() -> None:
    c = _cfg(head_dim=None, num_key_value_heads=None)
    assert c.head_dim == 16 and c.num_key_value_heads == 4
    c = _cfg(rope_scaling=None, rope_parameters={"rope_type": "default", "rope_theta": 5e5})
    assert c.rope["rope_theta"] == 5e5 and c.rope["rope_type"] == "default"
    c = _cfg(rope_scaling={"type": "linear", "factor": 2.0}, rope_theta=1234.0)
    assert c.rope == {"type": "linear", "factor": 2.0, "rope_theta": 1234.0, "rope_type": "linear"}


def selftest_activations() -> None:
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.5])
    gelu = ref.activation("gelu")(x)
    want = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.abs(gelu - want).max() < 1e-15 and abs(gelu[3] - 0.8413447460685429) < 1e-15
    assert abs(ref.activation("gelu_pytorch_tanh")(x)[3] - 0.8411919906082768) < 1e-15
    assert np.array_equal(ref.activation("gelu_new")(x), ref.activation("gelu_pytorch_tanh")(x))
    assert abs(ref.activation("silu")(x)[3] - 0.7310585786300049) < 1e-15
    assert np.array_equal(ref.activation("swish")(x), ref.activation("silu")(x))
    assert ref.activation("relu")(x).tolist() == [0, 0, 0, 1, 2.5]
    assert ref.activation("silu")(np.array([-1000.0]))[0] == 0.0  # no overflow warning path


def _random_model(cfg: ref.Config, seed: int) -> ref.Model:
    rng = np.random.default_rng(seed)
    H, KV, D, E, I, V = (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.hidden_size,
                         cfg.intermediate_size, cfg.vocab_size)
    t = {"model.embed_tokens.weight": rng.standard_normal((V, E)), "model.norm.weight": 1 + 0.1 * rng.standard_normal(E)}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        for name, shape in [("input_layernorm.weight", (E,)), ("post_attention_layernorm.weight", (E,)),
                            ("self_attn.q_norm.weight", (D,)), ("self_attn.k_norm.weight", (D,))]:
            t[p + name] = 1 + 0.1 * rng.standard_normal(shape)
        for name, shape in [("self_attn.q_proj", (H * D, E)), ("self_attn.k_proj", (KV * D, E)),
                            ("self_attn.v_proj", (KV * D, E)), ("self_attn.o_proj", (E, H * D)),
                            ("mlp.gate_proj", (I, E)), ("mlp.up_proj", (I, E)), ("mlp.down_proj", (E, I))]:
            t[p + name + ".weight"] = rng.standard_normal(shape) / math.sqrt(shape[1])
            if cfg.attention_bias and "self_attn" in name:
                t[p + name + ".bias"] = 0.1 * rng.standard_normal(shape[0])
    if not cfg.tie_word_embeddings:
        t["lm_head.weight"] = rng.standard_normal((V, E))
    return ref.build_model(cfg, t)


def selftest_forward() -> None:
    ids = [3, 17, 42, 0, 49, 8, 8, 23, 11]
    for over in [{}, {"attention_bias": True, "tie_word_embeddings": False},
                 {"num_key_value_heads": 1, "hidden_act": "gelu"},
                 {"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4}}]:
        cfg = _cfg(**over)
        m = _random_model(cfg, 5)
        full = ref.forward(m, ids)
        # Incremental decoding with the KV cache gives the same logits as the full pass.
        cache = ref.KVCache(cfg)
        inc = np.concatenate([ref.forward(m, ids[:4], cache), ref.forward(m, ids[4:5], cache),
                              ref.forward(m, ids[5:], cache)])
        assert np.abs(full - inc).max() < 1e-12 * np.abs(full).max()
        # The same with a bf16 cache: rounding happens per token, so it is the same either way,
        # and it moves the logits (the emulation is not a no-op).
        cache = ref.KVCache(cfg)
        full16 = ref.forward(m, ids, kv_dtype="bf16")
        inc16 = np.concatenate([ref.forward(m, ids[:4], cache, kv_dtype="bf16"),
                                ref.forward(m, ids[4:], cache, kv_dtype="bf16")])
        assert np.abs(full16 - inc16).max() < 1e-12 * np.abs(full).max()
        assert 1e-5 < np.abs(full16 - full).max() / np.abs(full).max() < 1e-1
        # "K/V" rounds each to its own type (bench/kv_quant_ref.py): the pair of one type is that
        # type, and rounding only K or only V moves the logits away from both.
        assert np.array_equal(ref.forward(m, ids, kv_dtype="bf16/bf16"), full16)
        for pair in ("f64/bf16", "bf16/f64"):
            half = ref.forward(m, ids, kv_dtype=pair)
            assert np.abs(half - full).max() > 0 and np.abs(half - full16).max() > 0, pair
        # Causal: a prefix's logits do not depend on what follows.
        assert np.abs(ref.forward(m, ids[:5]) - full[:5]).max() < 1e-12 * np.abs(full).max()
        # Greedy continuation equals the argmax of repeated full forwards.
        seq = list(ids)
        for _ in range(4):
            seq.append(int(np.argmax(ref.forward(m, seq)[-1])))
        assert ref.greedy(m, ids, 4) == seq[len(ids):]
    # GQA equals MHA with each KV head repeated for its group (transformers' repeat_kv).
    cfg = _cfg()
    m = _random_model(cfg, 6)
    mha_cfg = _cfg(num_key_value_heads=4)
    t = {}
    G, D = 2, 32
    for i, L in enumerate(m.layers):
        p = f"model.layers.{i}."
        rep = lambda w: np.repeat(w.reshape(2, D, -1), G, axis=0).reshape(4 * D, -1)  # noqa: E731
        t.update({p + "input_layernorm.weight": L.input_norm, p + "post_attention_layernorm.weight": L.post_norm,
                  p + "self_attn.q_norm.weight": L.q_norm, p + "self_attn.k_norm.weight": L.k_norm,
                  p + "self_attn.q_proj.weight": L.wq, p + "self_attn.k_proj.weight": rep(L.wk),
                  p + "self_attn.v_proj.weight": rep(L.wv), p + "self_attn.o_proj.weight": L.wo,
                  p + "mlp.gate_proj.weight": L.gate, p + "mlp.up_proj.weight": L.up,
                  p + "mlp.down_proj.weight": L.down})
    t["model.embed_tokens.weight"], t["model.norm.weight"], t["lm_head.weight"] = m.embed, m.norm, m.lm_head
    mha = ref.build_model(mha_cfg, t)
    assert np.abs(ref.forward(mha, ids) - ref.forward(m, ids)).max() < 1e-12
    # One attention output checked against a scalar loop: head 3 reads KV head 1.
    rng = np.random.default_rng(7)
    q, k, v = rng.standard_normal((3, 4, 8)), rng.standard_normal((5, 2, 8)), rng.standard_normal((5, 2, 8))
    out = ref.attention(q, k, v, first_pos=2).reshape(3, 4, 8)
    t_, h = 1, 3  # query position 3 sees keys 0..3
    s = np.array([q[t_, h] @ k[j, 1] / math.sqrt(8) for j in range(4)])
    w = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
    assert np.abs(out[t_, h] - sum(w[j] * v[j, 1] for j in range(4))).max() < 1e-14


def selftest_round_kv() -> None:
    # bf16 keeps 8 significant bits: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to even (1);
    # 1 + 3 * 2^-8 goes to 1 + 2^-6; just above the tie rounds up.
    x = np.array([1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -8 + 2.0 ** -20, -3.0, 0.0, 1e-40])
    assert ref.round_kv(x, "bf16").tolist() == [1.0, 1 + 2.0 ** -6, 1 + 2.0 ** -7, -3.0, 0.0,
                                                np.round(1e-40 * 2.0 ** 133) * 2.0 ** -133]
    # f16: 11 bits; 2049 is a tie between 2048 and 2050 -> 2048; subnormal steps of 2^-24;
    # 65519 -> 65504, 65520 -> inf.
    y = np.array([2049.0, 2051.0, 3 * 2.0 ** -25, 2.0 ** -25, 65519.0, 65520.0, -70000.0])
    assert ref.round_kv(y, "f16").tolist() == [2048.0, 2052.0, 2.0 ** -23, 0.0, 65504.0, np.inf, -np.inf]
    # Against numpy's own float16 conversion (round to nearest even) on random values.
    r = np.random.default_rng(3).standard_normal(10000) * np.exp(np.random.default_rng(4).uniform(-20, 12, 10000))
    with np.errstate(over="ignore"):  # values past 65520 become inf, as they should
        assert np.array_equal(ref.round_kv(r, "f16"), r.astype(np.float16).astype(np.float64))
    assert ref.round_kv(r, "f32") is r
    # e4m3: 1 + 2^-4 is a tie between 1 and 1.125 -> 1; 1.1875 -> 1.25; 2^-10 ties to 0,
    # 3 * 2^-10 to 2^-8 (subnormal steps of 2^-9); 464 and above saturate to 448.
    e = np.array([1.0625, 1.1875, 2.0 ** -10, 3 * 2.0 ** -10, 500.0, -1e9, 0.0])
    assert ref.to_e4m3(e).tolist() == [1.0, 1.25, 0.0, 2.0 ** -8, 448.0, -448.0, 0.0]
    # q8: max|x| 127 gives scale 1 (exact in f16), ties to even; a block of zeros stays 0; the second
    # block of 32 has its own scale (max 254 -> 2); "q8-head" one scale for the row (254 / 127 = 2).
    q = np.zeros(40)
    q[:4] = [127.0, 63.5, -0.5, 1.5]
    q[32:35] = [254.0, 3.0, -5.0]
    assert ref.round_kv(q, "q8")[:4].tolist() == [127.0, 64.0, 0.0, 2.0]
    assert ref.round_kv(q, "q8")[32:35].tolist() == [254.0, 4.0, -4.0]
    assert ref.round_kv(q, "q8-head")[:4].tolist() == [128.0, 64.0, 0.0, 2.0]
    # fp8: scale f16(448 / 448) = 1, values e4m3-rounded.
    f = np.array([448.0, 1.0625, -3.3])
    assert ref.round_kv(f, "fp8").tolist() == [448.0, 1.0, -3.25]


def self_test() -> tuple[int, int]:
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="qwen3-ref-self-") as tmp:
        for name, fn in [("safetensors", lambda: selftest_safetensors(tmp)), ("fp8", lambda: selftest_fp8(tmp)),
                         ("config", selftest_config),
                         ("rope", selftest_rope), ("activations", selftest_activations),
                         ("round_kv", selftest_round_kv),
                         ("forward", selftest_forward)]:
            try:
                fn()
                print(f"PASS self-test {name}", flush=True)
                passed += 1
            except Exception as e:  # noqa: BLE001
                import traceback
                traceback.print_exc()
                print(f"FAIL self-test {name}: {type(e).__name__}: {e}", flush=True)
                failed += 1
    return passed, failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true", help="test the reference alone (no QWEN3_BIN)")
    ap.add_argument("--only", help="comma-separated configuration names")
    ap.add_argument("--extended", action="store_true", help="also the configurations in EXTENDED_CONFIGS")
    ap.add_argument("--ranks", type=int, default=1, help="run the engine under mpirun -n RANKS (tensor parallel)")
    a = ap.parse_args()
    RANKS[0] = a.ranks
    if a.ranks > 1:
        os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")  # CI runs as root
        os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    if a.self_test:
        passed, failed = self_test()
    else:
        binary = os.environ.get("QWEN3_BIN")
        if not binary or not os.path.exists(binary):
            print(f"QWEN3_BIN is not set to the qwen3 binary (got {binary!r})")
            print("0 passed, 1 failed")
            return 1
        passed, failed = compare(binary, set(a.only.split(",")) if a.only else None, a.extended)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
