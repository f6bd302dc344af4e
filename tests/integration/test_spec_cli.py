#!/usr/bin/python3
"""Speculative decoding from the CLI on tiny test models: generate gives the same ids with the
n-gram proposer, a self-draft (the target quantized) and a separate draft model, for several draft
lengths; bad combinations and a draft with another tokenizer are refused with one clear line; bench
--spec reports its keys with identical outputs. QWEN3_BIN points at the binary."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import check, finish, run  # noqa: E402


def expect_error(name, args, *fragments):
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    check(name, rc != 0 and len(lines) == 1 and all(f in err for f in fragments), f"rc={rc} stderr={err!r}")


tmp = tempfile.mkdtemp(prefix="qwen3_spec_")
try:
    target, draft = os.path.join(tmp, "target"), os.path.join(tmp, "draft")
    for d, seed in [(target, "3"), (draft, "11")]:
        rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", seed, "--out", d)
        check(f"make-test-model {d}", rc == 0, err)
    if not os.path.exists(os.path.join(target, "tokenizer.json")):
        print("FAIL: make-test-model found no tokenizer files (run npm ci at the repository root, or set QWEN3_TOKENIZER_DIR)")
        sys.exit(1)

    # A prompt that repeats itself, so the n-gram proposer finds matches.
    ids = "5,6,7,8,9,5,6,7,8,9,5,6,7"
    gen = ["generate", "--model", target, "--ids", ids, "--max-tokens", "40", "--format", "json", "--threads", "2",
           "--temperature", "0"]
    rc, out, err = run(*gen)
    base = json.loads(out) if rc == 0 else {}
    check("generate baseline", rc == 0 and len(base.get("ids", [])) > 0 and "spec" not in base, out + err)
    for name, extra in [("ngram", ["--spec", "ngram"]), ("self-q8", ["--draft-quant", "q8"]),
                        ("draft", ["--draft-model", draft])]:
        for k in ["1", "3"]:
            rc, out, err = run(*gen, *extra, "--spec-k", k)
            j = json.loads(out) if rc == 0 else {}
            s = j.get("spec", {})
            same = j.get("ids") == base.get("ids") and j.get("finish_reason") == base.get("finish_reason")
            check(f"generate --spec {name} k={k}: same ids", rc == 0 and same, f"{base.get('ids')} vs {out}{err}")
            keys = {"proposer", "k", "drafted", "accepted", "acceptance_rate", "verify_steps", "tokens_per_verify"}
            check(f"generate --spec {name} k={k}: spec keys", keys <= set(s) and s.get("proposer") == name
                  and s.get("k") == int(k), str(s))
    # Fixed draft length; text output (ids printed) unchanged.
    rc, out, err = run(*gen, "--draft-quant", "q4", "--spec-k", "4", "--spec-k-fixed")
    j = json.loads(out) if rc == 0 else {}
    check("generate self-q4 fixed k: same ids", rc == 0 and j.get("ids") == base.get("ids"), out + err)
    check("generate self-q4 drafted", j.get("spec", {}).get("drafted", 0) > 0, str(j.get("spec")))
    rc, out, err = run("generate", "--model", target, "--ids", ids, "--max-tokens", "12", "--spec", "ngram", "--temperature", "0")
    check("generate text with --spec", rc == 0 and out.strip() == ",".join(map(str, base["ids"][:12])), out + err)
    # --prompt (tokenizer loaded) and --ignore-eos through the core.
    p = ["generate", "--model", target, "--prompt", "one two three one two three", "--max-tokens", "20",
         "--format", "json", "--ignore-eos", "--temperature", "0"]
    rc, out, err = run(*p)
    a = json.loads(out) if rc == 0 else {}
    rc, out, err = run(*p, "--draft-model", draft, "--spec-k", "2")
    b = json.loads(out) if rc == 0 else {}
    check("generate --prompt --ignore-eos: same ids and text",
          rc == 0 and a.get("ids") == b.get("ids") and a.get("text") == b.get("text") and len(a.get("ids", [])) == 20,
          f"{a} vs {b} {err}")

    # chat: the same replies with speculation (two turns: the second reuses the first's pages).
    turns = "please write a long story about the sea and the ships and the sailors on the ocean\nagain\n"
    chat = ["chat", "--model", target, "--max-tokens", "20", "--no-think", "--stats", "--temperature", "0"]
    rc, out0, err0 = run(*chat, input=turns)
    for extra in [["--spec", "ngram"], ["--draft-quant", "q8"]]:
        rc, out1, err1 = run(*chat, *extra, input=turns)
        check(f"chat {extra}: same replies", rc == 0 and out1 == out0 and out0.strip() != "", f"{out0!r} vs {out1!r} {err1}")
    check("chat --draft-quant q8: second turn reuses pages", "(16 reused)" in err1 or "(32 reused)" in err1, err1)

    # Refusals.
    expect_error("--spec draft alone", [*gen, "--spec", "draft"], "--spec draft needs", "--draft-model", "--draft-quant")
    expect_error("--spec-k out of range", [*gen, "--spec", "ngram", "--spec-k", "17"], "--spec-k", "1..16")
    expect_error("bad --spec", [*gen, "--spec", "medusa"], "--spec", "'medusa'")
    expect_error("bad --draft-quant", [*gen, "--draft-quant", "q3"], "--draft-quant", "'q3'")
    expect_error("ngram with a draft model", [*gen, "--spec", "ngram", "--draft-model", draft], "--spec draft")
    other = os.path.join(tmp, "other")
    shutil.copytree(draft, other)
    tj = os.path.join(other, "tokenizer.json")
    with open(tj, encoding="utf-8") as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    # Swap two tokens' ids: every string is still there (the merges stay valid), the ids differ.
    a = next(t for t, i in vocab.items() if i == 1000)
    b = next(t for t, i in vocab.items() if i == 1001)
    vocab[a], vocab[b] = 1001, 1000
    with open(tj, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    expect_error("draft with another tokenizer", [*gen, "--draft-model", other], "tokenizer", f"token 1000 is '{a}' in the target and '{b}' in the draft")
    # The same refusal when the target's tokenizer is loaded (--prompt).
    expect_error("draft with another tokenizer (--prompt)",
                 ["generate", "--model", target, "--prompt", "hi", "--draft-model", other], "token 1000", b)
    os.remove(tj)
    expect_error("draft without tokenizer.json", [*gen, "--draft-model", other], "no tokenizer.json")
    small = os.path.join(tmp, "small")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "5", "--out", small, "--override",
                     '{"vocab_size": 1000, "bos_token_id": 1, "eos_token_id": 2}')
    check("make small-vocab draft", rc == 0, err)
    gc = os.path.join(small, "generation_config.json")
    with open(gc) as f:
        g = json.load(f)
    g.update({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2})
    with open(gc, "w") as f:
        json.dump(g, f)
    expect_error("draft with a smaller vocabulary", [*gen, "--draft-model", small], "vocab_size 1000")

    # bench --spec.
    rc, out, err = run("bench", "--model", target, "--threads", "2", "--spec-only", "--spec", "ngram", "--gen", "32",
                       "--repeat", "1", "--format", "json")
    j = json.loads(out) if rc == 0 else {}
    s = j.get("spec", {})
    keys = {"proposer", "k", "acceptance_rate", "tokens_per_verify", "draft_ms_per_step", "verify_ms_per_step",
            "decode_tok_s", "baseline_decode_tok_s", "speedup", "predicted_speedup", "identical"}
    check("bench --spec json keys", rc == 0 and keys <= set(s) and s.get("identical") is True
          and s.get("proposer") == "ngram" and s.get("decode_tok_s", 0) > 0, out + err)
    check("bench --spec-only: other sections null", j.get("prefill_tok_s", 0) is None and j.get("decode_tok_s", 0) is None
          and "gen_tokens" in j, out)
    rc, out, err = run("bench", "--model", target, "--threads", "2", "--spec-only", "--draft-model", draft,
                       "--spec-k", "3", "--spec-prompt", "", "--gen", "16", "--repeat", "2")
    check("bench --spec text", rc == 0 and "speedup" in out and "identical" in out, out + err)
    expect_error("bench --spec-only without --spec", ["bench", "--model", target, "--spec-only"], "--spec-only")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
