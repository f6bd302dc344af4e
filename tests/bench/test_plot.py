#!/usr/bin/python3
"""bench/plot.py on the small JSON files beside this script, in the shapes bench/serve_bench.mjs --json
and bench/compare_llama.py --json write: the SVGs must hold every series (found by the ids plot.py gives
them), in concurrency order, with the labels, and the ratios of the medians computed here from the
fixtures; bad input must be an error naming the file. Fails (never skips) without matplotlib."""
import os
import statistics
import sys
import tempfile

from svg_check import check, failures, polyline, runner, svg_parts

HERE = os.path.dirname(os.path.abspath(__file__))
plot = runner(os.path.join(HERE, "..", "..", "bench", "plot.py"))


def fixture(name):
    return os.path.join(HERE, name)


def test_serving(tmp):
    out = os.path.join(tmp, "img", "serving.svg")  # the folder does not exist yet
    r = plot("serving", fixture("serving_exact.json"), fixture("serving_fast.json"), "--out", out, "--title", "T1")
    check(r.returncode == 0, f"plot.py serving: exit {r.returncode}: {r.stderr}")
    if r.returncode != 0:
        return
    texts, ids = svg_parts(out)
    # serving_exact.json has "label": "exact numerics"; serving_fast.json has none: its file name.
    for t in ("exact numerics", "serving_fast", "exact numerics p50", "exact numerics p99", "serving_fast p50",
              "serving_fast p99", "concurrent requests", "output tokens/s, all requests", "inter-token latency (ms)", "T1",
              "1", "4", "16"):
        check(t in texts, f"serving.svg: no text '{t}'")
    for series in ("tok_s-exact_numerics", "tok_s-serving_fast", "itl-p50-exact_numerics", "itl-p99-exact_numerics",
                   "itl-p50-serving_fast", "itl-p99-serving_fast"):
        g = ids.get(series)
        check(g is not None, f"serving.svg: no series '{series}'")
        if g is None:
            continue
        pts = polyline(g)
        check(len(pts) == 3, f"{series}: {len(pts)} points, want 3 (concurrency 1, 4, 16)")
        xs = [x for x, _ in pts]
        # serving_fast.json lists its levels 16, 1, 4: they must be drawn in concurrency order.
        check(xs == sorted(xs) and len(set(xs)) == 3, f"{series}: x not in concurrency order: {xs}")
        ys = [y for _, y in pts]  # SVG y grows downwards; every fixture series grows with concurrency
        check(ys == sorted(ys, reverse=True), f"{series}: values not increasing with concurrency: {ys}")
    # The same input draws the same file (no date, fixed ids).
    again = os.path.join(tmp, "again.svg")
    plot("serving", fixture("serving_exact.json"), fixture("serving_fast.json"), "--out", again, "--title", "T1")
    check(open(out, "rb").read() == open(again, "rb").read(), "serving.svg differs between two runs")


def test_compare(tmp):
    import json
    out = os.path.join(tmp, "compare.svg")
    r = plot("compare", fixture("compare.json"), "--out", out)
    check(r.returncode == 0, f"plot.py compare: exit {r.returncode}: {r.stderr}")
    if r.returncode != 0:
        return
    texts, ids = svg_parts(out)
    data = json.load(open(fixture("compare.json")))
    for fmt in ("bf16", "q8"):  # status ok: both engines, and the ratio of the medians over the pair
        for test in ("pp", "tg", "tg_depth"):
            lm = statistics.median(run[test] for run in data[fmt]["llama"])
            qm = statistics.median(run[test] for run in data[fmt]["qwen3"])
            check(f"{qm / lm:.2f}×" in texts, f"compare.svg: {fmt} {test}: no ratio {qm / lm:.2f}× (texts {texts})")
            check(f"llama.cpp-{fmt}-{test}" in ids and f"qwen3-{fmt}-{test}" in ids, f"compare.svg: no bars {fmt} {test}")
    for test in ("pp", "tg", "tg_depth"):  # q4: qwen3 unsupported, llama.cpp measured; f16 skipped
        check(f"llama.cpp-q4-{test}" in ids, f"compare.svg: no llama.cpp bar q4 {test}")
        check(f"qwen3-q4-{test}" not in ids, f"compare.svg: a qwen3 bar for the unsupported q4 {test}")
        check(not any(i.endswith(f"-f16-{test}") for i in ids), f"compare.svg: a bar for the skipped f16 {test}")
    check(texts.count("unsupported") == 3, f"compare.svg: {texts.count('unsupported')} 'unsupported' marks, want 3")
    for t in ("bf16", "q8", "q4", "llama.cpp", "qwen3.cpp", "prompt processing (pp)", "decode (tg)",
              "decode at depth (tg_depth)"):
        check(t in texts, f"compare.svg: no text '{t}'")
    check("f16" not in texts, "compare.svg: the skipped format f16 is drawn")


def test_errors(tmp):
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as fh:
        fh.write('{"levels": [{"concurrency": 1, "output_tok_s": 5}]}')
    r = plot("serving", bad, "--out", os.path.join(tmp, "x.svg"))
    check(r.returncode != 0 and "bad.json" in r.stderr and "itl_p50_ms" in r.stderr,
          f"a level without latencies: want an error naming the file and the field, got {r.returncode}: {r.stderr}")
    with open(bad, "w") as fh:
        fh.write("not json")
    r = plot("compare", bad, "--out", os.path.join(tmp, "x.svg"))
    check(r.returncode != 0 and "bad.json" in r.stderr, f"invalid JSON: want an error naming the file: {r.stderr}")
    r = plot("serving", fixture("compare.json"), "--out", os.path.join(tmp, "x.svg"))
    check(r.returncode != 0 and "levels" in r.stderr, f"compare JSON given to serving: want an error: {r.stderr}")
    r = plot("serving", fixture("serving_exact.json"), fixture("serving_exact.json"), "--out", os.path.join(tmp, "x.svg"))
    check(r.returncode != 0 and "same label" in r.stderr, f"two series with one label: want an error: {r.stderr}")
    check(not os.path.exists(os.path.join(tmp, "x.svg")), "an SVG was written for bad input")


with tempfile.TemporaryDirectory(prefix="qwen3_plot_") as tmp:
    test_serving(tmp)
    test_compare(tmp)
    test_errors(tmp)
if failures:
    sys.exit(f"{len(failures)} failure(s)")
print("bench/plot.py: serving and compare SVGs hold every series, label and ratio; bad input refused")
