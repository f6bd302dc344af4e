#!/usr/bin/python3
"""Float64 NumPy reference of Hugging Face's Qwen3ForCausalLM forward pass.

Written from transformers' `models/qwen3/modeling_qwen3.py`, `models/qwen3/configuration_qwen3.py`
and `modeling_rope_utils.py` (the v5 line: `rope_parameters`, `standardize_rope_params`), not from
the C++ engine, so that the two can be compared. Python 3 standard library and NumPy only; run it
with /usr/bin/python3 (Debian's python3-numpy).

Everything is computed in float64: weights stored as F32, BF16 or F16 are widened exactly, so the
only difference from the engine left is compute precision (the engine accumulates in float32).
Hugging Face itself computes RoPE tables and softmax in float32; this file does not imitate those
roundings, it is the exact-arithmetic answer they approximate.

    /usr/bin/python3 tests/reference/qwen3_ref.py --model DIR --ids 1,2,3 [--out FILE.npy] [--greedy N]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

# --------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------
# File layout: u64 little-endian N, then N bytes of JSON {name: {dtype, shape, data_offsets:
# [begin, end)}, "__metadata__": {str: str}}, then the data buffer; offsets are relative to the
# start of the buffer (byte 8 + N). Tensors are row-major, little-endian.

_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1}


def e4m3_table() -> np.ndarray:
    """The float64 value of each of the 256 FP8 E4M3 codes, from the OCP 8-bit floating point
    spec (the "e4m3fn" variant, torch.float8_e4m3fn): 1 sign, 4 exponent (bias 7) and 3 mantissa
    bits; exponent 0 is subnormal, (m / 8) * 2^-6; S.1111.111 is NaN; there are no infinities, so
    S.1111.110 = 448 is the largest magnitude."""
    b = np.arange(256)
    sign = np.where(b >= 128, -1.0, 1.0)
    e, m = (b >> 3) & 15, (b & 7).astype(np.float64)
    mag = np.where(e == 0, m / 8 * 2.0 ** -6, (1 + m / 8) * 2.0 ** (e - 7.0))
    mag[(e == 15) & (m == 7)] = np.nan
    return sign * mag


def _widen(raw: np.ndarray, dtype: str, shape: list[int]) -> np.ndarray:
    """Raw little-endian bytes -> float64 array of `shape` (exact for every supported dtype)."""
    if dtype == "F64":
        a = raw.view("<f8")
    elif dtype == "F32":
        a = raw.view("<f4")
    elif dtype == "F16":
        a = raw.view("<f2")
    elif dtype == "BF16":
        # bf16 is the upper half of a float32: shift the 16 bits into place.
        a = (raw.view("<u2").astype(np.uint32) << 16).view("<f4")
    elif dtype == "F8_E4M3":
        a = e4m3_table()[raw.view(np.uint8)]
    else:
        raise ValueError(f"unsupported safetensors dtype {dtype}")
    return a.astype(np.float64).reshape(shape)


def read_safetensors_header(path: str) -> tuple[dict, dict, int]:
    """Returns (tensors {name: {dtype, shape, data_offsets}}, metadata, data_start)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: shorter than the 8-byte header length")
        n = int.from_bytes(head, "little")
        if n > size - 8:
            raise ValueError(f"{path}: header length {n} exceeds the file size {size}")
        header = json.loads(f.read(n).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data_start = 8 + n
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dt = info["dtype"]
        count = int(np.prod(info["shape"], dtype=np.int64)) if info["shape"] else 1
        if not 0 <= begin <= end <= size - data_start:
            raise ValueError(f"{path}: {name}: data_offsets {begin}..{end} outside the data buffer")
        if dt in _ITEMSIZE and end - begin != count * _ITEMSIZE[dt]:
            raise ValueError(f"{path}: {name}: {end - begin} bytes for {count} x {dt}")
    return header, metadata, data_start


def read_safetensors(path: str) -> tuple[dict[str, np.ndarray], dict]:
    """All tensors of one file as float64 arrays, plus the __metadata__ dict."""
    header, metadata, data_start = read_safetensors_header(path)
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = np.asarray(buf[data_start + begin:data_start + end])
        out[name] = _widen(raw, info["dtype"], list(info["shape"]))
    del buf
    return out, metadata


def read_checkpoint(model_dir: str) -> dict[str, np.ndarray]:
    """model.safetensors, or the shards named by model.safetensors.index.json's weight_map."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors: dict[str, np.ndarray] = {}
        for shard in sorted(set(weight_map.values())):
            part, _ = read_safetensors(os.path.join(model_dir, shard))
            for name, arr in part.items():
                if name in tensors:
                    raise ValueError(f"{name} appears in two shards")
                tensors[name] = arr
        for name, shard in weight_map.items():
            if name not in tensors:
                raise ValueError(f"index maps {name} to {shard}, which does not hold it")
        return tensors
    single = os.path.join(model_dir, "model.safetensors")
    if not os.path.exists(single):
        raise FileNotFoundError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")
    return read_safetensors(single)[0]


# --------------------------------------------------------------------------------------------
# config.json
# --------------------------------------------------------------------------------------------

@dataclass
class Config:
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    hidden_act: str = "silu"
    rms_norm_eps: float = 1e-6
    attention_bias: bool = False
    tie_word_embeddings: bool = False
    max_position_embeddings: int = 32768
    rope: dict = field(default_factory=dict)  # standardized rope parameters, see rope_parameters()
    raw: dict = field(default_factory=dict)   # config.json as read


def parse_config(cj: dict) -> Config:
    """Qwen3Config fields. Defaults are Qwen3Config's, except head_dim: Qwen3Config defaults it to
    128, but a config without it is taken here to mean hidden_size // num_attention_heads (what
    the attention module falls back to when the attribute is missing or None)."""
    heads = cj["num_attention_heads"]
    kv = cj.get("num_key_value_heads")
    head_dim = cj.get("head_dim")
    cfg = Config(
        hidden_size=cj["hidden_size"],
        intermediate_size=cj["intermediate_size"],
        num_hidden_layers=cj["num_hidden_layers"],
        num_attention_heads=heads,
        num_key_value_heads=heads if kv is None else kv,
        head_dim=head_dim if head_dim else cj["hidden_size"] // heads,
        vocab_size=cj.get("vocab_size", 151936),
        hidden_act=cj.get("hidden_act", "silu"),
        rms_norm_eps=cj.get("rms_norm_eps", 1e-6),
        attention_bias=bool(cj.get("attention_bias", False)),
        tie_word_embeddings=bool(cj.get("tie_word_embeddings", False)),
        max_position_embeddings=cj.get("max_position_embeddings", 32768),
        raw=cj,
    )
    if cfg.num_attention_heads % cfg.num_key_value_heads:
        raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
    if cj.get("use_sliding_window"):
        raise NotImplementedError("use_sliding_window is not modelled by this reference")
    cfg.rope = standardize_rope(cj)
    return cfg


def load_config(model_dir: str) -> Config:
    with open(os.path.join(model_dir, "config.json")) as f:
        return parse_config(json.load(f))


def standardize_rope(cj: dict) -> dict:
    """What transformers' RotaryEmbeddingConfigMixin makes of config.json's rope fields:
    `rope_scaling` (legacy name) if non-empty, else `rope_parameters`; `rope_type` or legacy `type`
    (default "default"); `rope_theta` inside the dict wins over the top-level one (default 10000);
    for yarn a top-level `original_max_position_embeddings` overrides the dict's, and the dict's
    defaults to max_position_embeddings."""
    rp = dict(cj.get("rope_scaling") or cj.get("rope_parameters") or {})
    rp.setdefault("rope_theta", cj.get("rope_theta", 10000.0))
    rp.setdefault("rope_type", rp.get("type", "default"))
    if "partial_rotary_factor" in cj:
        rp["partial_rotary_factor"] = cj["partial_rotary_factor"]
    if rp["rope_type"] in ("yarn", "llama3", "longrope"):
        if "original_max_position_embeddings" in cj:
            rp["original_max_position_embeddings"] = cj["original_max_position_embeddings"]
        else:
            rp.setdefault("original_max_position_embeddings", cj.get("max_position_embeddings", 32768))
    return rp


# --------------------------------------------------------------------------------------------
# RoPE
# --------------------------------------------------------------------------------------------

def _yarn_get_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_parameters(cfg: Config) -> tuple[np.ndarray, float]:
    """(inv_freq [head_dim // 2], attention_scaling) as transformers' rope init functions define
    them; cos and sin are multiplied by attention_scaling."""
    rp = cfg.rope
    if float(rp.get("partial_rotary_factor", 1.0)) != 1.0:
        raise NotImplementedError("partial_rotary_factor != 1 (Qwen3 rotates the whole head)")
    base = float(rp["rope_theta"])
    dim = cfg.head_dim
    # base ** (2i / dim), i = 0 .. dim/2 - 1
    pos_freqs = base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    kind = rp["rope_type"]
    if kind == "default":
        return 1.0 / pos_freqs, 1.0
    if kind == "linear":
        # Position interpolation: pos / factor, folded into the frequencies.
        return 1.0 / pos_freqs / float(rp["factor"]), 1.0
    if kind == "yarn":
        return _yarn(rp, dim, base, pos_freqs, cfg.max_position_embeddings)
    raise NotImplementedError(f"rope_type {kind!r}")


def _yarn(rp: dict, dim: int, base: float, pos_freqs: np.ndarray, max_pos: int) -> tuple[np.ndarray, float]:
    """YaRN (arXiv 2309.00071) as the current transformers `_compute_yarn_parameters` defines it:
    - original_max_position_embeddings comes from the standardized dict (see standardize_rope);
    - factor is the configured one; only when it is null is it max_position_embeddings /
      original_max_position_embeddings (transformers 4.5x instead *always* used that ratio when
      the dict held original_max_position_embeddings; the current code no longer does);
    - attention_factor, if null: get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim)
      when both mscale and mscale_all_dim are set (truthy), else get_mscale(factor), where
      get_mscale(s, m) = 1 if s <= 1 else 0.1 m ln s + 1;
    - beta_fast / beta_slow default to 32 / 1 (also when 0 or null);
    - the correction range [low, high] is floor/ceil'd unless truncate is false, then clamped to
      [0, dim - 1]; a linear ramp over i = 0 .. dim/2 - 1 blends the extrapolated (original)
      frequency, used where the ramp is 0 (high frequencies), with the interpolated one
      (frequency / factor), used where it is 1."""
    orig = rp["original_max_position_embeddings"]
    factor = rp["factor"]
    if factor is None:
        factor = max_pos / orig
    factor = float(factor)
    attention_factor = rp.get("attention_factor")
    if attention_factor is None:
        mscale, mscale_all_dim = rp.get("mscale"), rp.get("mscale_all_dim")
        if mscale and mscale_all_dim:
            attention_factor = _yarn_get_mscale(factor, mscale) / _yarn_get_mscale(factor, mscale_all_dim)
        else:
            attention_factor = _yarn_get_mscale(factor)
    beta_fast = rp.get("beta_fast") or 32
    beta_slow = rp.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        # The dimension index whose wavelength fits `rotations` times into `orig` positions.
        return dim * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if rp.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # as transformers: avoid dividing by zero
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    extrapolation = 1.0 - ramp
    inv_freq = (1.0 / (factor * pos_freqs)) * ramp + (1.0 / pos_freqs) * extrapolation
    return inv_freq, float(attention_factor)


def rope_cos_sin(inv_freq: np.ndarray, scaling: float, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin: [T, head_dim]; angle (p * inv_freq) repeated for both halves (neox layout)."""
    angles = positions.astype(np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([angles, angles], axis=-1)
    return np.cos(emb) * scaling, np.sin(emb) * scaling


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x: [T, heads, head_dim]; cos, sin: [T, head_dim]. x*cos + rotate_half(x)*sin, where
    rotate_half(x) = concat(-x[d/2:], x[:d/2])."""
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos[:, None, :] + rotated * sin[:, None, :]


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------

def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """Over the last axis: x / sqrt(mean(x^2) + eps) * w."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """x: [T, in], w: [out, in] (Hugging Face layout) -> [T, out]."""
    y = x @ w.T
    return y if b is None else y + b


_erf = np.frompyfunc(math.erf, 1, 1)


def activation(name: str):
    """transformers' ACT2FN entries that a Qwen3 config may name."""
    if name in ("silu", "swish"):
        return lambda x: x * (0.5 * (1.0 + np.tanh(0.5 * x)))  # x * sigmoid(x), overflow-free
    if name == "gelu":  # exact: x * Phi(x)
        return lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    if name in ("gelu_new", "gelu_pytorch_tanh"):  # tanh approximation
        c = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x ** 3)))
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    raise NotImplementedError(f"hidden_act {name!r}")


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------

