#!/usr/bin/python3
"""`qwen3 embed` and `qwen3 rerank` against the float64 NumPy reference (qwen3_ref.py), with the
pooling and scoring written here from the published model cards, not from our C++:

Qwen/Qwen3-Embedding-* (README, modules.json, 1_Pooling/config.json, config_sentence_transformers.json):
  the tokenizer appends <|endoftext|> (its post-processor's TemplateProcessing; the pad token too,
  padding on the left), last-token pooling of Qwen3Model's last_hidden_state, L2 normalization
  (F.normalize); a query with a task is f"Instruct: {task}\\nQuery:{query}"; Matryoshka dimensions:
  the first d values, normalized again.
Qwen/Qwen3-Reranker-* (README): prefix + f"<Instruct>: {instruction}\\n<Query>: {query}\\n<Document>: {doc}"
  + suffix, each part tokenized on its own without special tokens; score = exp(log_softmax([logit("no"),
  logit("yes")]))[1] at the last position.

Checked: embeddings (f32 KV cache: max|Δ| < 1e-4, the forward test's bound, over unit vectors), the
instruction form, dimensions, a batch equal bit for bit to each input alone and to a batch split by
--max-batch-tokens (the batch-invariance contract), an untied checkpoint with no lm_head (as
Qwen3-Embedding-8B), reranker scores (|Δ| < 1e-4), and the errors for bad input.

    QWEN3_BIN=build/qwen3 /usr/bin/python3 tests/reference/test_embed_reference.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen3_ref as ref  # noqa: E402

BIN = os.environ.get("QWEN3_BIN", "build/qwen3")
TOL = 1e-4
TEXTS = ["Hello world", "The capital of China is Beijing.", "Gravity is a force, née 引力 — 🍎!", "a"]
TASK = "Given a web search query, retrieve relevant passages that answer the query"
RERANK_PREFIX = ('<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the '
                 'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
RERANK_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

failures = 0


def check(name: str, ok: bool, detail: str = "") -> None:
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")
    failures += 0 if ok else 1


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([BIN, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise RuntimeError(f"qwen3 {' '.join(args[:3])}...: exit {p.returncode}: {p.stderr}")
    return p


def tokenize(model: str, texts: list[str]) -> list[list[int]]:
    """Plain encode (add_special_tokens=False) by our tokenizer, which tests/tokenizer holds to Hugging Face's."""
    p = subprocess.run([BIN, "tokenize", "--model", model, "--jsonl"], input="".join(json.dumps(t) + "\n" for t in texts),
                       capture_output=True, text=True, check=True)
    return [json.loads(line) for line in p.stdout.splitlines()]


def token_id(model: str, token: str) -> int:
    """convert_tokens_to_ids, from tokenizer.json itself."""
    with open(os.path.join(model, "tokenizer.json")) as f:
        tj = json.load(f)
    for a in tj["added_tokens"]:
        if a["content"] == token:
            return a["id"]
    return tj["model"]["vocab"][token]


def ref_embedding(m: ref.Model, ids: list[int], dims: int = 0) -> np.ndarray:
    h = ref.forward(m, ids, hidden=True, kv_dtype="f32")[-1]        # last-token pooling
    if dims:
        h = h[:dims]
    return h / max(np.linalg.norm(h), 1e-12)                         # F.normalize


def embed(model: str, texts: list[str], *extra: str) -> list[np.ndarray]:
    out = json.loads(run("embed", "--model", model, "--kv-dtype", "f32", *extra, *texts).stdout)
    return [np.array(d["embedding"], dtype=np.float64) for d in sorted(out["data"], key=lambda d: d["index"])]


def max_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")


