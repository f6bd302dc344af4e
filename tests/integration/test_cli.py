#!/usr/bin/python3
"""CLI behaviour of the qwen3 binary: --help everywhere, exact output forms, and one clear stderr
line with a non-zero exit for bad arguments and bad files. QWEN3_BIN points at the binary."""
import json
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import check, finish, run  # noqa: E402


def expect_error(name, args, *fragments):
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    ok = rc != 0 and len(lines) == 1 and all(f in err for f in fragments)
    check(name, ok, f"rc={rc} stderr={err!r}")


tmp = tempfile.mkdtemp(prefix="qwen3_cli_")
try:
    rc, out, _ = run("--help")
    check("help", rc == 0 and "make-test-model" in out and "logits" in out and "generate" in out, out)
    for cmd in ["make-test-model", "logits", "generate"]:
        rc, out, _ = run(cmd, "--help")
        check(f"{cmd} --help", rc == 0 and "--model" in out or "--out" in out, out)

    m = os.path.join(tmp, "m")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "3", "--dtype", "bf16", "--out", m)
    check("make-test-model", rc == 0 and os.path.exists(os.path.join(m, "config.json")), err)
    for f in ["config.json", "generation_config.json", "model.safetensors"]:
        check(f"writes {f}", os.path.exists(os.path.join(m, f)))

    # logits: [T, vocab] float32 .npy
    npy = os.path.join(tmp, "l.npy")
    rc, _, err = run("logits", "--model", m, "--ids", "1,2,3,4", "--out", npy)
    arr = np.load(npy) if rc == 0 else None
    check("logits npy", rc == 0 and arr.dtype == np.dtype("<f4") and arr.shape == (4, 151936), err)

    # generate --format json: "ids" holds the generated ids only; same result with 1 and 2 threads.
    rc, out, err = run("generate", "--model", m, "--ids", "5,6,7", "--max-tokens", "8", "--format", "json", "--threads", "1", "--temperature", "0")
    j1 = json.loads(out) if rc == 0 else {}
    check("generate json", rc == 0 and len(j1.get("ids", [])) == 8, out + err)
    rc, out, err = run("generate", "--model", m, "--ids", "5,6,7", "--max-tokens", "8", "--format", "json", "--threads", "2", "--temperature", "0")
    j2 = json.loads(out) if rc == 0 else {}
    check("generate thread-invariant", j1.get("ids") == j2.get("ids"), f"{j1} vs {j2}")
    npy2 = os.path.join(tmp, "l2.npy")
    run("logits", "--model", m, "--ids", "5,6,7", "--out", npy2)
    check("generate first token is the argmax", j1.get("ids", [None])[0] == int(np.argmax(np.load(npy2)[-1])))
    rc, out, err = run("generate", "--model", m, "--ids", "5,6,7", "--max-tokens", "4", "--temperature", "0")
    check("generate text", rc == 0 and out.strip() == ",".join(map(str, j1["ids"][:4])) and "decode" in err, out + err)

    # Bad arguments
    expect_error("unknown option", ["logits", "--model", m, "--ids", "1", "--out", npy, "--bogus"], "--bogus")
    expect_error("missing --model", ["logits", "--ids", "1", "--out", npy], "--model")
    expect_error("bad ids", ["logits", "--model", m, "--ids", "1,x,3", "--out", npy], "--ids", "'x'")
    expect_error("id out of range", ["logits", "--model", m, "--ids", "1,151936", "--out", npy], "151936", "vocabulary")
    expect_error("bad preset", ["make-test-model", "--preset", "huge", "--out", os.path.join(tmp, "x")], "unknown preset 'huge'")
    expect_error("bad dtype", ["make-test-model", "--dtype", "int3", "--out", os.path.join(tmp, "x")], "--dtype", "int3")
    expect_error("bad override", ["make-test-model", "--override", "{nope", "--out", os.path.join(tmp, "x")], "--override")
    expect_error("bad format", ["generate", "--model", m, "--ids", "1", "--format", "xml"], "--format")
    expect_error("missing folder", ["logits", "--model", os.path.join(tmp, "none"), "--ids", "1", "--out", npy], "none")

    # Bad files
    bad = os.path.join(tmp, "bad")
    shutil.copytree(m, bad)
    st = os.path.join(bad, "model.safetensors")
    with open(st, "r+b") as f:
        f.truncate(os.path.getsize(st) // 2)
    expect_error("truncated weights", ["logits", "--model", bad, "--ids", "1", "--out", npy], "model.safetensors")
    with open(st, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    expect_error("non-JSON header", ["logits", "--model", bad, "--ids", "1", "--out", npy], "model.safetensors", "not valid JSON")
    with open(os.path.join(bad, "config.json"), "w") as f:
        f.write('{"hidden_size": "big"}')
    expect_error("bad config", ["logits", "--model", bad, "--ids", "1", "--out", npy], "config.json")
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
