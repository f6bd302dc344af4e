#!/usr/bin/python3
"""`qwen3 quantize --quant fp8` against a NumPy implementation of the same quantizer, bit for bit.

    QWEN3_BIN=build/qwen3 /usr/bin/python3 tests/reference/test_fp8_quantizer.py

For each source model (`make-test-model`, bf16 / f16 / f32, partial 128x128 blocks everywhere),
the written checkpoint must hold:
- every decoder linear weight as F8_E4M3 bytes equal to NumPy's quantization of the original
  weight, and its weight_scale_inv as F32 bits equal to NumPy's scales. The quantizer, written here
  from its definition (not from the C++): per 128x128 block, scale = max(amax / 448, float32
  epsilon) in float32 (llm-compressor's rule, which gives an all-zero block the scale epsilon),
  q = w / scale as a float32 division, then the nearest e4m3 code with ties to the even code and
  magnitudes beyond 448 saturated, found by searching the code table of qwen3_ref.e4m3_table();
- the embedding table and lm_head bytes unchanged, the norms and biases with unchanged values;
- no other tensors, and config.json's quantization_config exactly as Qwen's FP8 repositories
  have it.
Then the engine's logits from the written folder must equal, bit for bit, those of the source
loaded with `--quant fp8` (the same weights whichever way they were quantized).
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
import qwen3_ref as ref  # noqa: E402

BLOCK = 128
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
QUANT_CONFIG = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}

# name, --dtype, --override
MODELS = [
    ("bf16-tied", "bf16", {}),
    ("f16-untied-bias", "f16", {"tie_word_embeddings": False, "attention_bias": True}),
    # intermediate 300 and 3 KV heads: gate/up rows and k/v rows end inside blocks, down has 3 column blocks
    ("f32-odd", "f32", {"intermediate_size": 300, "num_key_value_heads": 1, "tie_word_embeddings": False}),
    # hidden 256, intermediate 384: whole 128x128 blocks too (q, gate, up, down)
    ("bf16-whole-blocks", "bf16", {"hidden_size": 256, "intermediate_size": 384}),
]


def e4m3_encode(q: np.ndarray) -> np.ndarray:
    """Nearest finite e4m3 code (ties to the even code, i.e. the even mantissa), |q| > 448 -> 448."""
    pos = ref.e4m3_table()[:0x7F]  # codes 0 .. 0x7E, increasing, 0 .. 448
    a = np.minimum(np.abs(q.astype(np.float64)), 448.0)
    hi = np.clip(np.searchsorted(pos, a, side="left"), 0, 0x7E)
    lo = np.clip(hi - 1, 0, 0x7E)
    dlo, dhi = a - pos[lo], pos[hi] - a
    code = np.where((dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0)), hi, lo).astype(np.uint8)
    return code | (np.signbit(q).astype(np.uint8) << 7)


def quantize(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w float32 [rows, cols] -> (codes uint8 [rows, cols], scales float32 [ceil(rows/128), ceil(cols/128)])."""
    rows, cols = w.shape
    nrb, ncb = -(-rows // BLOCK), -(-cols // BLOCK)
    codes = np.empty((rows, cols), np.uint8)
    scales = np.empty((nrb, ncb), np.float32)
    eps = np.finfo(np.float32).eps
    for i in range(nrb):
        for j in range(ncb):
            blk = w[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK]
            s = max(np.float32(np.abs(blk).max()) / np.float32(448.0), eps)
            scales[i, j] = s
            codes[i * BLOCK:(i + 1) * BLOCK, j * BLOCK:(j + 1) * BLOCK] = e4m3_encode(blk / np.float32(s))
    return codes, scales


def raw_tensors(model_dir: str) -> dict[str, tuple[str, list[int], bytes]]:
    """{name: (dtype, shape, raw bytes)} over model.safetensors or its shards."""
    files = [f for f in os.listdir(model_dir) if f.endswith(".safetensors")]
    out = {}
    for f in files:
        path = os.path.join(model_dir, f)
        header, _, start = ref.read_safetensors_header(path)
        with open(path, "rb") as fh:
            data = fh.read()
        for name, info in header.items():
            b, e = info["data_offsets"]
            out[name] = (info["dtype"], info["shape"], data[start + b:start + e])
    return out


def run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {r.returncode}: {r.stderr.strip()[-600:]}")


def check(binary: str, tmp: str, name: str, dtype: str, override: dict) -> str:
    src, dst = os.path.join(tmp, name), os.path.join(tmp, name + "-fp8")
    run([binary, "make-test-model", "--preset", "tiny", "--seed", "41", "--dtype", dtype, "--out", src,
         "--override", json.dumps(override)])
    run([binary, "quantize", "--model", src, "--quant", "fp8", "--out", dst])
    with open(os.path.join(dst, "config.json")) as f:
        cj = json.load(f)
    assert cj["quantization_config"] == QUANT_CONFIG, cj["quantization_config"]
    orig = ref.read_checkpoint(src)  # float64, exact widening of the stored values
    raw_src, raw_dst = raw_tensors(src), raw_tensors(dst)
    layers = cj["num_hidden_layers"]
    quantized = {f"model.layers.{i}.{m}.weight" for i in range(layers) for m in LINEARS}
    want_names = set(orig) | {n + "_scale_inv" for n in quantized}
    assert set(raw_dst) == want_names, sorted(set(raw_dst) ^ want_names)[:5]
    blocks = partial = 0
    for n in sorted(orig):
        dt, shape, data = raw_dst[n]
        if n in quantized:
            codes, scales = quantize(orig[n].astype(np.float32))
            assert dt == "F8_E4M3" and shape == list(codes.shape), (n, dt, shape)
            got = np.frombuffer(data, np.uint8).reshape(shape)
            if not np.array_equal(got, codes):
                bad = np.argwhere(got != codes)[0]
                raise AssertionError(f"{n}{list(bad)}: engine 0x{got[tuple(bad)]:02X}, numpy 0x{codes[tuple(bad)]:02X}")
            sdt, sshape, sdata = raw_dst[n + "_scale_inv"]
            assert sdt == "F32" and sshape == list(scales.shape), (n, sdt, sshape)
            gs = np.frombuffer(sdata, "<f4").reshape(sshape)
            assert np.array_equal(gs.view("<u4"), scales.view("<u4")), f"{n}_scale_inv: {gs} vs {scales}"
            blocks += scales.size
            partial += sum(1 for r in range(scales.shape[0]) for c in range(scales.shape[1])
                           if min(BLOCK, codes.shape[0] - r * BLOCK) < BLOCK or min(BLOCK, codes.shape[1] - c * BLOCK) < BLOCK)
        elif n in ("model.embed_tokens.weight", "lm_head.weight"):
            assert (dt, data) == raw_src[n][0::2], f"{n} changed"
        else:  # norms and biases: written as float32, same values
            assert dt == "F32" and np.array_equal(np.frombuffer(data, "<f4").astype(np.float64), orig[n]), f"{n} changed"
    # The written checkpoint and quantization on load give the same logits, bit for bit.
    ids = "151644,872,198,9707,11,1879,0,151645,42,77"
    run([binary, "logits", "--model", src, "--quant", "fp8", "--ids", ids, "--out", os.path.join(tmp, "a.npy"), "--force"])
    run([binary, "logits", "--model", dst, "--ids", ids, "--out", os.path.join(tmp, "b.npy"), "--force"])
    a, b = np.load(os.path.join(tmp, "a.npy")), np.load(os.path.join(tmp, "b.npy"))
    assert a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32)), "logits differ"
    return f"{len(quantized)} weights, {blocks} blocks ({partial} partial) identical; logits on load == written"


