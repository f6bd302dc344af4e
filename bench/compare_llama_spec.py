#!/usr/bin/python3
"""Speculative decoding: qwen3 bench --spec against llama.cpp's llama-speculative / llama-lookup, alternating.

  /usr/bin/python3 bench/compare_llama_spec.py --llama-dir ~/llama.cpp/build --target DIR [--draft DIR] \
      [--quant q8] [--draft-quant q8] [--ks 2,4,8] [--proposers draft,self-q4,self-q8,ngram] \
      [--repeat 3] [--gen 128] [--prompt TEXT] [--threads 2] [--work DIR]

Proposers, each run at every k in --ks (the draft length; greedy on both sides):
  draft    a separate draft checkpoint (--draft), in --draft-quant:
           llama-speculative -md DRAFT.gguf  vs  qwen3 bench --spec draft --draft-model DIR --draft-quant Q
  self-q4  the target's own Q4_0 as the draft:
           llama-speculative -md TARGET-Q4_0.gguf  vs  qwen3 bench --spec draft --draft-quant q4
  self-q8  the target's own Q8_0 as the draft (with --quant q8 the draft is the target: an upper bound):
           llama-speculative -md TARGET-Q8_0.gguf  vs  qwen3 bench --spec draft --draft-quant q8
  ngram    prompt lookup, no draft model:
           llama-lookup  vs  qwen3 bench --spec ngram
Baselines without speculation: llama-bench -p 0 -n GEN (tg) against qwen3's baseline_decode_tok_s.

The two engines are run in turns (llama.cpp, qwen3, qwen3, llama.cpp, ...) `--repeat` times each and
compared by medians, as bench/compare_llama.py does. llama.cpp's acceptance is its own n_accept / n_drafted
(llama-speculative drafts exactly k tokens per round; llama-lookup drafts up to k, only where the n-gram
cache has a continuation). tok/verify is n_predict / (n_predict - n_accept) for llama.cpp: every target
forward yields the accepted draft tokens plus one token of its own. GGUF files are made with
`qwen3 export-gguf` and llama-quantize and cached in --work. A run that fails is reported and skipped;
nothing is hard-coded: every figure printed is measured in this run. llama.cpp is not part of this
repository: give the folder of your own build (llama-speculative, llama-lookup, llama-bench, llama-quantize).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLAMA_TYPES = {"q8": "Q8_0", "q4": "Q4_0"}
UNQUANTIZED = {"bf16": "BF16", "f16": "F16", "f32": "F32"}
TORCH_TO_FMT = {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}
PROPOSERS = ("draft", "self-q4", "self-q8", "ngram")
DEFAULT_PROMPT = "Write a story about a robot who learns to paint."


def find_tool(llama_dir, name, required=True):
    for sub in ("bin", "", "build/bin", "build"):
        p = os.path.join(llama_dir, sub, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    if required:
        sys.exit(f"compare_llama_spec: no {name} under {llama_dir} (looked in bin/, ./, build/bin/)")
    return None


def run(cmd, timeout):
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def first_line(s):
    lines = [l for l in s.strip().splitlines() if l.strip()]
    return lines[-1][:200] if lines else ""


def ensure_gguf(args, model, fmt):
    """Path of the GGUF of checkpoint `model` in `fmt` (q8 / q4 / its own dtype), made and cached in --work."""
    cfg = json.load(open(os.path.join(model, "config.json")))
    base_fmt = TORCH_TO_FMT.get(cfg.get("torch_dtype", "bfloat16"), "bf16")
    name = os.path.basename(os.path.normpath(model))
    base = os.path.join(args.work, f"{name}-{UNQUANTIZED[base_fmt]}.gguf")
    src = os.path.join(model, "config.json")
    if not os.path.exists(base) or os.path.getmtime(base) < os.path.getmtime(src):
        print(f"exporting {base}", file=sys.stderr)
        rc, _, err = run([args.qwen3, "export-gguf", "--model", model, "--out", base, "--force"], 3600)
        if rc != 0:
            raise RuntimeError(f"export-gguf failed: {first_line(err)}")
    if fmt == base_fmt:
        return base
    if fmt not in LLAMA_TYPES:
        raise RuntimeError(f"format {fmt} is neither q8, q4 nor the checkpoint's {base_fmt}")
    out = os.path.join(args.work, f"{name}-{LLAMA_TYPES[fmt]}.gguf")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(base):
        print(f"quantizing {out}", file=sys.stderr)
        rc, _, err = run([args.llama_quantize, base, out, LLAMA_TYPES[fmt], str(args.threads)], 3600)
        if rc != 0:
            raise RuntimeError(f"llama-quantize failed: {first_line(err)}")
    return out


def grab(pattern, text, conv=float):
    m = re.search(pattern, text)
    return conv(m.group(1)) if m else None


def parse_llama_spec(text):
    """The summary llama-speculative / llama-lookup log at the end of a run."""
    res = {"tok_s": grab(r"decoded\s+\d+ tokens in\s+[\d.]+ seconds, speed:\s+([\d.]+) t/s", text),
           "n_predict": grab(r"n_predict\s*=\s*(\d+)", text, int),
           "n_drafted": grab(r"n_drafted\s*=\s*(\d+)", text, int),
           "n_accept": grab(r"n_accept\s*=\s*(\d+)", text, int)}
    if res["tok_s"] is None or res["n_predict"] is None or res["n_drafted"] is None or res["n_accept"] is None:
        raise RuntimeError(f"no speed / acceptance summary in the output: {first_line(text)}")
    res["acceptance"] = res["n_accept"] / res["n_drafted"] if res["n_drafted"] else None
    verifies = res["n_predict"] - res["n_accept"]
    res["tok_per_verify"] = res["n_predict"] / verifies if verifies > 0 else None
    return res


def llama_cmd(args, proposer, k):
    t = str(args.threads)
    common = ["-m", args.target_gguf, "-p", args.prompt, "-n", str(args.gen), "-t", t, "-tb", t,
              "-c", str(args.ctx), "--temp", "0", "--seed", "1", "--spec-draft-n-max", str(k)]
    if proposer == "ngram":
        return [args.llama_lookup] + common
    draft = {"draft": args.draft_gguf, "self-q4": args.self_gguf.get("q4"), "self-q8": args.self_gguf.get("q8")}[proposer]
    # greedy draft of exactly k tokens: --temp 0 makes both samplers greedy (llama-speculative verifies greedily
    # then), --spec-draft-n-min 0 / --spec-draft-p-min 0 keep llama-speculative-simple from cutting drafts short.
    cmd = [args.llama_spec, "-md", draft, "-td", t, "-tbd", t, "--spec-draft-n-min", "0", "--spec-draft-p-min", "0"]
    if args.llama_tool == "speculative-simple":
        cmd += ["--spec-type", "draft-simple"]  # its default speculative type is "none"
    return cmd + common


def llama_spec_round(args, proposer, k):
    cmd = llama_cmd(args, proposer, k)
    args.commands.setdefault(f"llama {proposer} k={k}", " ".join(quote(c) for c in cmd))
    rc, out, err = run(cmd, args.timeout)
    if rc != 0:
        raise RuntimeError(f"{os.path.basename(cmd[0])} exited {rc}: {first_line(err) or first_line(out)}")
    return parse_llama_spec(out + "\n" + err)


def llama_base_round(args):
    cmd = [args.llama_bench, "-m", args.target_gguf, "-t", str(args.threads), "-p", "0", "-n", str(args.gen),
           "-r", "1", "-o", "json"]
    args.commands.setdefault("llama baseline", " ".join(quote(c) for c in cmd))
    rc, out, err = run(cmd, args.timeout)
    if rc != 0:
        raise RuntimeError(f"llama-bench exited {rc}: {first_line(err)}")
    for t in json.loads(out):
        if t["n_gen"] > 0 and t["n_prompt"] == 0:
            return {"tok_s": t["avg_ts"]}
    raise RuntimeError("llama-bench printed no tg result")


def llama_base(args, base, base_skip):
    """Appends one llama-bench tg sample to base["llama"]; returns the reason to skip it from now on, if any."""
    if base_skip is not None:
        return base_skip
    try:
        base["llama"].append(llama_base_round(args))
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as e:
        base["note"] = f"llama-bench: {e}"
        print(f"baseline: llama.cpp skipped: {e}", file=sys.stderr)
        return base["note"]
    return None


def qwen3_cmd(args, proposer, k):
    cmd = [args.qwen3, "bench", "--model", args.target, "--quant", args.quant, "--threads", str(args.threads),
           "--spec-only"]
    if proposer == "ngram":
        cmd += ["--spec", "ngram"]
    elif proposer == "draft":
        cmd += ["--spec", "draft", "--draft-model", args.draft, "--draft-quant", args.draft_quant]
    else:
        cmd += ["--spec", "draft", "--draft-quant", proposer.split("-")[1]]
    return cmd + ["--spec-k", str(k), "--spec-prompt", args.prompt, "--gen", str(args.gen), "--repeat", "1",
                  "--format", "json"]


def qwen3_round(args, proposer, k):
    cmd = qwen3_cmd(args, proposer, k)
    args.commands.setdefault(f"qwen3 {proposer} k={k}", " ".join(quote(c) for c in cmd))
    rc, out, err = run(cmd, args.timeout)
    if rc != 0:
        raise RuntimeError(f"qwen3 bench exited {rc}: {first_line(err) or first_line(out)}")
    s = json.loads(out).get("spec")
    if not isinstance(s, dict):
        raise RuntimeError("qwen3 bench printed no \"spec\" object")
    return {"tok_s": s.get("decode_tok_s"), "acceptance": s.get("acceptance_rate"),
            "tok_per_verify": s.get("tokens_per_verify"), "base_tok_s": s.get("baseline_decode_tok_s"),
            "draft_ms": s.get("draft_ms_per_step"), "verify_ms": s.get("verify_ms_per_step"),
            "speedup": s.get("speedup"), "predicted_speedup": s.get("predicted_speedup")}


def quote(s):
    return s if re.fullmatch(r"[\w./=,:+-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def med(rows, key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(v) if v else None


def fmt_num(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-dir", required=True,
                    help="llama.cpp build folder (llama-speculative, llama-lookup, llama-bench, llama-quantize)")
    ap.add_argument("--target", required=True, help="target Hugging Face checkpoint folder (unquantized)")
    ap.add_argument("--draft", help="draft checkpoint folder for the 'draft' proposer (same tokenizer)")
    ap.add_argument("--quant", choices=list(LLAMA_TYPES), default="q8", help="format of the target")
    ap.add_argument("--draft-quant", choices=list(LLAMA_TYPES), default=None,
                    help="format of the --draft model (default: --quant)")
    ap.add_argument("--proposers", default=",".join(PROPOSERS))
    ap.add_argument("--ks", default="2,4,8", help="draft lengths")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gen", type=int, default=128, help="tokens to generate per run")
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engines", default="llama,qwen3", help="run only one side: llama or qwen3")
    ap.add_argument("--llama-tool", choices=["speculative", "speculative-simple"], default="speculative",
                    help="llama.cpp program for the draft-model proposers")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per run")
    ap.add_argument("--work", default="/tmp/qwen3_compare_llama", help="cache of GGUF files")
    ap.add_argument("--qwen3", default=os.path.join(REPO, "build", "qwen3"))
    ap.add_argument("--json", help="also write every measurement here")
    args = ap.parse_args()
    args.draft_quant = args.draft_quant or args.quant
    try:
        ks = [int(k) for k in args.ks.split(",") if k.strip()]
    except ValueError:
        sys.exit(f"compare_llama_spec: --ks must be integers, got '{args.ks}'")
    proposers = [p.strip() for p in args.proposers.split(",") if p.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    bad = [p for p in proposers if p not in PROPOSERS] + [e for e in engines if e not in ("llama", "qwen3")]
    if bad:
        sys.exit(f"compare_llama_spec: unknown proposer / engine {bad} (proposers {PROPOSERS}, engines llama,qwen3)")
    if args.repeat < 1 or args.threads < 1 or args.gen < 1 or not ks or min(ks) < 1:
        sys.exit("compare_llama_spec: --repeat, --threads, --gen and every k must be >= 1")
    if "qwen3" in engines and not os.access(args.qwen3, os.X_OK):
        sys.exit(f"compare_llama_spec: no qwen3 binary at {args.qwen3} (build it or pass --qwen3)")
    if "draft" in proposers and not args.draft:
        print("draft: skipped (no --draft checkpoint)", file=sys.stderr)
        proposers.remove("draft")
    args.llama_bench = find_tool(args.llama_dir, "llama-bench")
    args.llama_quantize = find_tool(args.llama_dir, "llama-quantize")
    args.llama_spec = find_tool(args.llama_dir, "llama-" + args.llama_tool, required=False)
    args.llama_lookup = find_tool(args.llama_dir, "llama-lookup", required=False)
    args.ctx = max(512, 2 * args.gen + 256)
    args.commands = {}
    os.makedirs(args.work, exist_ok=True)

    # GGUF files (exported from the same checkpoints qwen3 loads, so both engines run the same weights).
    try:
        args.target_gguf = ensure_gguf(args, args.target, args.quant)
    except (RuntimeError, OSError) as e:
        sys.exit(f"compare_llama_spec: no GGUF of the target: {e}")
    args.self_gguf, args.draft_gguf = {}, None
    results, skip = {}, {}
    for p in proposers:
        for k in ks:
            results[(p, k)] = {"llama": [], "qwen3": [], "note": []}
        skip[p] = {"llama": None, "qwen3": None}
        try:
            if p == "draft":
                args.draft_gguf = ensure_gguf(args, args.draft, args.draft_quant)
            elif p.startswith("self-"):
                args.self_gguf[p[5:]] = ensure_gguf(args, args.target, p[5:])
        except (RuntimeError, OSError) as e:
            skip[p]["llama"] = f"no GGUF: {e}"
        tool = args.llama_lookup if p == "ngram" else args.llama_spec
        if tool is None:
            skip[p]["llama"] = f"no llama-{'lookup' if p == 'ngram' else args.llama_tool} under {args.llama_dir}"
    for p in proposers:
        for e in ("llama", "qwen3"):
            if e not in engines:
                skip[p][e] = skip[p][e] or "not run (--engines)"
            elif skip[p][e]:
                print(f"{p}: {e} skipped: {skip[p][e]}", file=sys.stderr)
    base = {"llama": [], "qwen3": [], "note": ""}
    base_skip = None if "llama" in engines else "not run (--engines)"

    t0 = time.time()
    for i in range(args.repeat):
        order = ["llama", "qwen3"] if i % 2 == 0 else ["qwen3", "llama"]
        base_skip = llama_base(args, base, base_skip)
        for p in proposers:
            for k in ks:
                r = results[(p, k)]
                for who in order:
                    if skip[p][who]:
                        continue
                    try:
                        if who == "llama":
                            r["llama"].append(llama_spec_round(args, p, k))
                        else:
                            q = qwen3_round(args, p, k)
                            r["qwen3"].append(q)
                            if q["base_tok_s"] is not None:
                                base["qwen3"].append({"tok_s": q["base_tok_s"]})
                    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError, OSError) as e:
                        # an engine that cannot run a proposer is not tried again for it
                        skip[p][who] = f"{'llama.cpp' if who == 'llama' else 'qwen3'}: {e}"
                        r["note"].append(skip[p][who])
                        print(f"{p} k={k}: {who} skipped from now on: {e}", file=sys.stderr)
                print(f"[{time.time() - t0:6.0f} s] round {i + 1}/{args.repeat} {p} k={k} done", file=sys.stderr)
        # a second llama.cpp baseline at the end of the round: one sample taken while the machine was busy
        # would otherwise skew every speedup of the round
        base_skip = llama_base(args, base, base_skip)

    bl, bq = med(base["llama"], "tok_s"), med(base["qwen3"], "tok_s")
    print(f"\nspeculative decoding, qwen3 vs llama.cpp: target {args.target} ({args.quant}), {args.threads} threads, "
          f"greedy, {args.gen} tokens, medians of {args.repeat} alternating runs")
    print(f"prompt: {args.prompt!r}\n")
    print("| proposer | k | llama acc % | llama tok/verify | llama tok/s | llama speedup | qwen3 acc % "
          "| qwen3 tok/verify | qwen3 tok/s | qwen3 speedup | ratio qwen3/llama |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| none (baseline) | - | - | 1.00 | {fmt_num(bl)} | {'-' if bl is None else '1.00'} | - | 1.00 "
          f"| {fmt_num(bq)} | {'-' if bq is None else '1.00'} "
          f"| {fmt_num(ratio(bq, bl), '.2f')} |")
    notes = []
    for p in proposers:
        for k in ks:
            r = results[(p, k)]
            L = {x: med(r["llama"], x) for x in ("acceptance", "tok_per_verify", "tok_s")}
            Q = {x: med(r["qwen3"], x) for x in ("acceptance", "tok_per_verify", "tok_s", "base_tok_s")}
            print(f"| {p} | {k} | {fmt_num(L['acceptance'] and 100 * L['acceptance'])} "
                  f"| {fmt_num(L['tok_per_verify'], '.2f')} | {fmt_num(L['tok_s'])} "
                  f"| {fmt_num(ratio(L['tok_s'], bl), '.2f')} "
                  f"| {fmt_num(Q['acceptance'] and 100 * Q['acceptance'])} | {fmt_num(Q['tok_per_verify'], '.2f')} "
                  f"| {fmt_num(Q['tok_s'])} | {fmt_num(ratio(Q['tok_s'], Q['base_tok_s']), '.2f')} "
                  f"| {fmt_num(ratio(Q['tok_s'], L['tok_s']), '.2f')} |")
        for who in ("llama", "qwen3"):
            if skip[p][who] and skip[p][who] != "not run (--engines)":
                notes.append(f"{p}: {skip[p][who]}")
    if base["note"]:
        notes.append(f"baseline: {base['note']}")
    print("\nspeedup: tok/s against the same engine's decoding without speculation (llama.cpp: llama-bench tg"
          f"{args.gen}; qwen3: baseline_decode_tok_s of the same run). acc: accepted / drafted tokens.")
    for n in notes:
        print(f"- skipped {n}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": {k: v for k, v in vars(args).items() if isinstance(v, (str, int, float, list, dict))},
                       "baseline": base,
                       "results": {f"{p} k={k}": r for (p, k), r in results.items()}}, fh, indent=1)


if __name__ == "__main__":
    main()
