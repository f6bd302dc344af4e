#!/usr/bin/env python3
"""A competing process for benchmarks: spins for BUSY milliseconds, sleeps for IDLE, forever.

    python3 bench/cpu_load.py 3 7 &   # about 30 % of one core, in 3 ms bursts

docs/benchmarks.md ("Work claimed as threads come free") ran `qwen3 bench` beside it.
"""
import sys
import time

if len(sys.argv) != 3:
    sys.exit("usage: cpu_load.py BUSY_MS IDLE_MS")
busy, idle = float(sys.argv[1]) / 1000, float(sys.argv[2]) / 1000
while True:
    t = time.perf_counter()
    while time.perf_counter() - t < busy:
        pass
    time.sleep(idle)
