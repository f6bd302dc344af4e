"""Shared by the CLI script tests: run the qwen3 binary (QWEN3_BIN) and count checks."""
import os
import subprocess
import sys

BIN = os.environ["QWEN3_BIN"]
counts = {"passed": 0, "failed": 0}


def run(*args, input=None):
    p = subprocess.run([BIN, *args], input=input, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def check(name, cond, detail=""):
    if cond:
        counts["passed"] += 1
    else:
        counts["failed"] += 1
        print(f"FAIL {name}: {detail}")


def finish():
    """Prints the closing line and exits non-zero when a check failed."""
    print(f"{counts['passed']} passed, {counts['failed']} failed")
    sys.exit(1 if counts["failed"] else 0)
