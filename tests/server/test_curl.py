#!/usr/bin/python3
"""Malformed and hostile requests with curl against `qwen3 serve` on a loopback port: every one gets
OpenAI's error JSON with the right status, and the server stays up. QWEN3_BIN points at the binary."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from cli_check import alive, check, finish, job_ranks, terminate_server  # noqa: E402
from serve_process import start_server  # noqa: E402

BIN = os.environ["QWEN3_BIN"]
SANITIZED = bool(os.environ.get("QWEN3_SANITIZED"))
# A launcher prefix, split on spaces: QWEN3_LAUNCH="mpirun -n 2 --oversubscribe --bind-to none" runs the
# servers tensor-parallel (mpirun is then the process started).
LAUNCH = os.environ.get("QWEN3_LAUNCH", "").split()


def start(model, *extra):
    p, port = start_server(BIN, model, *extra, sanitized=SANITIZED, launch=LAUNCH)
    p.ranks = job_ranks(p.pid) if LAUNCH else {}
    return p, f"http://127.0.0.1:{port}"


def curl(url, path, body=None, method=None, headers=(), timeout=60, data_file=None):
    """Returns (status, parsed JSON or text)."""
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", str(timeout)]
    if method:
        args += ["-X", method]
    for h in headers:
        args += ["-H", h]
    if data_file:
        args += ["--data-binary", "@" + data_file]
    elif body is not None:
        args += ["--data-binary", "@-"]
    p = subprocess.run(args + [url + path], input=body if isinstance(body, bytes) else (body or "").encode(),
                       capture_output=True)
    out = p.stdout.decode("utf-8", "replace")
    text, _, code = out.rpartition("\n")
    try:
        return int(code), json.loads(text)
    except (ValueError, json.JSONDecodeError):
        return int(code or 0), text


def is_error(j, status):
    return isinstance(j, dict) and isinstance(j.get("error"), dict) and isinstance(j["error"].get("message"), str) \
        and j["error"].get("type") and status >= 400


tmp = tempfile.mkdtemp(prefix="qwen3_curl_")
procs = []
try:
    m = os.path.join(tmp, "tiny")
    subprocess.run([BIN, "make-test-model", "--preset", "tiny", "--seed", "2", "--out", m], capture_output=True)
    if not os.path.exists(os.path.join(m, "tokenizer.json")):
        print("FAIL: make-test-model found no tokenizer files (run npm ci at the repository root, or set QWEN3_TOKENIZER_DIR)")
        sys.exit(1)
    p, url = start(m, "--kv-memory", "0.05", "--max-batch", "4")
    procs.append(p)
    chat = "/v1/chat/completions"
    ok_msg = [{"role": "user", "content": "hi"}]

    def expect(name, status, path, body, **kw):
        code, j = curl(url, path, body, **kw)
        check(name, code == status and is_error(j, code), f"{code} {str(j)[:300]}")
        return j

    expect("invalid JSON", 400, chat, '{"messages": [')
    expect("not an object", 400, chat, '[1, 2]')
    expect("invalid UTF-8 in a string", 400, chat, b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}')
    expect("lone surrogate escape", 400, chat, '{"messages": [{"role": "user", "content": "\\ud800"}]}')
    expect("deep nesting", 400, chat, "[" * 100000 + "]" * 100000)
    big = os.path.join(tmp, "big.json")
    with open(big, "w") as f:
        f.write('{"messages": [{"role": "user", "content": "' + "a" * (10 << 20) + '"}]}')
    expect("10 MB body: 413", 413, chat, None, data_file=big)
    for field, value in [("max_tokens", -1), ("max_tokens", 0), ("max_tokens", 1e30), ("max_tokens", 99999999999999),
                         ("max_tokens", 18446744073709551615), ("max_tokens", 2.5), ("max_tokens", "10"),
                         ("temperature", -0.5), ("temperature", 1e308), ("temperature", "hot"), ("top_p", 0),
                         ("top_p", 1.5), ("top_k", -7), ("n", 0), ("n", 1000), ("logprobs", "yes"), ("top_logprobs", 50),
                         ("stop", 5), ("stop", [""]), ("stream", "true"), ("seed", 1.5), ("logit_bias", {"abc": 1}),
                         ("logit_bias", {"5": 1000}), ("logit_bias", {"9999999": 1}), ("stop_token_ids", [-1]),
                         ("presence_penalty", 3), ("response_format", {"type": "xml"}),
                         ("response_format", {"type": "json_schema", "json_schema": {"schema": {"multipleOf": 2}}}),
                         ("guided_regex", "(a)\\1"), ("tool_choice", "required")]:
        expect(f"{field}={json.dumps(value)[:30]}", 400, chat,
               json.dumps({"model": "tiny", "messages": ok_msg, "max_tokens": 4, field: value}))
    expect("messages missing", 400, chat, '{"model": "tiny"}')
    expect("messages empty", 400, chat, '{"messages": []}')
    expect("message not an object", 400, chat, '{"messages": ["hi"]}')
    expect("bad role", 400, chat, '{"messages": [{"role": "wizard", "content": "hi"}]}')
    expect("content wrong type", 400, chat, '{"messages": [{"role": "user", "content": 5}]}')
    expect("image part", 400, chat, '{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}')
    expect("tools wrong shape", 400, chat, json.dumps({"messages": ok_msg, "tools": [{"type": "function"}]}))
    j = expect("unknown model", 400, chat, json.dumps({"model": "gpt-4", "messages": ok_msg}))
    check("unknown model code", j.get("error", {}).get("code") == "model_not_found", j)
    j = expect("prompt longer than the context", 400, chat,
               json.dumps({"messages": [{"role": "user", "content": "hello " * 5000}], "max_tokens": 4}))
    check("context error code", j.get("error", {}).get("code") == "context_length_exceeded", j)
    check("context error names messages", j.get("error", {}).get("param") == "messages", j)
    j = expect("completions: prompt longer than the context", 400, "/v1/completions",
               json.dumps({"prompt": "hello " * 5000, "max_tokens": 4}))
    check("completions: context error names prompt", j.get("error", {}).get("param") == "prompt" and
          j.get("error", {}).get("code") == "context_length_exceeded", j)
    expect("max_tokens past the context", 400, chat, json.dumps({"messages": ok_msg, "max_tokens": 4090}))
    expect("completions: no prompt", 400, "/v1/completions", '{"max_tokens": 3}')
    expect("completions: token id out of range", 400, "/v1/completions", '{"prompt": [1, 2, 999999], "max_tokens": 3}')
    expect("completions: batch of prompts", 400, "/v1/completions", '{"prompt": ["a", "b"], "max_tokens": 3}')
    expect("completions: echo", 400, "/v1/completions", '{"prompt": "a", "echo": true}')
    expect("detokenize: bad id", 400, "/detokenize", '{"tokens": [1, -5]}')
    expect("tokenize: nothing", 400, "/tokenize", '{}')
    expect("404 route", 404, "/v1/nothing", None)
    expect("404 method", 404, "/v1/chat/completions", None, method="GET")
    # Valid requests still work after all that, and the odd-but-valid ones are accepted.
    code, j = curl(url, chat, json.dumps({"messages": ok_msg, "max_tokens": 3, "temperature": 0}))
    check("valid chat after abuse", code == 200 and j["usage"]["completion_tokens"] == 3, f"{code} {j}")
    code, j = curl(url, chat, json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                                          "max_completion_tokens": 2, "seed": -3, "top_k": -1, "max_tokens": None}))
    check("content parts, max_completion_tokens, negative seed", code == 200 and j["usage"]["completion_tokens"] == 2, f"{code} {j}")
    code, j = curl(url, "/detokenize", json.dumps({"tokens": [9707, 11, 1879]}))
    check("detokenize", code == 200 and isinstance(j.get("prompt"), str), f"{code} {j}")
    code, j = curl(url, "/health", None)
    check("health", code == 200, f"{code} {j}")
    # A client that goes away mid-stream: its request is cancelled and its pages freed at once.
    code, _ = curl(url, chat, json.dumps({"messages": ok_msg, "max_tokens": 3000, "stream": True, "ignore_eos": True}),
                   timeout=1)
    t0 = time.time()
    used = None
    while time.time() - t0 < 5:
        _, text = curl(url, "/metrics", None)
        used = re.search(r"^qwen3_kv_pages_used (\d+)", text, re.M)
        if used and used.group(1) == "0":
            break
        time.sleep(0.05)
    check("disconnect frees the KV pages", used is not None and used.group(1) == "0", f"{used and used.group(0)}")
    _, text = curl(url, "/metrics", None)
    check("disconnect counted as cancelled", re.search(r'qwen3_sequences_finished_total\{reason="cancelled"\} [1-9]', text) is not None, text[:2000])

    # Queue full: one running, none may wait.
    p2, url2 = start(m, "--kv-memory", "0.05", "--max-batch", "1", "--max-queue", "0")
    procs.append(p2)
    long_req = subprocess.Popen(["curl", "-s", "-N", "--max-time", "20", url2 + chat, "--data-binary",
                                 json.dumps({"messages": ok_msg, "max_tokens": 3000, "ignore_eos": True, "stream": True})],
                                stdout=subprocess.PIPE)
    time.sleep(0.5)
    code, j = curl(url2, chat, json.dumps({"messages": ok_msg, "max_tokens": 2}))
    check("queue full: 503", code == 503 and is_error(j, code), f"{code} {j}")
    long_req.kill()
    long_req.wait()
    # Missing and wrong keys.
    p3, url3 = start(m, "--kv-memory", "0.05", "--api-key", "k3y")
    procs.append(p3)
    code, j = curl(url3, chat, json.dumps({"messages": ok_msg, "max_tokens": 2}))
    check("missing key: 401", code == 401 and is_error(j, code), f"{code} {j}")
    code, j = curl(url3, chat, json.dumps({"messages": ok_msg, "max_tokens": 2}), headers=["Authorization: Bearer nope"])
    check("wrong key: 401", code == 401 and is_error(j, code), f"{code} {j}")
    code, j = curl(url3, chat, json.dumps({"messages": ok_msg, "max_tokens": 2}), headers=["Authorization: Bearer k3y"])
    check("right key: 200", code == 200, f"{code} {j}")
    code, j = curl(url3, "/health", None)
    check("health without key: 200", code == 200, f"{code} {j}")
    # Speculative decoding (n-gram): a greedy completion equals the plain server's, and /metrics has
    # the spec counters on both (0 without speculation).
    p4, url4 = start(m, "--kv-memory", "0.05", "--spec", "ngram", "--spec-k", "3")
    procs.append(p4)
    body = json.dumps({"prompt": [5, 6, 7, 8, 5, 6, 7, 8, 5, 6], "max_tokens": 24, "temperature": 0})
    code_a, ja = curl(url, "/v1/completions", body)
    code_b, jb = curl(url4, "/v1/completions", body)
    ok = code_a == 200 and code_b == 200 and ja["choices"][0]["text"] == jb["choices"][0]["text"] \
        and ja["choices"][0]["finish_reason"] == jb["choices"][0]["finish_reason"]
    check("spec ngram: same greedy completion", ok, f"{code_a} {str(ja)[:300]} | {code_b} {str(jb)[:300]}")
    spec_counters = ["qwen3_spec_verify_steps_total", "qwen3_spec_draft_tokens_total", "qwen3_spec_accepted_tokens_total",
                     "qwen3_spec_emitted_tokens_total", "qwen3_spec_draft_seconds_total", "qwen3_spec_verify_seconds_total"]
    for u, name in [(url, "plain"), (url4, "spec")]:
        _, text = curl(u, "/metrics", None)
        for c in spec_counters:
            check(f"metrics ({name}): {c}", isinstance(text, str) and re.search(rf"^{c} [0-9.e+-]+$", text, re.M)
                  and f"# TYPE {c} counter" in text, str(text)[-500:])
    for q in procs:
        check("server still running", q.poll() is None, f"exit {q.poll()}")
finally:
    for q in procs:
        if q.poll() is None:
            terminate_server(q, bool(LAUNCH))
        try:
            rc = q.wait(timeout=30)
            check("server exits cleanly on SIGTERM", rc == 0, f"exit {rc}")
        except subprocess.TimeoutExpired:
            q.kill()
            q.wait()
            check("server exits on SIGTERM", False, "timeout")
        if LAUNCH:
            deadline = time.time() + 5
            while time.time() < deadline and any(alive(r) for r in q.ranks.values()):
                time.sleep(0.1)
            check("no rank left running", not any(alive(r) for r in q.ranks.values()), q.ranks)
    shutil.rmtree(tmp, ignore_errors=True)
finish()