@dataclass
class Layer:
    input_norm: np.ndarray        # [hidden]
    wq: np.ndarray                # [heads * head_dim, hidden]
    wk: np.ndarray                # [kv_heads * head_dim, hidden]
    wv: np.ndarray                # [kv_heads * head_dim, hidden]
    wo: np.ndarray                # [hidden, heads * head_dim]
    bq: np.ndarray | None         # [heads * head_dim] when attention_bias
    bk: np.ndarray | None
    bv: np.ndarray | None
    bo: np.ndarray | None         # [hidden]; Qwen3's o_proj also has bias=attention_bias
    q_norm: np.ndarray            # [head_dim]
    k_norm: np.ndarray            # [head_dim]
    post_norm: np.ndarray         # [hidden]
    gate: np.ndarray              # [intermediate, hidden]
    up: np.ndarray                # [intermediate, hidden]
    down: np.ndarray              # [hidden, intermediate]


@dataclass
class Model:
    cfg: Config
    embed: np.ndarray             # [vocab, hidden]
    layers: list[Layer]
    norm: np.ndarray              # [hidden]
    lm_head: np.ndarray | None    # [vocab, hidden]; the embedding matrix when tied; None: Qwen3Model alone
    inv_freq: np.ndarray          # [head_dim // 2]
    rope_scaling: float           # attention_scaling applied to cos and sin


