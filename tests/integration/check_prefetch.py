#!/usr/bin/env python3
"""The software prefetches of the matmul drivers are in the binary (x86-64).

From a832e82 to this check, the float driver's prefetch (Simd::prefetch_float_next, a helper that
calls another helper around _mm_prefetch) compiled to nothing: GCC did not inline it into the large
tile functions, found it free of side effects and dropped the calls, so float-weight decode ran
without the prefetch the docs describe. The helpers are always_inline now; this reads the
disassembly of $QWEN3_BIN (objdump) and fails unless the float, fp8 and q8/q4 drivers each have
prefetch instructions on every x86 ISA the binary carries (AVX-512 and AVX2: two copies of each
driver, one per ISA, under the same anonymous-namespace names).
"""
import os
import platform
import re
import shutil
import subprocess
import sys

if platform.machine() not in ("x86_64", "AMD64"):
    print("check_prefetch: not an x86-64 machine, nothing to check")
    sys.exit(0)
objdump = shutil.which("objdump")
if not objdump:
    sys.exit("check_prefetch: objdump not found (binutils)")
binary = os.environ.get("QWEN3_BIN") or (sys.argv[1] if len(sys.argv) > 1 else "")
if not binary or not os.path.exists(binary):
    sys.exit("check_prefetch: set QWEN3_BIN to the qwen3 binary")

DRIVERS = ("float_matmul::", "fp8_matmul::", "quant_matmul::")
out = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", binary], capture_output=True, text=True, check=True).stdout
func_re = re.compile(r"^[0-9a-f]+ <(.*)>:$")
with_prefetch = {}  # driver -> set of function start lines holding a prefetch
current = None
for line in out.splitlines():
    m = func_re.match(line)
    if m:
        current = line
        continue
    if current and "prefetch" in line:
        for driver in DRIVERS:
            if driver in current:
                with_prefetch.setdefault(driver, set()).add(current)

failed = False
for driver in DRIVERS:
    funcs = with_prefetch.get(driver, set())
    # One set of functions per ISA: matmul_rows / run_tokens / tile_fn instantiations of both.
    print(f"check_prefetch: {driver[:-2]}: {len(funcs)} functions with prefetch instructions")
    if len(funcs) < 2:
        print(f"check_prefetch: FAIL: {driver[:-2]} has prefetch instructions in {len(funcs)} functions "
              "(expected some in the AVX-512 and the AVX2 copy)")
        failed = True
sys.exit(1 if failed else 0)
