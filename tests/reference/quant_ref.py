#!/usr/bin/python3
"""Float64 NumPy reference of qwen3.cpp's q8 / q4 semantics, written from docs/quantization.md.

A checkpoint written by `qwen3 quantize` stores each linear weight as int8 (q8) or packed 4-bit
(q4) values with one float16 scale per block of 32 inputs; the engine quantizes activations per
block of 32 to int8 (scale max|x| / 127, round half to even) and multiplies the integer blocks.
This module dequantizes the weights exactly, emulates that activation quantization, and runs
qwen3_ref's float64 forward pass with it:

    /usr/bin/python3 tests/reference/quant_ref.py --model DIR --ids 1,2,3 [--out logits.npy]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen3_ref as ref  # noqa: E402

BLOCK = 32


def read_raw(path: str) -> dict[str, tuple[str, list[int], np.ndarray]]:
    """name -> (dtype, shape, raw bytes) of every tensor of one safetensors file."""
    header, _, start = ref.read_safetensors_header(path)
    buf = np.fromfile(path, dtype=np.uint8)
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], list(info["shape"]), buf[start + b:start + e])
    return out


class QWeight:
    """A quantized [out, in] weight: dequantized values and the per-block scales."""

    def __init__(self, dtype: str, data: np.ndarray, scales: np.ndarray, in_features: int):
        out, nb = scales.shape
        if dtype == "I8":
            q = data.view(np.int8).reshape(out, nb * BLOCK).astype(np.float64)
        elif dtype == "U8":
            packed = data.reshape(out, nb, BLOCK // 2)
            low, high = (packed & 15).astype(np.float64) - 8, (packed >> 4).astype(np.float64) - 8
            q = np.concatenate([low, high], axis=2).reshape(out, nb * BLOCK)  # element j | j + 16
        else:
            raise ValueError(f"quantized weight of dtype {dtype}")
        self.q = q                                   # [out, kpad] integers
        self.scales = scales                         # [out, nb]
        self.in_features = in_features
        self.dequantized = (q.reshape(out, nb, BLOCK) * scales[:, :, None]).reshape(out, nb * BLOCK)[:, :in_features]

    @property
    def shape(self):
        return self.dequantized.shape


def quantize_activations(x: np.ndarray, kpad: int) -> tuple[np.ndarray, np.ndarray]:
    """x [T, in] (float32 values) -> int8 values [T, kpad] and scales [T, kpad / 32], computed in
    float32 as documented: scale = max|x| / 127, q = round_half_even(x / scale)."""
    T, n = x.shape
    xp = np.zeros((T, kpad), dtype=np.float32)
    xp[:, :n] = x.astype(np.float32)
    blocks = xp.reshape(T, kpad // BLOCK, BLOCK)
    amax = np.abs(blocks).max(axis=2)
    scale = (amax / np.float32(127)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    q = np.rint(blocks / safe[:, :, None]).clip(-127, 127)  # np.rint rounds half to even
    q[scale == 0] = 0
    return q.reshape(T, kpad), scale.astype(np.float64)


def qlinear(x: np.ndarray, w, b: np.ndarray | None = None) -> np.ndarray:
    """y = Σ_blocks (x_q · w_q) · s_x · s_w (+ b): exact integer block dots, float64 sums."""
    if not isinstance(w, QWeight):
        return ref.linear(x, w, b)
    out, nb = w.scales.shape
    xq, xs = quantize_activations(x, nb * BLOCK)
    T = x.shape[0]
    dots = np.einsum("tbk,obk->tob", xq.reshape(T, nb, BLOCK), w.q.reshape(out, nb, BLOCK))  # exact integers
    y = (dots * xs[:, None, :] * w.scales[None, :, :]).sum(axis=2)
    return y if b is None else y + b


def load_tensors(model_dir: str) -> tuple[dict, dict]:
    """Float tensors (float64) and quantized weights of a qwen3cpp checkpoint."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cj = json.load(f)
    qc = cj.get("quantization_config") or {}
    if qc.get("quant_method") != "qwen3cpp" or qc.get("block_size") != BLOCK:
        raise ValueError(f"{model_dir}: not a qwen3cpp-quantized checkpoint")
    raw = read_raw(os.path.join(model_dir, "model.safetensors"))
    tensors = {}
    for name, (dt, shape, data) in raw.items():
        if name.endswith("_scale"):
            continue
        if dt in ("I8", "U8"):
            sdt, sshape, sdata = raw[name + "_scale"]
            if sdt != "F16":
                raise ValueError(f"{name}_scale: dtype {sdt}")
            scales = sdata.view("<f2").astype(np.float64).reshape(sshape)
            in_features = cj["hidden_size"]
            if name.endswith("o_proj.weight"):
                in_features = cj["num_attention_heads"] * (cj.get("head_dim") or cj["hidden_size"] // cj["num_attention_heads"])
            elif name.endswith("down_proj.weight"):
                in_features = cj["intermediate_size"]
            tensors[name] = QWeight(dt, data, scales, in_features)
        else:
            tensors[name] = ref._widen(np.asarray(data), dt, shape)
    return cj, tensors


class _View:
    """Lets ref.build_model check shapes of QWeight objects."""


def load_model(model_dir: str):
    cj, tensors = load_tensors(model_dir)
    cfg = ref.parse_config(cj)
    # Shape checks of build_model see the logical [out, in] shape of quantized weights.
    model = ref.build_model(cfg, tensors)
    return model


def forward(model, ids) -> np.ndarray:
    """qwen3_ref.forward with every quantized linear (and the quantized head) emulated."""
    saved_linear, saved_head, saved_embed = ref.linear, model.lm_head, model.embed
    ref.linear = qlinear
    try:
        # The embedding lookup reads dequantized rows; the head runs through qlinear below.
        if isinstance(model.embed, QWeight):
            model.embed = model.embed.dequantized
        model.lm_head = np.eye(model.cfg.hidden_size)  # forward() then returns the final hidden states
        hidden = ref.forward(model, ids)
    finally:
        ref.linear, model.lm_head, model.embed = saved_linear, saved_head, saved_embed
    return qlinear(hidden, model.lm_head)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    model = load_model(a.model)
    logits = forward(model, [int(t) for t in a.ids.split(",")])
    if a.out:
        np.save(a.out, logits)
    print(json.dumps({"shape": list(logits.shape), "argmax_last": int(np.argmax(logits[-1]))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
