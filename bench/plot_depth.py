#!/usr/bin/python3
"""Decode speed against context depth, both engines, as SVG (matplotlib, Agg backend), for docs/img/.

  /usr/bin/python3 bench/plot_depth.py SWEEP.json [SWEEP2.json ...] --out docs/img/depth.svg \\
      [--formats bf16,q8] [--title T]

Each SWEEP.json is the --json file of one `bench/compare_llama.py --depth 0,2048,...` run (one KV
dtype per run: its "_settings"). One line per engine, weight format and KV dtype (joined across
files, so a deep sweep run on its own extends a shallower one's line): the median over
the alternating runs of decode tok/s at each depth ("tg_at_depth"); llama.cpp's lines are dashed and
name its own cache type (f16 against qwen3's bf16, q8_0 against q8). A depth without a measurement
is left out of its line; a format qwen3 could not run has only llama.cpp's line.

The SVG keeps its text as text and carries no date, so that redrawing the same figures gives the
same file; every line is an SVG group whose id is depth-ENGINE-FORMAT-KV (tests/bench finds them).
Every figure comes from the JSON given: nothing is hard-coded.
"""
import argparse
import json
import statistics
import sys

from plot import gid, plt, save  # bench/plot.py: matplotlib's Agg backend and the SVG settings

# Per engine: its name, line style and one colour per KV dtype (in the order met); a marker per format.
ENGINES = {"qwen3": ("qwen3.cpp", "-", ["#1f77b4", "#2ca02c", "#9467bd", "#d62728"]),
           "llama": ("llama.cpp", "--", ["#7f7f7f", "#bcbd22", "#8c564b", "#e377c2"])}
MARKERS = "os^Dv<>p"


def fail(msg):
    sys.exit(f"plot_depth.py: {msg}")


def medians_at_depth(runs, depths):
    """[(depth, median tok/s)] over the runs' "tg_at_depth", for the depths that have a value."""
    out = []
    for d in depths:
        v = [r["tg_at_depth"][str(d)] for r in runs
             if isinstance(r.get("tg_at_depth"), dict) and isinstance(r["tg_at_depth"].get(str(d)), (int, float))]
        if v:
            out.append((d, statistics.median(v)))
    return out


def sweep_series(path, formats):
    """[(engine, format, kv dtype, [(depth, tok/s)])] of one compare_llama.py --json file."""
    try:
        with open(path) as fh:
            j = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{path}: {e}")
    settings = j.get("_settings") if isinstance(j, dict) else None
    if not isinstance(settings, dict) or not isinstance(settings.get("depths"), list) or "kv_dtype" not in settings:
        fail(f"{path}: not the --json of bench/compare_llama.py --depth LIST (no \"_settings\" with depths and kv_dtype)")
    depths = sorted(settings["depths"])
    if not depths:
        fail(f"{path}: compare_llama.py ran without depths (--depth 0)")
    out = []
    for fmt, r in j.items():
        if fmt == "_settings" or not isinstance(r, dict) or (formats and fmt not in formats):
            continue
        if r.get("status") == "ok":
            out.append(("qwen3", fmt, settings["kv_dtype"], medians_at_depth(r.get("qwen3") or [], depths)))
        if settings.get("llama_kv"):
            out.append(("llama", fmt, settings["llama_kv"], medians_at_depth(r.get("llama") or [], depths)))
    return [s for s in out if s[3]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="the --json files of bench/compare_llama.py --depth LIST")
    ap.add_argument("--out", required=True, help="SVG to write (its folder is made)")
    ap.add_argument("--formats", default="", help="weight formats to draw (default: all)")
    ap.add_argument("--title", default="Decode speed against context depth")
    args = ap.parse_args()
    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    # One line per (engine, format, KV dtype): files that measured the same one at other depths (a
    # deep sweep run apart from a shallow one) add their points to it; a depth measured twice keeps
    # the first file's figure.
    merged = {}
    for path in args.files:
        for engine, fmt, kv, pts in sweep_series(path, formats):
            line = merged.setdefault((engine, fmt, kv), {})
            for d, v in pts:
                line.setdefault(d, v)
    series = [(e, f, k, sorted(pts.items())) for (e, f, k), pts in merged.items()]
    if not series:
        fail("no measurement to draw in " + ", ".join(args.files) + (f" for --formats {args.formats}" if formats else ""))
    fmts = list(dict.fromkeys(fmt for _, fmt, _, _ in series))
    kvs = {e: list(dict.fromkeys(kv for engine, _, kv, _ in series if engine == e)) for e in ENGINES}
    fig, ax = plt.subplots(figsize=(7, 4.2))
    depths = sorted({d for *_, pts in series for d, _ in pts})
    for engine, fmt, kv, pts in series:
        name, style, colors = ENGINES[engine]
        color = colors[kvs[engine].index(kv) % len(colors)]
        marker = MARKERS[fmts.index(fmt) % len(MARKERS)]
        (line,) = ax.plot([d for d, _ in pts], [v for _, v in pts], linestyle=style, marker=marker, color=color,
                          label=f"{name} {fmt} weights, KV {kv}")
        line.set_gid(gid("depth", engine, fmt, kv))
    ax.set_xticks(depths)
    ax.set_xticklabels([str(d) for d in depths], rotation=45 if len(depths) > 5 else 0)
    ax.set_xlabel("context depth (tokens)")
    ax.set_ylabel("decode tokens/s")
    ax.set_ylim(bottom=0)
    ax.set_title(args.title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, args.out)


if __name__ == "__main__":
    main()
