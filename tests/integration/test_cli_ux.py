#!/usr/bin/python3
"""The qwen3 CLI's manners: --version, suggestions for mistyped commands and options, an Examples
section in every --help, --out never overwritten without --force, progress lines (and --quiet), and
make-test-model saying where it looked for the tokenizer. QWEN3_BIN points at the binary."""
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import BIN, check, finish, run  # noqa: E402

FAST = {**os.environ, "QWEN3_PROGRESS_DELAY_MS": "0"}


def run_env(env, *args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=env)
    return p.returncode, p.stdout, p.stderr


def one_error(name, args, want, rc_want=None):
    """The command fails with exactly one stderr line, equal to `want` (a string) or matching it (a regex)."""
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    ok = rc != 0 and (rc_want is None or rc == rc_want) and len(lines) == 1
    ok = ok and (re.fullmatch(want, lines[0]) is not None if isinstance(want, re.Pattern) else lines[0] == want)
    check(name, ok, f"rc={rc} stderr={err!r}")


tmp = tempfile.mkdtemp(prefix="qwen3_cli_ux_")
try:
    # --version: the four fields, and the kernels line is what runs (QWEN3_ISA forces portable).
    rc, out, err = run("--version")
    lines = out.splitlines()
    check("--version: four lines", rc == 0 and len(lines) == 4 and not err, f"{rc} {out!r} {err!r}")
    if len(lines) == 4:
        check("--version: version", re.fullmatch(r"qwen3 \d+\.\d+\.\d+", lines[0]) is not None, lines[0])
        check("--version: commit", re.fullmatch(r"commit ([0-9a-f]{40}|unknown)", lines[1]) is not None, lines[1])
        check("--version: build type", re.fullmatch(r"build (Release|Debug|RelWithDebInfo|MinSizeRel)( \(.*\))?", lines[2])
              is not None, lines[2])
        m = re.fullmatch(r"kernels (avx512|avx2|neon|portable) \(this CPU runs: ([a-z0-9, ]+)\)", lines[3])
        check("--version: kernels", m is not None and m.group(1) in m.group(2).split(", "), lines[3])
    rc, out, _ = run_env({**os.environ, "QWEN3_ISA": "portable"}, "--version")
    check("--version: kernels follow QWEN3_ISA", rc == 0 and "\nkernels portable (" in out, out)

    # Mistyped commands and options.
    one_error("mistyped command", ["gnerate", "--model", "x"],
              "qwen3: error: unknown command 'gnerate'; did you mean 'generate'? (see qwen3 --help)", 2)
    one_error("unknown command", ["frobnicate"], re.compile(r"qwen3: error: unknown command 'frobnicate' \(commands: .*"
                                                            r"generate.*\) \(see qwen3 --help\)"), 2)
    m = os.path.join(tmp, "m")
    one_error("mistyped option", ["logits", "--modle", m, "--ids", "1", "--out", os.path.join(tmp, "x.npy")],
              "qwen3: error: logits: unknown option '--modle'; did you mean '--model'? (see qwen3 logits --help)", 2)
    one_error("mistyped option with =", ["generate", "--model", m, "--max-token=3"],
              "qwen3: error: generate: unknown option '--max-token'; did you mean '--max-tokens'? "
              "(see qwen3 generate --help)", 2)
    one_error("mistyped serve option", ["serve", "--model", m, "--prot", "8080"],
              "qwen3: error: serve: unknown option '--prot'; did you mean '--port'? (see qwen3 serve --help)", 2)
    one_error("a value that starts with '-' is not an option", ["generate", "--model", m, "--prompt", "-x", "--bogus"],
              "qwen3: error: generate: unknown option '--bogus' (see qwen3 generate --help)", 2)

    # Every --help ends with examples; quantize shows no --quant default that it would refuse.
    rc, out, _ = run("--help")
    commands = re.findall(r"^  ([a-z][a-z-]+)\s", out[out.find("Subcommands:"):], re.M)
    check("--help lists the commands", rc == 0 and len(commands) >= 10 and "Examples:" in out, out)
    for cmd in commands:
        rc, out, _ = run(cmd, "--help")
        ex = out[out.find("Examples:"):]
        check(f"{cmd} --help has examples", rc == 0 and "Examples:" in out and f"qwen3 {cmd}" in ex, out[-600:])
    rc, out, _ = run("quantize", "--help")
    quant = [l for l in out.splitlines() if l.strip().startswith("--quant")]
    check("quantize --help: --quant has no default", len(quant) == 1 and "[none]" not in quant[0] and "REQUIRED" in quant[0],
          quant)

    # --out is never overwritten without --force.
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "3", "--out", m)
    check("make-test-model", rc == 0 and os.path.exists(os.path.join(m, "tokenizer.json")), err)
    cfg = os.path.join(m, "config.json")
    before = open(cfg).read()
    one_error("make-test-model refuses a folder with files",
              ["make-test-model", "--preset", "tiny", "--override", '{"rms_norm_eps": 0.05}', "--out", m],
              f"qwen3: error: --out: '{m}' already exists; pass --force to overwrite it", 1)
    check("... and leaves it alone", open(cfg).read() == before)
    rc, _, err = run("make-test-model", "--preset", "tiny", "--override", '{"rms_norm_eps": 0.05}', "--out", m, "--force")
    check("make-test-model --force overwrites", rc == 0 and '"rms_norm_eps": 0.05' in open(cfg).read(), err)
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "3", "--out", m, "--force")
    empty = os.path.join(tmp, "empty")
    os.mkdir(empty)
    rc, _, err = run("make-test-model", "--preset", "tiny", "--out", empty)
    check("make-test-model into an empty folder", rc == 0 and os.path.exists(os.path.join(empty, "config.json")), err)

    # --force over a sharded checkpoint leaves none of the old shards or index behind.
    sh = os.path.join(tmp, "sharded")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--shards", "3", "--out", sh)
    check("make-test-model --shards 3", rc == 0 and len([f for f in os.listdir(sh) if f.endswith(".safetensors")]) == 3, err)
    with open(os.path.join(sh, "notes.txt"), "w") as f:
        f.write("mine")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--out", sh, "--force")
    weights = sorted(f for f in os.listdir(sh) if ".safetensors" in f)
    check("--force: no stale shards", rc == 0 and weights == ["model.safetensors"] and os.path.exists(os.path.join(sh, "notes.txt")),
          f"{weights} {err}")
    rc, _, err = run("logits", "--model", sh, "--ids", "1", "--out", os.path.join(tmp, "sh.npy"))
    check("--force: the new checkpoint loads", rc == 0, err)

    npy = os.path.join(tmp, "l.npy")
    with open(npy, "w") as f:
        f.write("keep")
    one_error("logits refuses an existing file", ["logits", "--model", m, "--ids", "1,2", "--out", npy],
              f"qwen3: error: --out: '{npy}' already exists; pass --force to overwrite it", 1)
    check("... and leaves it alone", open(npy).read() == "keep")
    rc, _, err = run("logits", "--model", m, "--ids", "1,2", "--out", npy, "--force")
    check("logits --force overwrites", rc == 0 and open(npy, "rb").read(6) == b"\x93NUMPY", err)
    q = os.path.join(tmp, "q8")
    rc, _, err = run("quantize", "--model", m, "--quant", "q8", "--out", q)
    check("quantize", rc == 0, err)
    one_error("quantize refuses a folder with files", ["quantize", "--model", m, "--quant", "q8", "--out", q],
              f"qwen3: error: --out: '{q}' already exists; pass --force to overwrite it", 1)
    rc, _, err = run("quantize", "--model", m, "--quant", "q4", "--out", q, "--force")
    check("quantize --force overwrites", rc == 0 and '"q4"' in open(os.path.join(q, "config.json")).read(), err)
    g = os.path.join(tmp, "m.gguf")
    rc, _, err = run("export-gguf", "--model", m, "--out", g)
    check("export-gguf", rc == 0, err)
    one_error("export-gguf refuses an existing file", ["export-gguf", "--model", m, "--out", g],
              f"qwen3: error: --out: '{g}' already exists; pass --force to overwrite it", 1)
    rc, _, err = run("export-gguf", "--model", m, "--out", g, "--force")
    check("export-gguf --force overwrites", rc == 0, err)

    # Progress: plain lines when stderr is not a terminal (the delay set to 0 for this tiny model).
    p2 = os.path.join(tmp, "p2")
    rc, _, err = run_env(FAST, "make-test-model", "--preset", "tiny", "--out", p2)
    # One line per 10 % reached (a large tensor may jump several), from 0 % to 100 %, and nothing else.
    pct = [int(p) for p in re.findall(r"^make-test-model: writing random weights: (\d+)% \(\d+\.\d s\)$", err, re.M)]
    check("make-test-model progress lines", rc == 0 and len(pct) >= 3 and pct[0] == 0 and pct[-1] == 100
          and all(p % 10 == 0 for p in pct) and pct == sorted(set(pct)) and len(err.splitlines()) == len(pct), err)
    rc, _, err = run_env(FAST, "logits", "--model", m, "--quant", "q8", "--ids", "1", "--out", npy, "--force")
    check("loading progress lines", rc == 0 and re.search(r"^loading weights, quantizing to q8: 100% \(\d+\.\d s\)$", err, re.M),
          err)
    rc, _, err = run_env(FAST, "quantize", "--model", m, "--quant", "q8", "--out", os.path.join(tmp, "q8b"))
    check("quantize progress lines", rc == 0 and "loading weights, quantizing to q8: 100%" in err
          and re.search(r"^writing .*q8b/model\.safetensors: 100%", err, re.M), err)
    rc, _, err = run_env(FAST, "export-gguf", "--model", m, "--out", g, "--force")
    check("export-gguf progress lines", rc == 0 and re.search(r"^writing .*m\.gguf\.tmp: 100%", err, re.M), err)
    for args in (["make-test-model", "--preset", "tiny", "--out", p2, "--force"],
                 ["logits", "--model", m, "--ids", "1", "--out", npy, "--force"],
                 ["export-gguf", "--model", m, "--out", g, "--force"]):
        rc, _, err = run_env(FAST, *args, "--quiet")
        check(f"{args[0]} --quiet: no progress", rc == 0 and "%" not in err, err)
    # On a terminal: one line redrawn with carriage returns.
    master, slave = pty.openpty()
    p = subprocess.run([BIN, "make-test-model", "--preset", "tiny", "--out", p2, "--force"], stderr=slave,
                       stdout=subprocess.DEVNULL, env=FAST, timeout=600)
    os.close(slave)
    tty = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        tty += chunk
    os.close(master)
    tty = tty.decode()
    draws = re.findall(r"\rmake-test-model: writing random weights: +(\d+)% \(\d+\.\d s\)", tty)
    check("progress on a terminal", p.returncode == 0 and len(draws) >= 3 and draws[-1] == "100"
          and tty.count("\n") == 1 and tty.endswith("\n"), repr(tty[-300:]))

    # No tokenizer anywhere: a warning naming every place looked at. A copy of the binary outside any
    # build or install tree finds neither PREFIX/share/qwen3 nor a source tree.
    bare = os.path.join(tmp, "bare", "bin")
    os.makedirs(bare)
    shutil.copy(BIN, bare)
    nowhere = os.path.join(tmp, "no-tokenizer")
    os.mkdir(nowhere)
    p = subprocess.run([os.path.join(bare, os.path.basename(BIN)), "make-test-model", "--preset", "tiny", "--out",
                        os.path.join(tmp, "nt")], capture_output=True, text=True, cwd=tmp,
                       env={**os.environ, "QWEN3_TOKENIZER_DIR": nowhere}, timeout=600)
    share = os.path.join(tmp, "bare", "share", "qwen3", "tokenizer")
    check("no tokenizer: the places looked at", p.returncode == 0 and f"looked for tokenizer.json and tokenizer_config.json "
          f"in: {nowhere}, {share};" in p.stderr and "--tokenizer-dir" in p.stderr, p.stderr)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
