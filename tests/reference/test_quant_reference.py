#!/usr/bin/python3
"""Engine vs the NumPy emulation of q8 / q4 (quant_ref.py), and quantized vs unquantized quality.

    QWEN3_BIN=build/qwen3 /usr/bin/python3 tests/reference/test_quant_reference.py

For each configuration: `qwen3 make-test-model` writes a tiny random checkpoint, `qwen3 quantize`
writes its q8 / q4 copy, and
  1. `qwen3 logits` on the copy equals, bit for bit, `qwen3 logits --quant ...` on the original
     (a written checkpoint loads to the same weights as quantizing on load);
  2. those logits agree with quant_ref.py, which dequantizes the stored integers exactly and
     emulates the activation quantization. The engine and the emulation differ only by float32
     vs float64 sums of exact integer block products (~1e-7 relative) — except at a position
     where an activation lands within float32 rounding of a quantization tie and the two pick
     different integers: one step of one activation, which random tiny models amplify to up to
     ~1e-2 at that position (measured: isolated positions, identical on every ISA). So the
     median over positions of max|Δ| / max|ref| must stay under MEDIAN_TOLERANCE and the worst
     position under TOLERANCE; any wrong scale, packing or block order moves every position by
     1e-1 or more;
  3. greedy continuations agree with the emulation for as long as the reference's top-1 margin
     exceeds what those rounding differences can move (checked up to the first close call).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quant_ref  # noqa: E402
import test_reference as tr  # noqa: E402

MEDIAN_TOLERANCE = 1e-5  # typical position: float32 vs float64 sums only (~1e-7)
TOLERANCE = 5e-2         # worst position: one activation rounded the other way at a near-tie
GREEDY_TOKENS = 16

# name, quant, source dtype, seed, override, prompt length.
# Sources are f32, not bf16 / f16: bf16 / f16 norm weights (8- / 11-bit mantissas) times the rows of the q8
# embedding table make activations whose ratio to their block scale is *exactly* k + 1/2 in layer 0,
# and there float32 (engine) and float64 (emulation) rounding of the normalised values picks
# different integers; random q4 models then amplify that one step to ~2e-2 of the logits. That is
# a property of the comparison, not of the engine (measured: the same bf16 model differs from
# the emulation from the first such tie on, identically on every ISA).
# q8-f32-tied: seed 31 (used before the row-grouped q8 / q4 kernels) has a near-tie (2. above) at
# position 7 that the AVX2 row-major order and the row-grouped order both round the other way from
# the emulation, moving every later position by ~1e-2; seed 41 has none on any ISA.
CONFIGS = [
    ("q8-f32-tied", "q8", "f32", 41, None, 29),
    ("q4-f32-tied", "q4", "f32", 32, None, 29),
    ("q8-f32-untied-bias", "q8", "f32", 33, {"tie_word_embeddings": False, "attention_bias": True}, 23),
    ("q4-f32-untied", "q4", "f32", 34, {"tie_word_embeddings": False}, 23),
    # in_features 96 and intermediate 100: rows padded to a multiple of 32
    ("q8-padded", "q8", "f32", 35, {"hidden_size": 96, "intermediate_size": 100}, 19),
    ("q4-padded", "q4", "f32", 36, {"hidden_size": 96, "intermediate_size": 100}, 19),
]


def run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {r.returncode}: {r.stderr.strip()[-600:]}")
    return r.stdout


def greedy(model, ids: list[int], n: int) -> tuple[list[int], list[float]]:
    """n greedy tokens from the emulation (full recompute each step: the tiny model is cheap)."""
    out, margins, seq = [], [], list(ids)
    for _ in range(n):
        last = quant_ref.forward(model, seq)[-1]
        top2 = np.sort(last)[-2:]
        margins.append(float(top2[1] - top2[0]))
        out.append(int(np.argmax(last)))
        seq.append(out[-1])
    return out, margins


def check(binary: str, tmp: str, name: str, quant: str, dtype: str, seed: int, override, length: int):
    src, qdir = os.path.join(tmp, name), os.path.join(tmp, name + "-" + quant)
    cmd = [binary, "make-test-model", "--preset", "tiny", "--seed", str(seed), "--dtype", dtype, "--out", src]
    if override:
        cmd += ["--override", json.dumps(override)]
    run(cmd)
    run([binary, "quantize", "--model", src, "--quant", quant, "--out", qdir])
    ids = tr.prompt(length, seed + 1000)
    arg = ",".join(map(str, ids))
    a, b = os.path.join(tmp, name + "-a.npy"), os.path.join(tmp, name + "-b.npy")
    # A float32 KV cache: this test is about the weights and activations, not the cache dtype.
    run([binary, "logits", "--model", qdir, "--ids", arg, "--out", a, "--kv-dtype", "f32"])
    run([binary, "logits", "--model", src, "--quant", quant, "--ids", arg, "--out", b, "--kv-dtype", "f32"])
    got, on_load = np.load(a), np.load(b)
    if not np.array_equal(got, on_load):
        return False, "logits of the written checkpoint differ from quantizing on load"
    model = quant_ref.load_model(qdir)
    want = quant_ref.forward(model, ids)
    per_pos = np.abs(got - want).max(axis=1) / np.abs(want).max()
    rel, median = float(per_pos.max()), float(np.median(per_pos))
    # The unquantized reference, for scale: how far quantization itself moves the logits.
    full = tr.ref.forward(tr.ref.load_model(src), ids)
    qerr = float(np.abs(want - full).max() / np.abs(full).max())
    out = json.loads(run([binary, "generate", "--model", qdir, "--ids", arg, "--max-tokens", str(GREEDY_TOKENS),
                          "--format", "json", "--ignore-eos", "--kv-dtype", "f32", "--temperature", "0"]))
    got_ids = [int(t) for t in out["ids"]]
    want_ids, margins = greedy(model, ids, GREEDY_TOKENS)
    same = sum(1 for _ in tr.iter_prefix(got_ids, want_ids))
    # A divergence is acceptable only at a step whose reference margin is within rounding reach.
    close_call = same < GREEDY_TOKENS and margins[same] < 50 * TOLERANCE * float(np.abs(want).max())
    ok = median < MEDIAN_TOLERANCE and rel < TOLERANCE and (same == GREEDY_TOKENS or close_call)
    note = f"median rel={median:.1e} max rel={rel:.2e} (quantization itself moves logits by {qerr:.2e})  greedy {same}/{GREEDY_TOKENS}"
    if same < GREEDY_TOKENS:
        note += f" (reference margin there {margins[same]:.2e})"
    return ok, note


def main() -> int:
    binary = os.environ.get("QWEN3_BIN")
    if not binary:
        print("set QWEN3_BIN to the qwen3 binary", file=sys.stderr)
        return 2
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="qwen3-qref-") as tmp:
        for name, quant, dtype, seed, override, length in CONFIGS:
            # Under the sanitizers (scripts/test.sh) one q8 and one q4 model drive the code paths;
            # the optimised build checks all of them.
            if os.environ.get("QWEN3_SANITIZED") and name not in ("q8-f32-untied-bias", "q4-padded"):
                continue
            try:
                ok, msg = check(binary, tmp, name, quant, dtype, seed, override, length)
            except Exception as e:  # noqa: BLE001
                ok, msg = False, f"{type(e).__name__}: {e}"
            print(f"{'PASS' if ok else 'FAIL'} {name:<22s} {msg}", flush=True)
            passed, failed = passed + ok, failed + (not ok)
            for f in os.listdir(tmp):
                p = os.path.join(tmp, f)
                if os.path.isdir(p):
                    import shutil
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    os.remove(p)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
