#!/usr/bin/python3
"""Benchmark results drawn as SVG (matplotlib, Agg backend), for docs/img/.

  /usr/bin/python3 bench/plot.py serving A.json [B.json ...] --out docs/img/serving.svg [--title T]
  /usr/bin/python3 bench/plot.py compare R.json --out docs/img/compare_llama.svg [--title T]

serving: the --json files of bench/serve_bench.mjs, one series each (named by the file's "label",
else by its name): output tokens/s of all requests together, and inter-token latency p50 (dashed)
and p99 (solid), against the number of concurrent requests.

compare: the --json file of bench/compare_llama.py: one panel per test (pp, tg, tg at depth), a
pair of bars per format (llama.cpp and qwen3, the medians of the alternating runs), with the ratio
qwen3 / llama.cpp written over the pair. A format qwen3 could not run is marked "unsupported".

The SVG keeps its text as text (searchable, smaller) and carries no date, so that redrawing the same
figures gives the same file. Every figure comes from the JSON given: nothing is hard-coded.
"""
import argparse
import json
import os
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "qwen3.cpp", "font.size": 10})

# compare_llama.py's tests, in the order drawn, with their titles; keys it may add later are drawn
# after these under their own name.
COMPARE_TESTS = {"pp": "prompt processing (pp)", "tg": "decode (tg)", "tg_depth": "decode at depth (tg_depth)"}
LLAMA_COLOR, QWEN3_COLOR = "#9a9a9a", "#1f77b4"


def gid(*parts):
    """An SVG id for an artist, so that a test (tests/bench) can find each series: words joined by '-'."""
    return "-".join(re.sub(r"[^A-Za-z0-9_.]+", "_", str(p)) for p in parts)


def fail(msg):
    sys.exit(f"plot.py: {msg}")