def build_model(cfg: Config, tensors: dict[str, np.ndarray]) -> Model:
    used: set[str] = set()

    def get(name: str, shape: tuple[int, ...], optional: bool = False) -> np.ndarray | None:
        if name not in tensors:
            if optional:
                return None
            raise KeyError(f"missing tensor {name}")
        a = tensors[name]
        if tuple(a.shape) != shape:
            raise ValueError(f"{name}: shape {tuple(a.shape)}, config implies {shape}")
        used.add(name)
        return a

    H, KV, D = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    E, I, V = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    bias = cfg.attention_bias
    # transformers' Qwen3Model saved on its own (AutoModel, as Qwen3-Embedding checkpoints are): the
    # same tensors without the "model." prefix, and no lm_head.
    base = "" if "embed_tokens.weight" in tensors and "model.embed_tokens.weight" not in tensors else "model."
    layers = []
    for i in range(cfg.num_hidden_layers):
        p = f"{base}layers.{i}."
        layers.append(Layer(
            input_norm=get(p + "input_layernorm.weight", (E,)),
            wq=get(p + "self_attn.q_proj.weight", (H * D, E)),
            wk=get(p + "self_attn.k_proj.weight", (KV * D, E)),
            wv=get(p + "self_attn.v_proj.weight", (KV * D, E)),
            wo=get(p + "self_attn.o_proj.weight", (E, H * D)),
            bq=get(p + "self_attn.q_proj.bias", (H * D,)) if bias else None,
            bk=get(p + "self_attn.k_proj.bias", (KV * D,)) if bias else None,
            bv=get(p + "self_attn.v_proj.bias", (KV * D,)) if bias else None,
            bo=get(p + "self_attn.o_proj.bias", (E,)) if bias else None,
            q_norm=get(p + "self_attn.q_norm.weight", (D,)),
            k_norm=get(p + "self_attn.k_norm.weight", (D,)),
            post_norm=get(p + "post_attention_layernorm.weight", (E,)),
            gate=get(p + "mlp.gate_proj.weight", (I, E)),
            up=get(p + "mlp.up_proj.weight", (I, E)),
            down=get(p + "mlp.down_proj.weight", (E, I)),
        ))
    embed = get(base + "embed_tokens.weight", (V, E))
    if base == "" and "lm_head.weight" not in tensors:
        lm_head = None
    elif cfg.tie_word_embeddings:
        lm_head = embed  # transformers ties lm_head.weight to the embedding, even if one is stored
        used.add("lm_head.weight")
    else:
        lm_head = get("lm_head.weight", (V, E))
    norm = get(base + "norm.weight", (E,))
    inv_freq, scaling = rope_parameters(cfg)
    unused = sorted(set(tensors) - used)
    if unused:
        print(f"qwen3_ref: warning: unused tensors: {', '.join(unused[:8])}", file=sys.stderr)
    return Model(cfg, embed, layers, norm, lm_head, inv_freq, scaling)


