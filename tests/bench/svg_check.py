"""Shared by the tests of bench/plot.py and bench/plot_depth.py: run a plot script, read the SVG it
wrote (texts, the elements with an id, a line's vertices), count the failed checks."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def runner(script):
    """A function that runs `script` with its arguments and returns the CompletedProcess."""
    def run(*args):
        return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=120)
    return run


def svg_parts(path):
    """(the texts, {id: element}) of an SVG."""
    root = ET.parse(path).getroot()
    texts = ["".join(t.itertext()).strip() for t in root.iter(SVG + "text")]
    ids = {e.get("id"): e for e in root.iter() if e.get("id")}
    return texts, ids


def polyline(group):
    """The (x, y) vertices of the line in a matplotlib Line2D group (its first path: M x y L x y ...)."""
    path = next(group.iter(SVG + "path"))
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", path.get("d"))]
    return list(zip(nums[0::2], nums[1::2]))
