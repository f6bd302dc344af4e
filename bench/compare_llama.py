#!/usr/bin/python3
"""qwen3 bench and llama.cpp's llama-bench side by side on the same weights, alternating.

The machine's memory bandwidth swings every few minutes, so the two engines are run in turns
(llama.cpp, qwen3, qwen3, llama.cpp, ...) `--repeat` times each and compared by medians.

  /usr/bin/python3 bench/compare_llama.py --llama-dir ~/llama.cpp/build --model DIR \
      [--formats bf16,q8,q4] [--threads 2] [--repeat 5] [--depth 2048 | --depth 0,2048,8192,16384,32768]
      [--kv-dtype bf16|q8|q8-head|fp8] [--work DIR] [--json OUT]

For each format: the unquantized format is the checkpoint's own dtype, exported with
`qwen3 export-gguf` (bf16 / f16 / f32); q8 and q4 are llama.cpp's Q8_0 and Q4_0 made from that GGUF
by llama-quantize, against `qwen3 bench --quant q8|q4` on the unquantized checkpoint. GGUF files are
cached in --work. A format that qwen3 cannot run is reported "unsupported"; nothing is hard-coded:
every figure printed is measured in this run. llama.cpp is not part of this repository: give the
folder of your own build (it must hold llama-bench and llama-quantize, or a bin/ with them).

--depth takes one depth or a comma list (a lone 0 skips the depth decode): decode tok/s after a
context of that many tokens, measured by one `qwen3 bench --depth LIST` and one `llama-bench -d LIST`
per round. llama-bench always runs with flash attention on (`-fa 1`) and the KV cache type that
matches --kv-dtype (`-ctk/-ctv`): bf16 against llama.cpp's f16 cache, q8 (and q8-head) against
q8_0; fp8 has no llama.cpp peer and runs qwen3 alone. --json writes every run of both engines, each depth included
("tg_at_depth": {depth: tok/s}; "tg_depth" is the deepest), and the settings under "_settings";
bench/plot_depth.py draws decode tok/s against depth from it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMA_TYPES = {"q8": "Q8_0", "q4": "Q4_0"}
UNQUANTIZED = {"bf16": "BF16", "f16": "F16", "f32": "F32"}
TORCH_TO_FMT = {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}
# qwen3 --kv-dtype -> llama-bench -ctk/-ctv (None: llama.cpp has no such cache).
LLAMA_KV = {"bf16": "f16", "q8": "q8_0", "q8-head": "q8_0", "fp8": None}


def find_tool(llama_dir, name):
    for sub in ("bin", "", "build/bin", "build"):
        p = os.path.join(llama_dir, sub, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    sys.exit(f"compare_llama: no {name} under {llama_dir} (looked in bin/, ./, build/bin/)")


def run(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def first_line(s):
    lines = [l for l in s.strip().splitlines() if l.strip()]
    return lines[-1][:200] if lines else ""


def ensure_gguf(args, fmt, base_fmt):
    """Path of the GGUF for `fmt`, made (and cached) when missing."""
    name = os.path.basename(os.path.normpath(args.model))
    base = os.path.join(args.work, f"{name}-{UNQUANTIZED[base_fmt]}.gguf")
    src = os.path.join(args.model, "config.json")
    if not os.path.exists(base) or os.path.getmtime(base) < os.path.getmtime(src):
        print(f"exporting {base}", file=sys.stderr)
        rc, _, err = run([args.qwen3, "export-gguf", "--model", args.model, "--out", base, "--force"], 3600)
        if rc != 0:
            raise RuntimeError(f"export-gguf failed: {first_line(err)}")
    if fmt == base_fmt:
        return base
    out = os.path.join(args.work, f"{name}-{LLAMA_TYPES[fmt]}.gguf")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(base):
        print(f"quantizing {out}", file=sys.stderr)
        rc, _, err = run([args.llama_quantize, base, out, LLAMA_TYPES[fmt], str(args.threads)], 3600)
        if rc != 0:
            raise RuntimeError(f"llama-quantize failed: {first_line(err)}")
    return out


def parse_depths(text):
    """'0,2048,8192' -> [0, 2048, 8192] (ascending, distinct); a lone 0 -> [] (no depth decode)."""
    try:
        depths = sorted({int(d) for d in text.split(",") if d.strip()})
    except ValueError:
        sys.exit(f"compare_llama: --depth: '{text}' is not a comma list of token counts")
    if not depths or depths[0] < 0:
        sys.exit(f"compare_llama: --depth: '{text}': give depths >= 0, e.g. 2048 or 0,2048,8192")
    return [] if depths == [0] else depths


def llama_round(args, gguf):
    """{"pp", "tg", "tg_depth" (the deepest), "tg_at_depth": {depth: tok/s}} from llama-bench, one
    repetition each, flash attention on, the KV cache type of --kv-dtype."""
    res = {"pp": None, "tg": None, "tg_depth": None, "tg_at_depth": {}}
    kv = LLAMA_KV[args.kv_dtype]
    base = [args.llama_bench, "-m", gguf, "-t", str(args.threads), "-r", "1", "-o", "json",
            "-fa", "1", "-ctk", kv, "-ctv", kv]
    rc, out, err = run(base + ["-p", str(args.prompt), "-n", str(args.gen)], 7200)
    if rc != 0:
        raise RuntimeError(f"llama-bench failed: {first_line(err)}")
    for t in json.loads(out):
        if t["n_prompt"] > 0 and t["n_gen"] == 0:
            res["pp"] = t["avg_ts"]
        elif t["n_gen"] > 0 and t["n_prompt"] == 0:
            res["tg"] = t["avg_ts"]
    if args.depths:
        d_list = ",".join(str(d) for d in args.depths)
        rc, out, err = run(base + ["-p", "0", "-n", str(args.gen), "-d", d_list], 7200)
        if rc != 0:
            raise RuntimeError(f"llama-bench -d failed: {first_line(err)}")
        for t in json.loads(out):
            if t["n_gen"] > 0 and t["n_prompt"] == 0 and t.get("n_depth", 0) in args.depths:
                res["tg_at_depth"][str(t.get("n_depth", 0))] = t["avg_ts"]
        res["tg_depth"] = res["tg_at_depth"].get(str(args.depths[-1]))
    return res


def qwen3_round(args, fmt):
    depth = ",".join(str(d) for d in args.depths) or "0"
    cmd = [args.qwen3, "bench", "--model", args.model, "--threads", str(args.threads), "--prompt", str(args.prompt),
           "--gen", str(args.gen), "--depth", depth, "--batch", "0", "--repeat", "1", "--kv-dtype", args.kv_dtype,
           "--format", "json"]
    if fmt in LLAMA_TYPES:
        cmd += ["--quant", fmt]
    if args.numerics:
        cmd += ["--numerics", args.numerics]
    rc, out, err = run(cmd, 7200)
    if rc != 0:
        raise RuntimeError(first_line(err))
    j = json.loads(out)
    depths = j.get("depths") or []
    return {"pp": j["prefill_tok_s"]["median"], "tg": j["decode_tok_s"]["median"],
            "tg_depth": (j["depth_decode_tok_s"] or {}).get("median"), "bw": j["bandwidth_gb_s"],
            "gb_s": j["decode_gb_s"], "depth_gb_s": j["depth_decode_gb_s"],
            "tg_at_depth": {str(d["depth"]): d["decode_tok_s"]["median"] for d in depths},
            "gb_s_at_depth": {str(d["depth"]): d["decode_gb_s"] for d in depths}}


def med(rows, key, depth=None):
    """Median of `key` over the runs (of key[str(depth)] when depth is given), None without values."""
    v = [r[key] if depth is None else (r.get(key) or {}).get(str(depth)) for r in rows]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def fmt_num(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-dir", required=True, help="llama.cpp build folder (llama-bench, llama-quantize)")
    ap.add_argument("--model", required=True, help="Hugging Face checkpoint folder (unquantized)")
    ap.add_argument("--formats", default="bf16,q8,q4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--depth", default="2048", help="one depth or a comma list, e.g. 0,2048,8192,16384,32768")
    ap.add_argument("--kv-dtype", choices=sorted(LLAMA_KV), default="bf16",
                    help="qwen3 --kv-dtype; llama.cpp -ctk/-ctv f16 for bf16, q8_0 for q8 and q8-head, none for fp8")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--numerics", choices=["exact", "fast"], default=None, help="qwen3 --numerics")
    ap.add_argument("--work", default="/tmp/qwen3_compare_llama", help="cache of GGUF files")
    ap.add_argument("--qwen3", default=os.path.join(REPO, "build", "qwen3"))
    ap.add_argument("--json", help="also write every measurement here")
    args = ap.parse_args()
    if args.repeat < 1 or args.threads < 1:
        sys.exit("compare_llama: --repeat and --threads must be >= 1")
    args.depths = parse_depths(args.depth)
    if not os.access(args.qwen3, os.X_OK):
        sys.exit(f"compare_llama: no qwen3 binary at {args.qwen3} (build it or pass --qwen3)")
    args.llama_bench = find_tool(args.llama_dir, "llama-bench")
    args.llama_quantize = find_tool(args.llama_dir, "llama-quantize")
    os.makedirs(args.work, exist_ok=True)
    cfg = json.load(open(os.path.join(args.model, "config.json")))
    base_fmt = TORCH_TO_FMT.get(cfg.get("torch_dtype", "bfloat16"), "bf16")

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    results = {}
    for f in formats:
        r = {"status": "ok", "llama": [], "qwen3": [], "note": ""}
        results[f] = r
        if f not in LLAMA_TYPES and f not in UNQUANTIZED:
            r["status"], r["note"] = "unknown", f"unknown format '{f}'"
            continue
        if f in UNQUANTIZED and f != base_fmt:
            r["status"], r["note"] = "skipped", f"the checkpoint is {base_fmt}"
            continue
        try:
            r["gguf"] = ensure_gguf(args, f, base_fmt)
            r["gguf_bytes"] = os.path.getsize(r["gguf"])
        except RuntimeError as e:
            r["status"], r["note"] = "no gguf", str(e)

    llama_runs = LLAMA_KV[args.kv_dtype] is not None  # fp8 KV: qwen3 alone
    t0 = time.time()
    for i in range(args.repeat):
        for f in formats:
            r = results[f]
            if r["status"] not in ("ok", "unsupported"):
                continue
            order = ["llama", "qwen3"] if i % 2 == 0 else ["qwen3", "llama"]
            for who in order:
                if (who == "qwen3" and r["status"] == "unsupported") or (who == "llama" and not llama_runs):
                    continue
                try:
                    if who == "llama":
                        r["llama"].append(llama_round(args, r["gguf"]))
                    else:
                        r["qwen3"].append(qwen3_round(args, f))
                except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                    if who == "qwen3":
                        r["status"], r["note"] = "unsupported", str(e)
                    else:
                        r["note"] = f"llama.cpp: {e}"
            print(f"[{time.time() - t0:6.0f} s] round {i + 1}/{args.repeat} {f} done", file=sys.stderr)
    report(args, formats, results, llama_runs)
    if args.json:
        settings = {"model": args.model, "threads": args.threads, "repeat": args.repeat, "prompt": args.prompt,
                    "gen": args.gen, "depths": args.depths, "kv_dtype": args.kv_dtype,
                    "llama_kv": LLAMA_KV[args.kv_dtype], "llama_flash_attn": "on", "numerics": args.numerics}
        with open(args.json, "w") as fh:
            json.dump({"_settings": settings, **results}, fh, indent=1)


def report(args, formats, results, llama_runs):
    kv = f"KV {args.kv_dtype}" + (f" (llama.cpp {LLAMA_KV[args.kv_dtype]}, -fa on)" if llama_runs else
                                  " (no llama.cpp peer)")
    print(f"\nqwen3 vs llama.cpp, {args.threads} threads, medians of {args.repeat} alternating runs "
          f"(model {args.model}, {kv})")
    print(f"{'format':7} {'pp' + str(args.prompt) + ' llama':>12} {'qwen3':>8} {'ratio':>6} | "
          f"{'tg' + str(args.gen) + ' llama':>12} {'qwen3':>8} {'ratio':>6}"
          " | qwen3 GB/s (fraction)  llama.cpp ≈GB/s (fraction)")
    bws, measured = [], []
    for f in formats:
        r = results[f]
        if r["status"] in ("unknown", "skipped", "no gguf"):
            print(f"{f:7} {r['status']}: {r['note']}")
            continue
        L = {k: med(r["llama"], k) for k in ("pp", "tg")}
        Q = {k: med(r["qwen3"], k) for k in ("pp", "tg", "bw", "gb_s")}
        bws += [q["bw"] for q in r["qwen3"] if q.get("bw")]
        if r["status"] == "unsupported":
            print(f"{f:7} llama.cpp pp {fmt_num(L['pp'])} tg {fmt_num(L['tg'])} | qwen3 unsupported: {r['note']}")
            continue
        measured.append(f)
        line = f"{f:7} {fmt_num(L['pp']):>12} {fmt_num(Q['pp']):>8} {fmt_num(ratio(Q['pp'], L['pp']), '.2f'):>6} | "
        line += f"{fmt_num(L['tg']):>12} {fmt_num(Q['tg']):>8} {fmt_num(ratio(Q['tg'], L['tg']), '.2f'):>6}"
        frac = ratio(Q["gb_s"], Q["bw"])
        # llama.cpp's bytes per token approximated by the GGUF size (every tensor read once per token).
        lgb = None if L["tg"] is None else L["tg"] * r["gguf_bytes"] / 1e9
        line += (f" | {fmt_num(Q['gb_s'])} ({fmt_num(frac and 100 * frac, '.0f')}%)"
                 f"  ≈{fmt_num(lgb)} ({fmt_num(ratio(lgb, Q['bw']) and 100 * ratio(lgb, Q['bw']), '.0f')}%)")
        print(line + (f"   [{r['note']}]" if r["note"] else ""))
    if args.depths and measured:
        print(f"\ndecode tg{args.gen} at depth, tok/s: llama.cpp / qwen3 (ratio); qwen3 GB/s")
        print(f"{'format':7} " + " | ".join(f"{'d' + str(d):>26}" for d in args.depths))
        for f in measured:
            r = results[f]
            cells = []
            for d in args.depths:
                lo, qo = med(r["llama"], "tg_at_depth", d), med(r["qwen3"], "tg_at_depth", d)
                gb = med(r["qwen3"], "gb_s_at_depth", d)
                cells.append(f"{fmt_num(lo)} / {fmt_num(qo)} ({fmt_num(ratio(qo, lo), '.2f')}) {fmt_num(gb)}")
            print(f"{f:7} " + " | ".join(f"{c:>26}" for c in cells))
    if bws:
        print(f"measured read bandwidth (qwen3 bench probe, {args.threads} threads): median {statistics.median(bws):.1f} "
              f"GB/s, min {min(bws):.1f}, max {max(bws):.1f}")


if __name__ == "__main__":
    main()
