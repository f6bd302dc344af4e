#!/usr/bin/python3
"""bench/plot_depth.py on the two compare_llama.py --json fixtures beside this script (a bf16 KV sweep
with three formats, one of which qwen3 could not run, and an fp8 KV sweep without a llama.cpp peer):
the SVG must hold exactly the expected lines (found by their ids), each through the medians computed
here from the fixtures at the right depths, with their legend labels; --formats filters; redrawing
gives the same bytes; bad input is an error naming the file. Fails (never skips) without matplotlib."""
import json
import os
import statistics
import sys
import tempfile

from svg_check import check, failures, polyline, runner, svg_parts

HERE = os.path.dirname(os.path.abspath(__file__))
plot = runner(os.path.join(HERE, "..", "..", "bench", "plot_depth.py"))
BF16, FP8 = os.path.join(HERE, "depth_bf16.json"), os.path.join(HERE, "depth_fp8.json")


def svg_lines(path):
    """(the texts, {id: [(x, y)] of the line}) of the SVG's depth-* series."""
    texts, ids = svg_parts(path)
    return texts, {i: polyline(e) for i, e in ids.items() if i.startswith("depth-")}


def expected(path):
    """{id: [(depth, median tok/s)]} computed from a fixture, independently of plot_depth.py."""
    j = json.load(open(path))
    s = j["_settings"]
    out = {}
    for fmt, r in j.items():
        if fmt == "_settings":
            continue
        for engine, kv in (("qwen3", s["kv_dtype"]), ("llama", s["llama_kv"])):
            if (engine == "qwen3" and r["status"] != "ok") or kv is None:
                continue
            pts = []
            for d in s["depths"]:
                v = [run["tg_at_depth"][str(d)] for run in r[engine] if str(d) in run.get("tg_at_depth", {})]
                if v:
                    pts.append((d, statistics.median(v)))
            if pts:
                out[f"depth-{engine}-{fmt}-{kv}"] = pts
    return out


def check_affine(lines, want, what):
    """Every vertex maps (depth, tok/s) to (x, y) by one affine map per axis: the values drawn are the
    medians, at their depths."""
    pairs = [(p, q) for k in want for p, q in zip(want[k], lines.get(k, []))]
    check(all(len(lines.get(k, [])) == len(want[k]) for k in want),
          f"{what}: vertex counts {[(k, len(lines.get(k, []))) for k in want]} != {[(k, len(v)) for k, v in want.items()]}")
    for axis in (0, 1):
        vals = sorted({(p[axis], q[axis]) for p, q in pairs})
        (a0, b0), (a1, b1) = vals[0], vals[-1]
        scale = (b1 - b0) / (a1 - a0)
        span = abs(b1 - b0)
        bad = [(a, b) for a, b in vals if abs(b0 + (a - a0) * scale - b) > 1e-3 * span]
        check(not bad, f"{what}: axis {axis}: points off the affine map {bad[:4]}")


