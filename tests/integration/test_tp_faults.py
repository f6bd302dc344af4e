#!/usr/bin/python3
"""Faults of a tensor-parallel job (`mpirun -n N qwen3 ...`). A rank killed (SIGKILL) while
`qwen3 serve` streams, while it idles, or while `qwen3 generate` runs ends the whole job within
10 s, non-zero, with mpirun naming the rank, and leaves no rank running; a SIGTERM to mpirun ends
the job too. Ranks that disagree at start-up (MPMD launches: config.json, tensor index, options, a
missing model folder or checkpoint, a world size that does not divide the heads) are refused within
30 s with a message naming the rank and what differs; a copy of the model in another folder and
another --threads on rank 1 are accepted and give the logits of one process. QWEN3_BIN points at
the binary; mpirun must be on PATH."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import BIN, alive, check, finish, job_ranks  # noqa: E402

MPIRUN = shutil.which("mpirun")
if not MPIRUN:
    print("SKIP: no mpirun")
    sys.exit(77)
LAUNCH = [MPIRUN, "--oversubscribe", "--bind-to", "none"]
ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
jobs = []


class Job:
    """An mpirun job; its stdout and stderr are read by threads as they come."""

    def __init__(self, args):
        self.p = subprocess.Popen(LAUNCH + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        self.out, self.err, self.seen = [], [], {}
        self.readers = [threading.Thread(target=self._read, args=(s, acc), daemon=True)
                        for s, acc in [(self.p.stdout, self.out), (self.p.stderr, self.err)]]
        for t in self.readers:
            t.start()
        # The rank processes, noted while the job runs (a refused job's live only a second).
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()
        jobs.append(self)

    def _watch(self):
        while self.p.poll() is None:
            self.seen.update(job_ranks(self.p.pid))
            time.sleep(0.1)

    @staticmethod
    def _read(stream, acc):
        for line in iter(stream.readline, b""):
            acc.append(line.decode("utf-8", "replace"))

    def stderr(self):
        return "".join(self.err)

    def wait_for(self, pattern, timeout):
        """The match of `pattern` in stderr, or None when it does not come (or the job ends) in time."""
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.stderr())
            if m:
                return m
            if self.p.poll() is not None:
                time.sleep(0.2)  # what the readers still hold
                return re.search(pattern, self.stderr())
            time.sleep(0.05)
        return None

    def ranks(self, n, timeout=30):
        """{rank: pid} once all n rank processes run (what was found by the deadline otherwise)."""
        end = time.time() + timeout
        while True:
            r = job_ranks(self.p.pid)
            self.seen.update(r)
            if len(r) >= n or time.time() > end or self.p.poll() is not None:
                return r
            time.sleep(0.05)

    def wait(self, timeout):
        """The exit status, or None when the job is still running after `timeout` seconds."""
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self.readers:
            t.join(timeout=5)
        return rc

    def leftover(self, timeout=5):
        """The rank processes ever seen that still run after `timeout` seconds."""
        end = time.time() + timeout
        while time.time() < end and any(alive(p) for p in self.seen.values()):
            time.sleep(0.1)
        return {r: p for r, p in self.seen.items() if alive(p)}

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for p in self.seen.values():
            if alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def stream_request(port, result, started):
    """A long streamed completion; `started` is set after its third event (or when it fails)."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("POST", "/v1/completions", body=json.dumps(
            {"prompt": "Once upon a time", "max_tokens": 4000, "ignore_eos": True, "stream": True, "temperature": 0}),
            headers={"Content-Type": "application/json"})
        r = c.getresponse()
        result["status"] = r.status
        result["events"] = 0
        while True:
            line = r.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                result["events"] += 1
                if result["events"] == 3:
                    started.set()
        result["end"] = "end of stream"
    except Exception as e:  # noqa: BLE001 - the connection reset by the dying server is expected
        result["end"] = repr(e)
    finally:
        result["ended_at"] = time.time()
        started.set()


def check_job_ended(name, job, victim, t0):
    """The job ends within 10 s of killing rank `victim` (None: the launcher), non-zero, mpirun naming
    the rank, and no rank process is left."""
    rc = job.wait(max(0.0, t0 + 10 - time.time()))
    elapsed = time.time() - t0
    check(f"{name}: the job ends within 10 s", rc is not None, f"still running after {elapsed:.1f} s: {job.stderr()[-1500:]}")
    if rc is None:
        job.kill()
        rc = job.wait(10)
    if victim is not None:
        check(f"{name}: non-zero exit", rc not in (0, None), f"exit {rc}")
        check(f"{name}: stderr names rank {victim}", re.search(rf"\brank {victim}\b", job.stderr()) is not None,
              job.stderr()[-1500:])
    left = job.leftover()
    check(f"{name}: no rank left running", not left, left)
    return rc


