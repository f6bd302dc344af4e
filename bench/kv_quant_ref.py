#!/usr/bin/python3
"""The error of KV-cache rounding rules, in the float64 reference (tests/reference/qwen3_ref.py) and
not in the engine: mean and max KL(p_ref || p) and top-1 agreement over the predictions of a token
stream, the reference's K and V unrounded (float64) against each rule. `qwen3 bench --quality
--kv-dtype T` measures the engine's own cache the same way (against its f32 cache); where a rule is
one of the engine's, the two should agree, and rules the engine does not have show what another
format would give before anyone builds it.

Rules: the engine's (bf16, f16, q8, q8-head, fp8); "K/V" pairs of them (e.g. f64/q8: only V
rounded); and variants of q8 (int8 codes, round half to even, clamped to +-127, code * scale):
  q8b16, q8b8        a scale per 16 / 8 values instead of 32 (f16 scales)
  q8f32s             the scale kept in float32 instead of f16
  q8mse              per block, of 21 scales from max|x| / 127 down to 0.8 of it, the one with the
                     least squared error (clipping the largest values)

usage: bench/kv_quant_ref.py --model DIR --ids IDS.json [--tokens 512] [RULE ...]
  (IDS.json: a JSON array of token ids, e.g. `qwen3 tokenize --model DIR < README.md`)
Takes ~35 s per rule for the 0.6B shape at 512 tokens (numpy, one thread)."""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import qwen3_ref as ref  # noqa: E402


def q8_variant(x: np.ndarray, block: int = 32, f16_scale: bool = True, mse: bool = False) -> np.ndarray:
    """x [..., D] through int8 codes with a scale per `block` values of the last axis, and back."""
    D = x.shape[-1]
    x32 = x.astype(np.float32)
    out = np.empty_like(x)
    for b0 in range(0, D, block):
        xb = x32[..., b0:b0 + block]
        amax = np.abs(xb).max(axis=-1, keepdims=True)
        best = best_err = None
        for c in (np.linspace(1.0, 0.8, 21) if mse else [1.0]):
            s = amax * np.float32(c) / np.float32(127.0)
            if f16_scale:
                s = np.minimum(s, 65504).astype(np.float16).astype(np.float32)
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.where(s > 0, xb / np.where(s > 0, s, 1), np.float32(0)).astype(np.float32)
            r = (np.round(np.clip(y, -127, 127)).astype(np.float64) * s).astype(np.float32)
            err = ((r.astype(np.float64) - xb) ** 2).sum(axis=-1, keepdims=True)
            if best is None:
                best, best_err = r, err
            else:
                best, best_err = np.where(err < best_err, r, best), np.minimum(err, best_err)
        out[..., b0:b0 + block] = best
    return out


VARIANTS = {"q8b16": lambda x: q8_variant(x, block=16), "q8b8": lambda x: q8_variant(x, block=8),
            "q8f32s": lambda x: q8_variant(x, f16_scale=False), "q8mse": lambda x: q8_variant(x, mse=True)}
_engine_round_kv = ref.round_kv


def round_kv(x: np.ndarray, kv_dtype: str) -> np.ndarray:
    return VARIANTS[kv_dtype](x) if kv_dtype in VARIANTS else _engine_round_kv(x, kv_dtype)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("rules", nargs="*", default=["bf16", "q8", "f64/q8", "q8/f64", "q8-head", "q8f32s", "q8mse", "q8b16"])
    a = ap.parse_args()
    ids = json.load(open(a.ids))[:a.tokens]
    model = ref.load_model(a.model)
    ref.round_kv = round_kv  # forward() rounds k and v through this name

    def log_probs(rule: str) -> np.ndarray:
        t0 = time.time()
        logits = ref.forward(model, ids, kv_dtype=rule)[:-1]  # the predictions of tokens 1..T-1
        lp = logits - logits.max(axis=-1, keepdims=True)
        lp -= np.log(np.exp(lp).sum(axis=-1, keepdims=True))
        print(f"  ({rule}: {time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
        return lp

    lr = log_probs("f64")
    top = lr.argmax(axis=-1)
    print(f"{len(ids) - 1} predicted positions of {a.ids}; reference: K and V unrounded (float64)")
    print(f"| rule (K/V) | mean KL (nats) | max KL | top-1 agreement |\n|---|---:|---:|---:|")
    for rule in a.rules:
        lt = log_probs(rule)
        kl = (np.exp(lr) * (lr - lt)).sum(axis=-1).clip(min=0)
        print(f"| {rule} | {kl.mean():.3e} | {kl.max():.2e} | {100 * (lt.argmax(axis=-1) == top).mean():.2f} % |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
