#!/usr/bin/python3
"""Tensor parallelism from the CLI (`mpirun -n N qwen3 ...`, docs/parallel.md) on tiny test models,
with 2 and 4 ranks on this 2-core machine (--oversubscribe):
  - logits agree with one process (max|Δ| / max|logit| < 1e-5: the partial sums of o_proj and
    down_proj are added in another order, so not bit for bit), and greedy continuations are identical;
  - bitwise deterministic from run to run, and independent of batch composition: a prompt's rows are
    the same bits alone and in a batch with others, including a batch large enough that the
    all-reduce switches from its all-gather path to its reduce-scatter path (> 65,536 floats);
  - the vocabulary-parallel and the replicated head give the same bits;
  - speculative decoding (n-gram, self-draft on rank 0) gives the plain ids;
  - a rank-0 error before the model is loaded (bad --ids) ends the job cleanly with one message.
The reference comparison over every configuration runs in tests/reference (--ranks 2 / 4); faults
(killed ranks, mismatched checkpoints) in test_tp_faults.py. QWEN3_BIN points at the binary."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import BIN, check, finish, run  # noqa: E402

os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")  # CI runs as root
os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none"]


def mpi(n, *args):
    p = subprocess.run([*MPIRUN, "-n", str(n), BIN, *args], capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def ids_of(seed, n):
    return ",".join(str(i) for i in np.random.default_rng(seed).integers(0, 151936, size=n))


tmp = tempfile.mkdtemp(prefix="qwen3_tp_")
try:
    model = os.path.join(tmp, "tiny")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "5", "--dtype", "f32", "--out", model)
    check("make-test-model", rc == 0, err)
    a, b, c = ids_of(1, 23), ids_of(2, 40), ids_of(3, 1100)  # c: 1100 x 64 floats > 65,536
    common = ["--model", model, "--kv-dtype", "f32"]

    def logits(n, *id_lists, extra=()):
        out = os.path.join(tmp, f"l{n}_{len(id_lists)}_{abs(hash((id_lists, extra)))}.npy")
        args = ["logits", *common, *[x for i in id_lists for x in ("--ids", i)], "--out", out, *extra]
        rc, so, se = mpi(n, *args) if n > 1 else run(*args)
        check(f"logits -n {n} x {len(id_lists)} {' '.join(extra)}", rc == 0 and os.path.exists(out), se[-800:])
        return np.load(out) if rc == 0 else None

    one = logits(1, a)
    for n in [2, 4]:
        x, y = logits(n, a), logits(n, a)
        if one is None or x is None or y is None:
            continue
        rel = float(np.abs(x.astype(np.float64) - one).max() / np.abs(one).max())
        check(f"-n {n}: logits agree with one process", rel < 1e-5, f"rel {rel:.2e}")
        check(f"-n {n}: bitwise run to run", x.tobytes() == y.tobytes())
        batch = logits(n, a, b)
        check(f"-n {n}: rows of a prompt alone == in a batch", batch is not None and
              batch[:x.shape[0]].tobytes() == x.tobytes())
        big = logits(n, b, c, a)  # 1163 tokens: the reduce-scatter path
        if big is not None:
            la, lb = x.shape[0], 40
            check(f"-n {n}: rows alone == in a batch on the large all-reduce path",
                  big[lb + 1100:].tobytes() == x.tobytes() and big[:lb].tobytes() == batch[la:].tobytes())
        rep = logits(n, a, extra=("--tp-head", "replicated"))
        check(f"-n {n}: replicated head == vocabulary-parallel head, bit for bit",
              rep is not None and rep.tobytes() == x.tobytes())

    # Greedy continuations, plain and speculative.
    gen = ["generate", *common, "--ids", a, "--max-tokens", "40", "--format", "json", "--ignore-eos", "--temperature", "0"]
    rc, out, err = run(*gen)
    base = json.loads(out)["ids"] if rc == 0 else None
    check("generate, one process", base is not None and len(base) == 40, err)
    for n in [2, 4]:
        rc, out, err = mpi(n, *gen)
        got = json.loads(out)["ids"] if rc == 0 else None
        check(f"-n {n}: greedy ids identical to one process", got == base, err[-800:])
        check(f"-n {n}: one JSON document on stdout, nothing else", rc == 0 and out.count("\n") == 1, out)
        for spec in (["--spec", "ngram"], ["--draft-quant", "q8"]):
            rc, out, err = mpi(n, *gen, *spec)
            got = json.loads(out) if rc == 0 else {}
            check(f"-n {n} {' '.join(spec)}: same ids", got.get("ids") == base and "spec" in got, err[-800:])

    # Rank 0 fails before loading (its own argument error): one message, every rank ends.
    rc, out, err = mpi(2, "logits", *common, "--ids", "1,x", "--out", os.path.join(tmp, "bad.npy"))
    lines = [l for l in err.splitlines() if l.startswith("qwen3: error:")]
    check("-n 2: bad --ids: one error line, non-zero exit", rc != 0 and len(lines) == 1 and "--ids" in lines[0], err)
    # A command that runs no model runs on rank 0 alone (and the job ends: no rank waits for MPI).
    if os.path.exists(os.path.join(model, "tokenizer.json")):
        p = subprocess.run([*MPIRUN, "-n", "2", BIN, "tokenize", "--model", model], input="hello world",
                           capture_output=True, text=True, timeout=60)
        rc1, out1, _ = run("tokenize", "--model", model, input="hello world")
        check("-n 2: tokenize (no model) as one process", p.returncode == 0 and out1 and p.stdout == out1,
              p.stdout + p.stderr)
    else:
        check("-n 2: tokenize needs the tokenizer files (npm ci)", False)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