def main():
    with tempfile.TemporaryDirectory(prefix="qwen3_plot_depth_") as tmp:
        out = os.path.join(tmp, "img", "depth.svg")  # the folder does not exist yet
        r = plot(BF16, FP8, "--out", out, "--title", "T depth")
        check(r.returncode == 0, f"plot_depth.py: exit {r.returncode}: {r.stderr}")
        if r.returncode == 0:
            texts, lines = svg_lines(out)
            want = {**expected(BF16), **expected(FP8)}
            # The fixtures' series, written out: q4 has llama.cpp's line only, fp8 qwen3's only.
            ids = {"depth-qwen3-bf16-bf16", "depth-llama-bf16-f16", "depth-qwen3-q8-bf16", "depth-llama-q8-f16",
                   "depth-llama-q4-f16", "depth-qwen3-bf16-fp8"}
            check(set(want) == ids, f"fixture series {sorted(want)}")
            check(set(lines) == ids, f"depth.svg series {sorted(lines)} != {sorted(ids)}")
            check(want["depth-qwen3-bf16-bf16"] == [(0, 32.0), (2048, 21.0), (8192, 11.0)], want["depth-qwen3-bf16-bf16"])
            check(want["depth-llama-bf16-f16"] == [(0, 26.0), (2048, 15.0), (8192, 6.5)], want["depth-llama-bf16-f16"])
            check(want["depth-qwen3-q8-bf16"] == [(0, 45.0), (8192, 18.0)], want["depth-qwen3-q8-bf16"])
            check_affine(lines, want, "depth.svg")
            for t in ("T depth", "context depth (tokens)", "decode tokens/s", "qwen3.cpp bf16 weights, KV bf16",
                      "llama.cpp bf16 weights, KV f16", "qwen3.cpp bf16 weights, KV fp8", "llama.cpp q4 weights, KV f16",
                      "0", "2048", "8192"):
                check(t in texts, f"depth.svg: no text '{t}'")
            again = os.path.join(tmp, "again.svg")
            plot(BF16, FP8, "--out", again, "--title", "T depth")
            check(open(out, "rb").read() == open(again, "rb").read(), "redrawing gives another file")

        q8 = os.path.join(tmp, "q8.svg")
        r = plot(BF16, FP8, "--out", q8, "--formats", "q8")
        check(r.returncode == 0, f"--formats q8: {r.stderr}")
        if r.returncode == 0:
            _, lines = svg_lines(q8)
            check(set(lines) == {"depth-qwen3-q8-bf16", "depth-llama-q8-f16"}, f"--formats q8: {sorted(lines)}")

        # A deep sweep run on its own (same format and KV dtype, other depths) extends the lines of
        # the shallow one: one line per series, its vertices at the depths of both files.
        j = json.load(open(BF16))
        deep = {"_settings": {**j["_settings"], "depths": [16384, 32768], "repeat": 1},
                "q8": {"status": "ok", "qwen3": [{"tg_at_depth": {"16384": 9.0, "32768": 5.0}}],
                       "llama": [{"tg_at_depth": {"16384": 2.5, "32768": 1.25}}]}}
        deep_path = os.path.join(tmp, "deep.json")
        with open(deep_path, "w") as fh:
            json.dump(deep, fh)
        joined = os.path.join(tmp, "joined.svg")
        r = plot(BF16, deep_path, "--out", joined, "--formats", "q8")
        check(r.returncode == 0, f"joined sweeps: {r.stderr}")
        if r.returncode == 0:
            texts, lines = svg_lines(joined)
            want = expected(BF16)
            want = {"depth-qwen3-q8-bf16": want["depth-qwen3-q8-bf16"] + [(16384, 9.0), (32768, 5.0)],
                    "depth-llama-q8-f16": want["depth-llama-q8-f16"] + [(16384, 2.5), (32768, 1.25)]}
            check(set(lines) == set(want), f"joined sweeps: series {sorted(lines)}")
            check(sum(1 for t in texts if t == "qwen3.cpp q8 weights, KV bf16") == 1, "joined sweeps: one legend entry per line")
            check_affine(lines, want, "joined.svg")
            check("32768" in texts, "joined.svg: no 32768 tick")

        bad = os.path.join(tmp, "bad.json")
        for content, what in (("{not json", "not JSON"), (json.dumps({"bf16": {"status": "ok"}}), "no _settings")):
            with open(bad, "w") as fh:
                fh.write(content)
            r = plot(bad, "--out", os.path.join(tmp, "x.svg"))
            check(r.returncode != 0 and "bad.json" in r.stderr and "Traceback" not in r.stderr,
                  f"{what}: exit {r.returncode}, stderr {r.stderr!r}")
        r = plot(BF16, "--out", os.path.join(tmp, "x.svg"), "--formats", "q5")
        check(r.returncode != 0 and "q5" in r.stderr and "Traceback" not in r.stderr, f"--formats q5: {r.stderr!r}")
    print(f"plot_depth: {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