def load(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{path}: {e}")


def save(fig, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)


def serving_series(path):
    """(label, [level dicts sorted by concurrency]) from one serve_bench.mjs --json file."""
    j = load(path)
    levels = j.get("levels") if isinstance(j, dict) else None
    if not isinstance(levels, list) or not levels:
        fail(f"{path}: no 'levels' (write it with node bench/serve_bench.mjs --json FILE)")
    keys = ("concurrency", "output_tok_s", "itl_p50_ms", "itl_p99_ms")
    for i, lv in enumerate(levels):
        missing = [k for k in keys if not isinstance(lv.get(k) if isinstance(lv, dict) else None, (int, float))]
        if missing:
            fail(f"{path}: levels[{i}] has no number for {', '.join(missing)}")
    label = j.get("label") or os.path.splitext(os.path.basename(path))[0]
    return label, sorted(levels, key=lambda lv: lv["concurrency"])


def plot_serving(args):
    series = [serving_series(p) for p in args.files]
    labels = [s[0] for s in series]
    if len(set(labels)) != len(labels):
        fail(f"two series have the same label ({', '.join(labels)}): give each file its own --label in serve_bench")
    fig, (tput, itl) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    concurrencies = sorted({lv["concurrency"] for _, levels in series for lv in levels})
    for n, (label, levels) in enumerate(series):
        color = f"C{n}"
        c = [lv["concurrency"] for lv in levels]
        (line,) = tput.plot(c, [lv["output_tok_s"] for lv in levels], "o-", color=color, label=label)
        line.set_gid(gid("tok_s", label))
        for key, style, name in (("itl_p50_ms", "o--", "p50"), ("itl_p99_ms", "s-", "p99")):
            (line,) = itl.plot(c, [lv[key] for lv in levels], style, color=color, label=f"{label} {name}")
            line.set_gid(gid("itl", name, label))
    for ax in (tput, itl):
        ax.set_xscale("log", base=2)
        ax.set_xticks(concurrencies)
        ax.set_xticklabels([str(c) for c in concurrencies])
        ax.set_xlabel("concurrent requests")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
    tput.set_ylabel("output tokens/s, all requests")
    tput.set_title("throughput")
    itl.set_ylabel("inter-token latency (ms)")
    itl.set_title("inter-token latency, p50 (dashed) and p99")
    if args.title:
        fig.suptitle(args.title)
    save(fig, args.out)


def compare_rows(path):
    """[(format, status, {test: llama median}, {test: qwen3 median})] and the tests, in order."""
    j = load(path)
    if not isinstance(j, dict):
        fail(f"{path}: not compare_llama.py's --json output (an object of formats)")
    rows, tests = [], []
    for fmt, r in j.items():
        # Formats are objects with the two engines' runs; anything else (metadata) is not drawn.
        if not isinstance(r, dict) or not isinstance(r.get("llama"), list):
            continue
        if r.get("status") not in ("ok", "unsupported"):
            continue  # unknown, skipped, no gguf: nothing was measured

        def medians(runs):
            out = {}
            for k in {k for run in runs for k, v in run.items() if isinstance(v, (int, float))}:
                v = [run[k] for run in runs if isinstance(run.get(k), (int, float))]
                out[k] = statistics.median(v)
            return out

        llama, qwen3 = medians(r["llama"]), medians(r.get("qwen3") or [])
        for k in llama:  # the tests are what llama-bench measured (qwen3's runs carry GB/s too)
            if k not in tests:
                tests.append(k)
        rows.append((fmt, r["status"], llama, qwen3 if r["status"] == "ok" else {}))
    if not rows:
        fail(f"{path}: no format with measurements")
    tests.sort(key=lambda k: (list(COMPARE_TESTS).index(k) if k in COMPARE_TESTS else len(COMPARE_TESTS), k))
    return rows, tests


def plot_compare(args):
    rows, tests = compare_rows(args.files[0])
    fig, axes = plt.subplots(1, len(tests), figsize=(4 * len(tests), 4), squeeze=False, layout="constrained")
    width = 0.38
    for ax, test in zip(axes[0], tests):
        top = max([v for _, _, L, Q in rows for v in (L.get(test), Q.get(test)) if v is not None] + [1.0])
        for x, (fmt, status, L, Q) in enumerate(rows):
            lv, qv = L.get(test), Q.get(test)
            if lv is not None:
                ax.bar(x - width / 2, lv, width, color=LLAMA_COLOR, gid=gid("llama.cpp", fmt, test))
            if qv is not None:
                ax.bar(x + width / 2, qv, width, color=QWEN3_COLOR, gid=gid("qwen3", fmt, test))
            if status == "unsupported":
                ax.text(x + width / 2, 0.02 * top, "unsupported", rotation=90, ha="center", va="bottom", fontsize=8)
            elif lv and qv is not None:
                ax.text(x, max(lv, qv) + 0.02 * top, f"{qv / lv:.2f}×", ha="center", va="bottom", fontweight="bold")
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([fmt for fmt, _, _, _ in rows])
        ax.set_title(COMPARE_TESTS.get(test, test))
        ax.set_ylabel("tokens/s")
        ax.set_ylim(0, top * 1.25)  # room for the ratios and the legend
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].legend([plt.Rectangle((0, 0), 1, 1, color=c) for c in (LLAMA_COLOR, QWEN3_COLOR)],
                      ["llama.cpp", "qwen3.cpp"], loc="upper left")
    note = "medians of the alternating runs; over each pair: qwen3 / llama.cpp"
    fig.suptitle(f"{args.title}\n{note}" if args.title else note)
    save(fig, args.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["serving", "compare"])
    ap.add_argument("files", nargs="+", help="JSON written by serve_bench.mjs --json (serving) or compare_llama.py --json")
    ap.add_argument("--out", required=True, help="the SVG to write")
    ap.add_argument("--title", help="a title over the figure (the model, the machine, the date)")
    args = ap.parse_args()
    if args.kind == "compare" and len(args.files) != 1:
        fail("compare draws one compare_llama.py --json file")
    (plot_serving if args.kind == "serving" else plot_compare)(args)


if __name__ == "__main__":
    main()
