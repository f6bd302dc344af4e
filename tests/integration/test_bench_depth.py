#!/usr/bin/python3
"""qwen3 bench --depth as a list on the tiny preset: one decode per depth, ascending, in the JSON and
the text; the KV cache sized for the deepest sequence and its bytes per position as stored; contexts
and prompts filled in forwards of --max-batch-tokens; a YaRN-configured model runs past
max_position_embeddings up to original_max_position_embeddings x factor; and clear one-line errors,
before any work, for a depth past the model's context or past the KV memory. No speed is asserted."""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import check, finish, run  # noqa: E402


def expect_error(name, args, *fragments, quick=False):
    t0 = time.time()
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    check(name, rc != 0 and len(lines) == 1 and all(f in err for f in fragments) and not out, f"rc={rc} stderr={err!r}")
    if quick:  # refused before the bandwidth probe and the load: no progress, no figures
        check(f"{name}: before any work", time.time() - t0 < 30, time.time() - t0)


def bench_json(name, *args):
    rc, out, err = run("bench", *args, "--format", "json")
    check(name, rc == 0, err)
    return json.loads(out) if rc == 0 else {}


tmp = tempfile.mkdtemp(prefix="qwen3_bench_depth_")
try:
    m = os.path.join(tmp, "m")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "3", "--out", m)
    check("make-test-model", rc == 0, err)
    cfg = json.load(open(os.path.join(m, "config.json")))
    L, Hkv, D = cfg["num_hidden_layers"], cfg["num_key_value_heads"], cfg["head_dim"]

    # --- a sweep, given unsorted: measured and reported ascending ---
    small = ["--model", m, "--prompt", "40", "--gen", "4", "--batch", "0", "--repeat", "2", "--threads", "2",
             "--bandwidth-mib", "16", "--max-batch-tokens", "16"]
    j = bench_json("sweep runs", *small, "--depth", "64,0,16")
    if j:
        ds = j.get("depths") or []
        check("one entry per depth, ascending", [d.get("depth") for d in ds] == [0, 16, 64], ds)
        for d in ds:
            s = d["decode_tok_s"]
            check(f"depth {d['depth']} stats", 0 < s["min"] <= s["median"] <= s["max"], s)
            check(f"depth {d['depth']} GB/s and fraction", d["decode_gb_s"] > 0 and d["bandwidth_fraction"] is not None
                  and abs(d["bandwidth_fraction"] - d["decode_gb_s"] / j["bandwidth_gb_s"]) < 1e-9, d)
        check("depth keys repeat the deepest", j["depth"] == 64 and ds and j["depth_decode_tok_s"] == ds[-1]["decode_tok_s"]
              and j["depth_decode_gb_s"] == ds[-1]["decode_gb_s"]
              and j["depth_bandwidth_fraction"] == ds[-1]["bandwidth_fraction"], j)
        check("echoes max_batch_tokens and the context", j["max_batch_tokens"] == 16 and j["max_context"] == 4096, j)
        # bf16 K and V of every layer; the cache holds the longest sequence, 64 + 4 positions, in
        # pages of 16: 5 pages (the 40-token prompt needs 3).
        per_pos = 2 * L * Hkv * D * 2
        check("kv bytes per position", j["kv_bytes_per_position"] == per_pos, j["kv_bytes_per_position"])
        check("kv cache sized for the deepest sequence", j["kv_cache_bytes"] == 5 * 16 * per_pos, j["kv_cache_bytes"])
    j = bench_json("f32 cache", *small, "--depth", "16", "--kv-dtype", "f32")
    if j:
        # The 40-token prompt is now the longest sequence: 3 pages.
        check("one depth, f32 bytes", [d["depth"] for d in j["depths"]] == [16] and
              j["kv_bytes_per_position"] == 2 * L * Hkv * D * 4 and j["kv_cache_bytes"] == 3 * 16 * 2 * L * Hkv * D * 4, j)
    # q8: per (token, KV head) 32 int8 codes and one f16 scale per 32 values (docs/quantization.md).
    j = bench_json("q8 cache", *small, "--depth", "64", "--kv-dtype", "q8")
    if j:
        q8_pos = 2 * L * Hkv * (D + 2 * (D // 32))
        check("q8 bytes as stored", j["kv_bytes_per_position"] == q8_pos and j["kv_cache_bytes"] == 5 * 16 * q8_pos,
              (j["kv_bytes_per_position"], j["kv_cache_bytes"], q8_pos))
    j = bench_json("a lone 0 skips", *small, "--depth", "0")
    check("skipped: no depths", j and j["depths"] == [] and j["depth"] == 0 and j["depth_decode_tok_s"] is None, j)
    # A prompt longer than --max-batch-tokens (three forwards of at most 16) is timed whole.
    j = bench_json("long prompt, small forwards", "--model", m, "--prompt", "100", "--gen", "2", "--batch", "0",
                   "--repeat", "1", "--bandwidth-mib", "0", "--max-batch-tokens", "16")
    check("prefill timed", j and j["prefill_tok_s"]["median"] > 0 and j["prompt_tokens"] == 100, j)

    rc, out, err = run("bench", *small, "--depth", "0,16,64")
    check("text: a line per depth", rc == 0 and all(f"decode 4 at depth {d} " in out for d in (0, 16, 64))
          and all(f"decode reads at depth {d} " in out for d in (0, 16, 64)) and "KV cache" in out, out + err)

    # --- YaRN: the context is original_max_position_embeddings x factor ---
    y = os.path.join(tmp, "yarn")
    over = {"max_position_embeddings": 64,
            "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64}}
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "3", "--out", y, "--override", json.dumps(over))
    check("make-test-model yarn", rc == 0, err)
    j = bench_json("yarn past max_position_embeddings", "--model", y, "--prompt", "8", "--gen", "4", "--batch", "0",
                   "--repeat", "1", "--bandwidth-mib", "0", "--depth", "100,250")
    check("yarn context 256", j and j["max_context"] == 256 and [d["depth"] for d in j["depths"]] == [100, 250], j)
    expect_error("yarn: past 256", ["bench", "--model", y, "--prompt", "8", "--depth", "253", "--gen", "4"],
                 "--depth 253", "original_max_position_embeddings x factor 256", quick=True)

    # --- errors, before the probe and the load ---
    base = ["bench", "--model", m, "--prompt", "8", "--gen", "4"]
    expect_error("depth past the context", base + ["--depth", "16,4093"], "--depth 4093", "max_position_embeddings 4096",
                 quick=True)
    expect_error("prompt past the context", ["bench", "--model", m, "--prompt", "4097"], "--prompt 4097",
                 "max_position_embeddings", quick=True)
    expect_error("depth twice", base + ["--depth", "16,64,16"], "--depth", "16 is listed twice", quick=True)
    expect_error("negative depth", base + ["--depth", "16,-3"], "--depth", "-3", quick=True)
    expect_error("depth not a number", base + ["--depth", "16,x"], "--depth", quick=True)
    expect_error("bad max-batch-tokens", base + ["--max-batch-tokens", "0"], "--max-batch-tokens", quick=True)
    expect_error("bad kv-memory", base + ["--kv-memory", "-1"], "--kv-memory", quick=True)
    # 2048 + 4 positions -> 129 pages x 16 x 768 bytes = 1.5 MiB of bf16 K/V: over 1 MiB.
    expect_error("past --kv-memory", base + ["--depth", "2048", "--kv-memory", "0.0009765625"], "--kv-memory",
                 "KV cache", "2064 positions", "--depth 2048", quick=True)
    # Past the machine's memory: a config with 4096 layers and YaRN's context of 2^22 positions
    # (never loaded: the check comes first) needs 2 * 4096 * 2 * 32 * 4 bytes = 2 MiB per f32
    # position, about 7.6 TiB at 4,000,000 positions.
    big = os.path.join(tmp, "big")
    shutil.copytree(m, big)
    c = dict(cfg, num_hidden_layers=4096,
             rope_scaling={"rope_type": "yarn", "factor": 1024.0, "original_max_position_embeddings": 4096})
    json.dump(c, open(os.path.join(big, "config.json"), "w"))
    expect_error("past the available memory", ["bench", "--model", big, "--depth", "4000000", "--gen", "4",
                                               "--kv-dtype", "f32"], "MemAvailable", "--depth 4000000", quick=True)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