def main() -> int:
    binary = os.environ.get("QWEN3_BIN")
    if not binary or not os.path.exists(binary):
        print(f"QWEN3_BIN is not set to the qwen3 binary (got {binary!r})\n0 passed, 1 failed")
        return 1
    # The encoder itself, on known values: ties to even, saturation, signed zero.
    t = ref.e4m3_table()
    probe = np.array([0.0, -0.0, 1.0, 1.0625, 1.1875, 448, 460, 464, 1e9, -500, 2.0 ** -10, 1.5 * 2.0 ** -10], np.float32)
    want = [0x00, 0x80, 0x38, 0x38, 0x3A, 0x7E, 0x7E, 0x7E, 0x7E, 0xFE, 0x00, 0x01]
    assert e4m3_encode(probe).tolist() == want, e4m3_encode(probe).tolist()
    assert t[0x3A] == 1.25
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="qwen3-fp8q-") as tmp:
        for name, dtype, override in MODELS:
            try:
                msg, ok = check(binary, tmp, name, dtype, override), True
            except Exception as e:  # noqa: BLE001
                msg, ok = f"{type(e).__name__}: {e}", False
            print(f"{'PASS' if ok else 'FAIL'} {name:<18s} {msg}", flush=True)
            passed, failed = passed + ok, failed + (not ok)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