def dequantize_fp8(cfg: Config, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Hugging Face fine-grained FP8 (quantization_config quant_method "fp8", as in the
    Qwen/Qwen3-*-FP8 repositories and transformers' FineGrainedFP8Config): each F8_E4M3 `X.weight`
    [out, in] comes with `X.weight_scale_inv` [ceil(out / bo), ceil(in / bi)] for
    weight_block_size [bo, bi]; the weight is the e4m3 value times its block's scale, computed
    exactly in float64 (a 4-bit times a 24-bit significand). Activations are not quantized: this
    is the model as transformers runs it when it dequantizes the weights."""
    q = cfg.raw.get("quantization_config") or {}
    scale_names = [n for n in tensors if n.endswith(".weight_scale_inv")]
    if q.get("quant_method") != "fp8":
        if scale_names:
            raise ValueError(f"{scale_names[0]} present without an fp8 quantization_config")
        return tensors
    if q.get("fmt", "e4m3") != "e4m3" or q.get("activation_scheme", "dynamic") != "dynamic":
        raise NotImplementedError(f"quantization_config {q}")
    bo, bi = q["weight_block_size"]
    out = dict(tensors)
    for sn in scale_names:
        wn = sn[: -len("_scale_inv")]
        w, sc = out[wn], out.pop(sn)
        rows, cols = w.shape
        if sc.shape != (-(-rows // bo), -(-cols // bi)):
            raise ValueError(f"{sn}: shape {sc.shape} for a weight of {w.shape} in {bo}x{bi} blocks")
        out[wn] = w * np.repeat(np.repeat(sc, bo, axis=0), bi, axis=1)[:rows, :cols]
    return out


def load_model(model_dir: str) -> Model:
    cfg = load_config(model_dir)
    return build_model(cfg, dequantize_fp8(cfg, read_checkpoint(model_dir)))


class KVCache:
    """Per layer K and V of the tokens seen so far: [S, kv_heads, head_dim] each."""

    def __init__(self, cfg: Config):
        shape = (0, cfg.num_key_value_heads, cfg.head_dim)
        self.k = [np.zeros(shape) for _ in range(cfg.num_hidden_layers)]
        self.v = [np.zeros(shape) for _ in range(cfg.num_hidden_layers)]

    @property
    def length(self) -> int:
        return self.k[0].shape[0]


KV_DTYPES = ("f64", "f32", "bf16", "f16", "q8", "q8-head", "fp8")


def round_kv(x: np.ndarray, kv_dtype: str) -> np.ndarray:
    """x rounded to the element type of the engine's KV cache, to nearest even, as torch's
    .to(torch.bfloat16 / torch.float16) does: bf16 keeps 8 significant bits (float32's exponent
    range, subnormals below 2^-126 in steps of 2^-133), f16 11 bits (subnormals below 2^-14 in
    steps of 2^-24, overflow to inf from 65520).
    "f64" and "f32" leave x as it is (a float32 cache stores the engine's values unrounded)."""
    if kv_dtype in ("f64", "f32"):
        return x
    if kv_dtype not in KV_DTYPES:
        raise ValueError(f"kv_dtype {kv_dtype!r} is not one of {KV_DTYPES}")
    if kv_dtype in ("q8", "q8-head", "fp8"):
        return quantize_kv(x, kv_dtype)
    bits = 8 if kv_dtype == "bf16" else 11
    m, e = np.frexp(x)                                   # x = m 2^e, 0.5 <= |m| < 1
    r = np.ldexp(np.round(np.ldexp(m, bits)), e - bits)  # np.round: half to even
    if kv_dtype == "bf16":
        r = np.where(np.abs(x) < 2.0 ** -126, np.round(x * 2.0 ** 133) / 2.0 ** 133, r)
    if kv_dtype == "f16":
        r = np.where(np.abs(x) < 2.0 ** -14, np.round(x * 2.0 ** 24) / 2.0 ** 24, r)
        r = np.where(np.abs(r) > 65504, np.copysign(np.inf, x), r)
    return r


def to_e4m3(y: np.ndarray) -> np.ndarray:
    """y rounded to the nearest FP8 E4M3 value (OCP 8-bit spec, "e4m3fn": 3 mantissa bits, exponents
    -6..8, subnormals in steps of 2^-9, largest 448), half to even, saturating at +-448."""
    a = np.abs(y)
    e = np.floor(np.log2(np.where(a > 0, a, 1.0)))
    step = 2.0 ** (np.maximum(e, -6) - 3)                  # the spacing of e4m3 values around |y|
    r = np.round(a / step) * step                          # np.round: half to even
    return np.copysign(np.minimum(r, 448.0), y)


def quantize_kv(x: np.ndarray, kv_dtype: str) -> np.ndarray:
    """x [..., D] through a quantized KV cache and back: per block of 32 values of the last axis
    ("q8-head": the whole axis), scale = (max|x| / 127 or / 448, a float32 division) rounded to f16,
    values round(x / s) clamped to [-127, 127] (q8, float32 division, half to even) or e4m3 of the
    float32 x / s (fp8), times s."""
    D = x.shape[-1]
    block = D if kv_dtype == "q8-head" else 32
    qmax = np.float32(448.0 if kv_dtype == "fp8" else 127.0)
    x32 = x.astype(np.float32)
    out = np.empty_like(x)
    for b0 in range(0, D, block):
        xb = x32[..., b0:b0 + block]
        amax = np.abs(xb).max(axis=-1, keepdims=True)
        s = (amax / qmax).astype(np.float16)
        s = np.where(np.isinf(s), np.float16(65504), s).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(s > 0, xb / np.where(s > 0, s, 1), np.float32(0)).astype(np.float32)
        if kv_dtype == "fp8":
            c = to_e4m3(y.astype(np.float64))
        else:
            c = np.round(np.clip(y, -127, 127)).astype(np.float64)
        out[..., b0:b0 + block] = (c * s).astype(np.float32)  # the engine's one float32 product
    return out


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, first_pos: int) -> np.ndarray:
    """Causal GQA attention. q: [T, H, D] at positions first_pos..; k, v: [S, KV, D] at 0..S-1.
    Query head h reads KV head h // (H / KV) (transformers' repeat_kv). Returns [T, H * D]."""
    T, H, D = q.shape
    KV = k.shape[1]
    G = H // KV
    qg = q.reshape(T, KV, G, D)
    scores = np.einsum("tkgd,skd->kgts", qg, k) * D ** -0.5          # [KV, G, T, S]
    visible = np.arange(k.shape[0])[None, :] <= (first_pos + np.arange(T))[:, None]  # [T, S]
    scores = np.where(visible, scores, -np.inf)
    scores -= scores.max(axis=-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=-1, keepdims=True)
    out = np.einsum("kgts,skd->tkgd", p, v)                            # [T, KV, G, D]
    return out.reshape(T, H * D)


def forward(model: Model, ids, cache: KVCache | None = None, last_only: bool = False,
            kv_dtype: str = "f64", hidden: bool = False) -> np.ndarray:
    """Logits [T, vocab] (or [1, vocab] with last_only) for `ids` following what `cache` holds
    (hidden: Qwen3Model's last_hidden_state [T, hidden_size] instead, the final norm's output);
    appends the new K/V to `cache` when given. kv_dtype emulates the engine's KV cache: k (after
    RoPE) and v are rounded to it before attention (see round_kv); "K/V" (e.g. "f64/q8") rounds
    k to the first and v to the second, for studies of the error of each."""
    cfg = model.cfg
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError("ids must be a non-empty 1-D sequence")
    if ids.min() < 0 or ids.max() >= cfg.vocab_size:
        raise ValueError(f"token id outside [0, {cfg.vocab_size})")
    T, H, KV, D, eps = ids.size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.rms_norm_eps
    past = cache.length if cache is not None else 0
    k_dtype, v_dtype = kv_dtype.split("/") if "/" in kv_dtype else (kv_dtype, kv_dtype)
    cos, sin = rope_cos_sin(model.inv_freq, model.rope_scaling, np.arange(past, past + T))
    act = activation(cfg.hidden_act)

    x = model.embed[ids]                                                # [T, hidden]
    for li, L in enumerate(model.layers):
        h = rms_norm(x, L.input_norm, eps)
        q = rms_norm(linear(h, L.wq, L.bq).reshape(T, H, D), L.q_norm, eps)
        k = rms_norm(linear(h, L.wk, L.bk).reshape(T, KV, D), L.k_norm, eps)
        v = linear(h, L.wv, L.bv).reshape(T, KV, D)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k, v = round_kv(k, k_dtype), round_kv(v, v_dtype)
        if cache is not None:
            k = cache.k[li] = np.concatenate([cache.k[li], k])
            v = cache.v[li] = np.concatenate([cache.v[li], v])
        x = x + linear(attention(q, k, v, past), L.wo, L.bo)
        h = rms_norm(x, L.post_norm, eps)
        x = x + linear(act(linear(h, L.gate)) * linear(h, L.up), L.down)
    x = rms_norm(x, model.norm, eps)
    if last_only:
        x = x[-1:]
    if hidden:
        return x
    if model.lm_head is None:
        raise ValueError("this checkpoint is Qwen3Model alone (no lm_head): ask for hidden states")
    return x @ model.lm_head.T


def greedy(model: Model, ids, n: int, kv_dtype: str = "f64") -> list[int]:
    """n greedily chosen tokens after `ids` (argmax, lowest id on ties), with a KV cache; no stop
    on end-of-sequence tokens."""
    cache = KVCache(model.cfg)
    logits = forward(model, ids, cache, last_only=True, kv_dtype=kv_dtype)
    out: list[int] = []
    for _ in range(n):
        nxt = int(np.argmax(logits[-1]))
        out.append(nxt)
        if len(out) < n:
            logits = forward(model, [nxt], cache, last_only=True, kv_dtype=kv_dtype)
    return out


def greedy_margins(model: Model, ids, continuation: list[int], kv_dtype: str = "f64") -> list[float]:
    """For each step of a continuation: top-1 minus top-2 logit (how close the choice was)."""
    cache = KVCache(model.cfg)
    logits = forward(model, ids, cache, last_only=True, kv_dtype=kv_dtype)
    margins = []
    for i, tok in enumerate(continuation):
        top2 = np.sort(logits[-1])[-2:]
        margins.append(float(top2[1] - top2[0]))
        if i + 1 < len(continuation):
            logits = forward(model, [tok], cache, last_only=True, kv_dtype=kv_dtype)
    return margins


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face Qwen3 checkpoint folder")
    ap.add_argument("--ids", required=True, help="comma-separated prompt token ids")
    ap.add_argument("--out", help="write the logits of every position, float64 [T, vocab], as .npy")
    ap.add_argument("--greedy", type=int, default=0, metavar="N", help="print N greedy tokens as JSON")
    ap.add_argument("--kv-dtype", default="f64", choices=KV_DTYPES,
                    help="emulate the engine's KV cache type (f64: exact; f32: the same)")
    a = ap.parse_args(argv)
    ids = [int(t) for t in a.ids.split(",") if t.strip()]
    model = load_model(a.model)
    logits = forward(model, ids, kv_dtype=a.kv_dtype)
    if a.out:
        np.save(a.out, logits)
    print(json.dumps({"shape": list(logits.shape), "argmax_last": int(np.argmax(logits[-1])),
                      "max_abs": float(np.abs(logits).max())}))
    if a.greedy:
        print(json.dumps({"ids": greedy(model, ids, a.greedy, a.kv_dtype)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