def test_embedding(tmp: str, name: str, override: dict | None) -> None:
    d = os.path.join(tmp, name)
    args = ["make-test-model", "--preset", "qwen3-embedding-tiny", "--dtype", "f32", "--seed", "7", "--out", d]
    run(*args, *(["--override", json.dumps(override)] if override else []))
    with open(os.path.join(d, "tokenizer.json")) as f:
        post = json.dumps(json.load(f)["post_processor"])
    check(f"{name}: layout (no model. prefix, no lm_head, <|endoftext|> appended by the tokenizer)",
          "TemplateProcessing" in post and "<|endoftext|>" in post and
          all(not k.startswith("model.") and k != "lm_head.weight" for k in ref.read_checkpoint(d)))
    m = ref.load_model(d)
    eod = token_id(d, "<|endoftext|>")
    ids = [t + [eod] for t in tokenize(d, TEXTS)]
    want = [ref_embedding(m, i) for i in ids]
    got = embed(d, TEXTS)
    err = max(max_err(g, w) for g, w in zip(got, want))
    check(f"{name}: embeddings equal the reference", err < TOL, f"max|Δ| {err:.3g}")
    check(f"{name}: unit vectors", all(abs(np.linalg.norm(g) - 1) < 1e-6 for g in got))

    q = "What is the capital of China?"
    qids = tokenize(d, [f"Instruct: {TASK}\nQuery:{q}"])[0] + [eod]
    err = max_err(embed(d, [q], "--instruct", TASK)[0], ref_embedding(m, qids))
    check(f"{name}: --instruct is 'Instruct: ...\\nQuery:' + text", err < TOL, f"max|Δ| {err:.3g}")

    got16 = embed(d, TEXTS[:2], "--dimensions", "16")
    err = max(max_err(g, ref_embedding(m, i, 16)) for g, i in zip(got16, ids))
    check(f"{name}: --dimensions 16 truncates then normalizes", err < TOL and all(len(g) == 16 for g in got16),
          f"max|Δ| {err:.3g}")

    alone = [embed(d, [t])[0] for t in TEXTS]
    split = embed(d, TEXTS, "--max-batch-tokens", "5")
    check(f"{name}: a batch equals each input alone, bit for bit", all(np.array_equal(a, b) for a, b in zip(got, alone)))
    check(f"{name}: a batch split by --max-batch-tokens equals one batch", all(np.array_equal(a, b) for a, b in zip(got, split)))


def test_errors(tmp: str) -> None:
    d = os.path.join(tmp, "embedding")
    for args, words in [(["--dimensions", "65"], "dimensions"), (["--dimensions", "-1"], "dimensions"),
                        (["--kv-memory", "0.0000001"], "kv-memory")]:
        p = run("embed", "--model", d, *args, "x", ok=False)
        check(f"embed {' '.join(args)}: a clear error", p.returncode != 0 and words in p.stderr,
              p.stderr[-300:])
    p = run("embed", "--model", d, "--kv-memory", "0.0001", "x " * 3000, ok=False)  # 8 bf16 pages of 16 tokens
    check("embed: an input past the context is refused, naming the limit", p.returncode != 0 and "at most" in p.stderr,
          p.stderr[-300:])
    p = run("logits", "--model", os.path.join(tmp, "embedding-untied-headless"), "--ids", "1,2", "--out", os.path.join(tmp, "x.npy"), ok=False)
    check("logits on a checkpoint without lm_head: a clear error", p.returncode != 0 and "lm_head" in p.stderr, p.stderr[-300:])


def test_rerank(tmp: str) -> None:
    d = os.path.join(tmp, "Tiny-Reranker")
    run("make-test-model", "--preset", "qwen3-reranker-tiny", "--dtype", "f32", "--seed", "9", "--out", d)
    m = ref.load_model(d)
    yes, no = token_id(d, "yes"), token_id(d, "no")
    query, docs = "What is the capital of China?", TEXTS
    for instruction in [None, "Judge relevance for a travel guide"]:
        extra = ["--instruct", instruction] if instruction else []
        out = json.loads(run("rerank", "--model", d, "--kv-dtype", "f32", "--query", query, *extra, *docs).stdout)
        got = {r["index"]: r["relevance_score"] for r in out["results"]}
        scores = [r["relevance_score"] for r in out["results"]]
        err = 0.0
        for i, doc in enumerate(docs):
            pre, body, suf = tokenize(d, [RERANK_PREFIX, f"<Instruct>: {instruction or TASK}\n<Query>: {query}\n<Document>: {doc}",
                                          RERANK_SUFFIX])
            logits = ref.forward(m, pre + body + suf, last_only=True, kv_dtype="f32")[0]
            pair = np.array([logits[no], logits[yes]])
            want = np.exp(pair - np.logaddexp(pair[0], pair[1]))[1]  # log_softmax, then exp, the "yes" column
            err = max(err, abs(got[i] - want))
        check(f"rerank{' --instruct' if instruction else ''}: scores equal the reference", err < TOL, f"max|Δ| {err:.3g}")
        check("rerank: results best first, every document once", scores == sorted(scores, reverse=True) and
              sorted(got) == list(range(len(docs))))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="qwen3_embed_ref_") as tmp:
        test_embedding(tmp, "embedding", None)
        test_embedding(tmp, "embedding-untied-headless", {"tie_word_embeddings": False})
        test_errors(tmp)
        test_rerank(tmp)
    print(f"{'FAILED' if failures else 'passed'}: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