def start_server(name, model):
    """A 2-rank `serve` job and its port, or (job, None) after a failed check (the job killed)."""
    job = Job([BIN, "serve", "--model", model, "--port", "0", "--quiet"])
    m = job.wait_for(r"listening on http://127\.0\.0\.1:(\d+)", 60)
    check(f"{name}: server starts", m is not None, job.stderr()[-1500:])
    if not m:
        job.kill()
        return job, None
    return job, int(m.group(1))


def serve_kill(model, victim, with_request):
    name = f"serve, rank {victim} killed {'mid-stream' if with_request else 'while idle'}"
    job, port = start_server(name, model)
    if port is None:
        return
    ranks = job.ranks(2)
    check(f"{name}: 2 ranks", sorted(ranks) == [0, 1], ranks)
    result, started = {}, threading.Event()
    client = None
    if with_request:
        client = threading.Thread(target=stream_request, args=(port, result, started), daemon=True)
        client.start()
        started.wait(30)
        check(f"{name}: streaming before the kill", result.get("status") == 200 and result.get("events", 0) >= 3
              and "end" not in result, result)
    if victim not in ranks:
        job.kill()
        return
    t0 = time.time()
    os.kill(ranks[victim], signal.SIGKILL)
    check_job_ended(name, job, victim, t0)
    if client:
        client.join(max(0.0, t0 + 10 - time.time()))
        check(f"{name}: the client's stream ends within 10 s", not client.is_alive() and result.get("ended_at", 1e18) - t0 < 10,
              result)


def serve_sigterm_launcher(model):
    name = "serve, SIGTERM to mpirun"
    job, port = start_server(name, model)
    if port is None:
        return
    check(f"{name}: 2 ranks", sorted(job.ranks(2)) == [0, 1], job.seen)
    t0 = time.time()
    job.p.terminate()
    check_job_ended(name, job, None, t0)


def generate_kill(model, victim):
    name = f"generate, rank {victim} killed"
    job = Job([BIN, "generate", "--model", model, "--ids", "1,2,3", "--max-tokens", "3000", "--ignore-eos",
               "--format", "json"])
    ranks = job.ranks(2)
    check(f"{name}: 2 ranks", sorted(ranks) == [0, 1], ranks)
    time.sleep(1.5)  # past loading, into the decode steps
    running = job.p.poll() is None
    check(f"{name}: still generating when killed", running, job.stderr()[-1500:])
    if not running or victim not in ranks:
        job.kill()
        return
    t0 = time.time()
    os.kill(ranks[victim], signal.SIGKILL)
    check_job_ended(name, job, victim, t0)
    check(f"{name}: no result printed", "decode_tokens_per_second" not in "".join(job.out), "".join(job.out)[:300])


def mpmd(a_args, b_args):
    """`mpirun -n 1 qwen3 <a_args> : -n 1 qwen3 <b_args>`: (exit status or None after 30 s, stderr)."""
    job = Job(["-n", "1", BIN, *a_args, ":", "-n", "1", BIN, *b_args])
    rc = job.wait(30)
    if rc is None:
        job.kill()
    left = job.leftover()
    return rc, job.stderr(), left


def refused(name, a_args, b_args, *needles):
    rc, err, left = mpmd(a_args, b_args)
    check(f"{name}: refused within 30 s", rc not in (0, None), f"exit {rc}: {err[-1500:]}")
    for n in needles:
        check(f"{name}: message has {n!r}", n in err, err[-1500:])
    check(f"{name}: no rank left running", not left, left)
    return err


def error_line(err):
    m = re.search(r"^qwen3: error: .*$", err, re.M)
    return m.group(0) if m else None


