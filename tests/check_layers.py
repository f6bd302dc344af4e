#!/usr/bin/python3
"""The floors of src/: every #include and every CMake module dependency points down.

  /usr/bin/python3 tests/check_layers.py [REPO]

Reads the table under "## Floors" in docs/design.md (folder | may include | ...), then fails, naming
file and line, when
  - a file under src/F/ includes "G/..." for a folder G that F's row does not list,
  - a folder under src/ has no row (a new floor must be placed in the table),
  - a file outside src/kernels/ includes "kernels/cpu/..." or "kernels/ref/..." (the ISA stays hidden),
  - an #include climbs with "../",
  - a `qwen3_module(F DEPS ...)` line in CMakeLists.txt links qwen3_G for a G that F's row does not list.
Exit status 0 when all is well, 1 otherwise.
"""
import os
import re
import sys

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def read_floors():
    path = os.path.join(REPO, "docs", "design.md")
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^## Floors\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        sys.exit(f"{path}: no '## Floors' section")
    floors = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("folder", "") or set(cells[0]) <= set("-"):
            continue
        allowed = {c.strip() for c in cells[1].split(",") if c.strip()}
        floors[cells[0]] = allowed
    if len(floors) < 5:
        sys.exit(f"{path}: the Floors table has {len(floors)} rows; expected one per folder under src/")
    return floors


def main():
    floors = read_floors()
    errors = []
    src = os.path.join(REPO, "src")
    folders = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    for d in folders:
        if d not in floors:
            errors.append(f"src/{d}/: no row in the Floors table of docs/design.md")
    for unknown in sorted(set().union(*floors.values()) - set(floors)):
        errors.append(f"docs/design.md: '{unknown}' is allowed somewhere but has no row of its own")
    files = 0
    for root, _, names in os.walk(src):
        for name in sorted(names):
            if not name.endswith((".h", ".cpp", ".inc", ".cu", ".cuh")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, REPO)
            folder = os.path.relpath(path, src).split(os.sep)[0]
            allowed = floors.get(folder, set()) | {folder}
            files += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for no, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    inc = m.group(1)
                    if inc.startswith("../") or "/../" in inc:
                        errors.append(f"{rel}:{no}: #include \"{inc}\" climbs out of its folder")
                        continue
                    if "/" not in inc:
                        continue  # a header next to this file
                    target = inc.split("/")[0]
                    if target not in floors and not os.path.isdir(os.path.join(src, target)):
                        continue  # not one of ours
                    if target not in allowed:
                        errors.append(f"{rel}:{no}: {folder}/ includes \"{inc}\", but {folder} may include only "
                                      f"{', '.join(sorted(floors.get(folder, []))) or 'nothing'}")
                    elif folder != "kernels" and re.match(r"kernels/(cpu|ref|cuda)/", inc):
                        errors.append(f"{rel}:{no}: \"{inc}\" is inside the kernels: outside src/kernels/ only "
                                      f"kernels/kernels.h and the headers next to it may be included")
    cmake = os.path.join(REPO, "CMakeLists.txt")
    for no, line in enumerate(open(cmake, encoding="utf-8"), 1):
        m = re.match(r"\s*qwen3_module\((\w+)(.*)\)", line)
        if not m:
            continue
        mod, rest = m.group(1), m.group(2)
        for dep in re.findall(r"qwen3_(\w+)", rest):
            if dep not in floors.get(mod, set()):
                errors.append(f"CMakeLists.txt:{no}: module {mod} links qwen3_{dep}, which its row does not list")
    if errors:
        print("\n".join(errors))
        print(f"check_layers: {len(errors)} violation(s) in {files} files")
        return 1
    print(f"check_layers: {files} files under src/, {len(folders)} folders, every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
