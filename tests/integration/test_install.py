#!/usr/bin/python3
"""`cmake --install BUILD --prefix P` into a temporary prefix, then the installed P/bin/qwen3 run from
outside the source tree with QWEN3_TOKENIZER_DIR unset: --version answers, and make-test-model finds
the tokenizer in P/share/qwen3/tokenizer (next to the binary) and copies it into the checkpoint.
Environment: QWEN3_BIN (the build's binary), QWEN3_BUILD_DIR, QWEN3_CMAKE, QWEN3_SOURCE_DIR."""
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import check, finish, run  # noqa: E402

BUILD, CMAKE, SOURCE = os.environ["QWEN3_BUILD_DIR"], os.environ["QWEN3_CMAKE"], os.environ["QWEN3_SOURCE_DIR"]
SANITIZED = bool(os.environ.get("QWEN3_SANITIZED"))

tmp = tempfile.mkdtemp(prefix="qwen3_install_")
try:
    prefix = os.path.join(tmp, "prefix")
    p = subprocess.run([CMAKE, "--install", BUILD, "--prefix", prefix, "--strip"], capture_output=True, text=True,
                       timeout=300)
    check("cmake --install", p.returncode == 0, p.stdout + p.stderr)
    qwen3 = os.path.join(prefix, "bin", "qwen3")
    share = os.path.join(prefix, "share", "qwen3", "tokenizer")
    for f in [qwen3, os.path.join(share, "tokenizer.json"), os.path.join(share, "tokenizer_config.json"),
              os.path.join(prefix, "share", "doc", "qwen3", "LICENSE"), os.path.join(prefix, "share", "doc", "qwen3", "docs", "cli.md")]:
        check(f"installs {os.path.relpath(f, prefix)}", os.path.isfile(f))
    check("installs no test binary", sorted(os.listdir(os.path.join(prefix, "bin"))) == ["qwen3"],
          os.listdir(os.path.join(prefix, "bin")))

    env = {k: v for k, v in os.environ.items() if k not in ("QWEN3_TOKENIZER_DIR", "QWEN3_SOURCE_DIR")}
    work = os.path.join(tmp, "work")
    os.mkdir(work)

    def installed(*args, input=""):
        r = subprocess.run([qwen3, *args], input=input, capture_output=True, text=True, cwd=work, env=env, timeout=600)
        return r.returncode, r.stdout, r.stderr

    rc, out, err = installed("--version")
    _, built, _ = run("--version")
    check("installed --version", rc == 0 and out.startswith("qwen3 ") and out == built, f"{out!r} vs {built!r} {err}")
    model = os.path.join(work, "tiny")
    rc, _, err = installed("make-test-model", "--preset", "tiny", "--out", model)
    check("installed make-test-model", rc == 0 and "warning" not in err, err)
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        check(f"copies the installed {f}", os.path.isfile(os.path.join(model, f)) and
              filecmp.cmp(os.path.join(model, f), os.path.join(share, f), shallow=False))
    rc, out, err = installed("tokenize", "--model", model, input="Hello")
    check("the installed tokenizer works", rc == 0 and out.strip() == "[9707]", out + err)
    # No source path compiled in (a Release build: the sanitizers' diagnostics name source files).
    if not SANITIZED:
        with open(qwen3, "rb") as f:
            blob = f.read()
        check("no source path in the installed binary", os.path.realpath(SOURCE).encode() not in blob)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