tmp = tempfile.mkdtemp(prefix="qwen3_tp_faults_")
try:
    A = os.path.join(tmp, "a")
    p = subprocess.run([BIN, "make-test-model", "--preset", "tiny", "--seed", "1", "--out", A], capture_output=True, text=True)
    check("make-test-model", p.returncode == 0, p.stderr)
    if not os.path.exists(os.path.join(A, "tokenizer.json")):
        print("FAIL: make-test-model found no tokenizer files (run npm ci at the repository root, or set QWEN3_TOKENIZER_DIR)")
        sys.exit(1)

    # --- a rank dies: the whole job ends ---
    serve_kill(A, 1, with_request=True)
    serve_kill(A, 0, with_request=True)
    serve_kill(A, 1, with_request=False)
    serve_sigterm_launcher(A)
    generate_kill(A, 1)
    generate_kill(A, 0)

    # --- start-up check: ranks that disagree are refused before any step ---
    eps = os.path.join(tmp, "eps")
    f32 = os.path.join(tmp, "f32")
    for out, extra in [(eps, ["--override", '{"rms_norm_eps": 1e-5}']), (f32, ["--dtype", "f32"])]:
        p = subprocess.run([BIN, "make-test-model", "--preset", "tiny", "--seed", "1", "--out", out, *extra],
                           capture_output=True, text=True)
        check(f"make-test-model {extra}", p.returncode == 0, p.stderr)
    npy = os.path.join(tmp, "x.npy")
    logits = lambda model, *extra: ["logits", "--model", model, "--ids", "1,2", "--out", npy, *extra]  # noqa: E731
    refused("other rms_norm_eps on rank 1", logits(A), logits(eps), "rank 1 differs from rank 0 in: config.json")
    refused("other dtype on rank 1", logits(A), logits(f32), "rank 1 differs from rank 0 in:", "tensor index")
    refused("--quant q8 on rank 1 only", logits(A), logits(A, "--quant", "q8"), "rank 1 differs from rank 0 in: options")
    refused("--kv-dtype f32 on rank 1 only", logits(A), logits(A, "--kv-dtype", "f32"),
            "rank 1 differs from rank 0 in: options")
    check("nothing written by a refused job", not os.path.exists(npy), npy)

    # The same model in another folder, other --threads: accepted, the logits of one process.
    copy = os.path.join(tmp, "elsewhere", "copy")
    shutil.copytree(A, copy)
    single, tp = os.path.join(tmp, "single.npy"), os.path.join(tmp, "tp.npy")
    ids = "1,2,3,4,5,6,7,8"
    p = subprocess.run([BIN, "logits", "--model", A, "--ids", ids, "--out", single], capture_output=True, text=True)
    check("logits, one process", p.returncode == 0, p.stderr)
    rc, err, left = mpmd(["logits", "--model", A, "--ids", ids, "--out", tp],
                         ["logits", "--model", copy, "--threads", "1", "--ids", ids, "--out", tp])
    check("a copy of the model elsewhere, --threads 1 on rank 1: accepted", rc == 0, f"exit {rc}: {err[-1500:]}")
    check("accepted job: no rank left running", not left, left)
    if rc == 0 and p.returncode == 0:
        x, y = np.load(single), np.load(tp)
        rel = float(np.max(np.abs(x - y)) / np.max(np.abs(x))) if x.shape == y.shape else float("inf")
        check("2 ranks: the logits of one process (max|diff| / max|x| < 1e-5)", rel < 1e-5, f"{x.shape} {y.shape} {rel}")

    # A missing model on one rank: the rank and the missing file are named.
    nope = os.path.join(tmp, "nope")
    refused("missing model folder on rank 1", logits(A), logits(nope), "rank 1", os.path.join(nope, "config.json"))
    nockpt = os.path.join(tmp, "nockpt")
    os.makedirs(nockpt)
    for f in os.listdir(A):
        if f.endswith(".json"):
            shutil.copy(os.path.join(A, f), nockpt)
    refused("no checkpoint on rank 1", logits(A), logits(nockpt), "rank 1", "model.safetensors")
    # Rank 0's error alone is said as one process says it.
    p = subprocess.run([BIN, *logits(nope)], capture_output=True, text=True)
    err = refused("missing model folder on rank 0", logits(nope), logits(A), os.path.join(nope, "config.json"))
    check("missing model on rank 0: the error of one process",
          error_line(p.stderr) is not None and error_line(err) == error_line(p.stderr),
          [error_line(err), error_line(p.stderr)])

    # A world size that does not divide the heads.
    job = Job(["-n", "3", BIN, *logits(A)])
    rc = job.wait(30)
    if rc is None:
        job.kill()
    check("3 ranks, 4 heads: refused within 30 s", rc not in (0, None), f"exit {rc}")
    check("3 ranks, 4 heads: message", "does not divide num_attention_heads" in job.stderr(), job.stderr()[-1500:])
    check("3 ranks: no rank left running", not job.leftover(), job.leftover())
finally:
    for j in jobs:
        j.kill()
    shutil.rmtree(tmp, ignore_errors=True)
finish()
