"""Shared by the CLI script tests: run the qwen3 binary (QWEN3_BIN) and count checks."""
import os
import signal
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


def job_ranks(pid):
    """The processes started by `pid` (an MPI launcher) that carry an MPI rank, from /proc:
    {rank: pid}. Children of children count too (a launcher may start a daemon that starts them)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
                parent[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    ranks, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp != p:
                continue
            todo.append(c)
            try:
                with open(f"/proc/{c}/environ", "rb") as f:
                    env = dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
                r = env.get(b"OMPI_COMM_WORLD_RANK", env.get(b"PMI_RANK"))
                if r is not None:
                    ranks[int(r)] = c
            except (OSError, ValueError):
                pass
    return ranks


def alive(pid):
    """True while `pid` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2] != "Z"
    except OSError:
        return False


def terminate_server(p, launched):
    """SIGTERM to a `qwen3 serve` started as `p`: under an MPI launcher (`launched`), to rank 0, which
    drains, releases the other ranks and ends the job with status 0 (a SIGTERM to mpirun itself kills
    every rank and exits 1); to `p` otherwise, or when rank 0 is not found."""
    rank0 = job_ranks(p.pid).get(0) if launched else None
    if rank0 is None:
        p.terminate()
    else:
        try:
            os.kill(rank0, signal.SIGTERM)
        except ProcessLookupError:
            pass
