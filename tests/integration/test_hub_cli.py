#!/usr/bin/python3
"""--model as a Hugging Face repo id, end to end: a Hub cache laid out as huggingface_hub writes it
(files in blobs/ named by hash, relative symlinks in snapshots/<commit>/, refs/main and a tag) built
here from a make-test-model checkpoint; generate, tokenize and chat-template find it through
HF_HUB_CACHE or HF_HOME, at refs/main, a tag or a commit; a missing model, a missing ref and a bad
revision fail with one line that says where it looked and how to download; a folder whose path looks
like a repo id wins. QWEN3_BIN points at the binary."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import BIN, check, finish, run  # noqa: E402


def run_env(*args, env=None, cwd=None):
    e = dict(os.environ)
    for k in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=600, env=e, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def add_snapshot(repo, commit, src):
    """The files of `src` as blobs (named by their sha256, as the Hub names LFS blobs) and relative
    symlinks in snapshots/<commit>/."""
    snap = os.path.join(repo, "snapshots", commit)
    os.makedirs(snap)
    os.makedirs(os.path.join(repo, "blobs"), exist_ok=True)
    for name in os.listdir(src):
        with open(os.path.join(src, name), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        blob = os.path.join(repo, "blobs", digest)
        if not os.path.exists(blob):
            shutil.copyfile(os.path.join(src, name), blob)
        os.symlink(os.path.join("..", "..", "blobs", digest), os.path.join(snap, name))


tmp = tempfile.mkdtemp(prefix="qwen3_hub_")
try:
    m1, m2 = os.path.join(tmp, "m1"), os.path.join(tmp, "m2")
    for out, seed in [(m1, "1"), (m2, "2")]:
        rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", seed, "--out", out)
        check(f"make-test-model seed {seed}", rc == 0, err)
    if not os.path.exists(os.path.join(m1, "tokenizer.json")):
        print("FAIL: make-test-model found no tokenizer files (run npm ci at the repository root, or set QWEN3_TOKENIZER_DIR)")
        sys.exit(1)
    cache = os.path.join(tmp, "hub")
    repo = os.path.join(cache, "models--Qwen--Qwen3-Tiny")
    main_commit, old_commit = "1" * 40, "2" * 40
    add_snapshot(repo, main_commit, m1)
    add_snapshot(repo, old_commit, m2)
    os.makedirs(os.path.join(repo, "refs"))
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(main_commit)
    with open(os.path.join(repo, "refs", "v0"), "w") as f:
        f.write(old_commit)
    env = {"HF_HUB_CACHE": cache}

    gen = ["generate", "--ids", "5,6,7", "--max-tokens", "6", "--format", "json", "--temperature", "0"]

    def ids(model, *extra, env=env, cwd=None):
        rc, out, err = run_env(*gen, "--model", model, *extra, env=env, cwd=cwd)
        return json.loads(out)["ids"] if rc == 0 else f"rc={rc} {err}"

    want1, want2 = ids(m1), ids(m2)
    check("the two checkpoints differ", want1 != want2, f"{want1} {want2}")
    check("repo id at refs/main", ids("Qwen/Qwen3-Tiny") == want1, ids("Qwen/Qwen3-Tiny"))
    check("--revision main", ids("Qwen/Qwen3-Tiny", "--revision", "main") == want1)
    check("--revision a tag", ids("Qwen/Qwen3-Tiny", "--revision", "v0") == want2)
    check("--revision a commit", ids("Qwen/Qwen3-Tiny", "--revision", old_commit) == want2)
    # The other places the cache may be: HF_HOME/hub, then $XDG_CACHE_HOME/huggingface/hub.
    os.makedirs(os.path.join(tmp, "hf"))
    os.symlink(cache, os.path.join(tmp, "hf", "hub"))
    check("HF_HOME/hub", ids("Qwen/Qwen3-Tiny", env={"HF_HOME": os.path.join(tmp, "hf")}) == want1)
    os.makedirs(os.path.join(tmp, "xdg", "huggingface"))
    os.symlink(cache, os.path.join(tmp, "xdg", "huggingface", "hub"))
    check("XDG_CACHE_HOME/huggingface/hub", ids("Qwen/Qwen3-Tiny", env={"XDG_CACHE_HOME": os.path.join(tmp, "xdg")}) == want1)
    check("HF_HUB_CACHE wins over HF_HOME",
          ids("Qwen/Qwen3-Tiny", env={"HF_HUB_CACHE": os.path.join(tmp, "none"), "HF_HOME": os.path.join(tmp, "hf")}) != want1)

    # Other commands that take --model.
    p = subprocess.run([BIN, "tokenize", "--model", "Qwen/Qwen3-Tiny"], input="Hello", capture_output=True, text=True,
                       timeout=120, env={**os.environ, **env})
    check("tokenize with a repo id", p.returncode == 0 and json.loads(p.stdout) == [9707], p.stdout + p.stderr)
    p = subprocess.run([BIN, "chat-template", "--model", "Qwen/Qwen3-Tiny", "--revision", "v0"],
                       input=json.dumps({"messages": [{"role": "user", "content": "Hi"}], "add_generation_prompt": True}),
                       capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    check("chat-template with a repo id and --revision", p.returncode == 0 and "<|im_start|>user\nHi" in p.stdout,
          p.stdout + p.stderr)

    # Failures: one line each, saying where it looked and how to download.
    def error(name, args, *needles, env=env, cwd=None):
        rc, out, err = run_env(*gen, *args, env=env, cwd=cwd)
        lines = err.strip().splitlines()
        check(f"{name}: fails with one line", rc != 0 and len(lines) == 1, f"rc={rc} {err!r}")
        for n in needles:
            check(f"{name}: says {n!r}", n in err, err)

    error("absent repo", ["--model", "Qwen/Qwen3-8B"], os.path.join(cache, "models--Qwen--Qwen3-8B"),
          "hf download Qwen/Qwen3-8B", "huggingface-cli download Qwen/Qwen3-8B")
    error("absent tag", ["--model", "Qwen/Qwen3-Tiny", "--revision", "v9"], "no revision 'v9'", "refs there: main, v0",
          "hf download Qwen/Qwen3-Tiny --revision v9")
    error("bad revision", ["--model", "Qwen/Qwen3-Tiny", "--revision", "../../etc"], "--revision", "not a branch")
    error("absent commit", ["--model", "Qwen/Qwen3-Tiny", "--revision", "3" * 40], "3" * 40 + " does not exist")
    os.remove(os.path.join(repo, "refs", "main"))
    error("missing refs/main", ["--model", "Qwen/Qwen3-Tiny"], "no revision 'main'", "refs/main",
          f"snapshots: {main_commit}, {old_commit}")
    error("--revision with a folder", ["--model", m1, "--revision", "v0"], "is a folder")

    # A folder whose relative path looks like a repo id is a folder (the cache is not consulted).
    os.makedirs(os.path.join(tmp, "cwd", "Qwen"))
    os.symlink(m2, os.path.join(tmp, "cwd", "Qwen", "Qwen3-Tiny"))
    check("a folder that looks like a repo id wins", ids("Qwen/Qwen3-Tiny", cwd=os.path.join(tmp, "cwd")) == want2)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
