#!/usr/bin/python3
"""The hostile-request suite: requests built to crash, hang or exhaust `qwen3 serve`, each with the
status and error shape it must get, and the server healthy (a quick /health) after each. Raw sockets
for what curl will not send (broken framing, slow headers); a chat template with arithmetic and
loops driven by chat_template_kwargs; non-streamed cancellation; the SIGTERM drain; the flags that
bound connections and request sizes. QWEN3_BIN points at the binary."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from cli_check import check, finish  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_process import start_server  # noqa: E402

BIN = os.environ["QWEN3_BIN"]
SANITIZED = bool(os.environ.get("QWEN3_SANITIZED"))
SLOW = 4 if SANITIZED else 1  # time bounds scale under the sanitizers

# A template that does what hostile chat_template_kwargs ask, then renders the messages as ChatML.
TEMPLATE = r"""
{%- if mode == 'div' %}{{ page // per_page }}
{%- elif mode == 'mod' %}{{ page % per_page }}
{%- elif mode == 'abs' %}{{ page | abs }}
{%- elif mode == 'int' %}{{ text | int }}
{%- elif mode == 'width' %}{{ '%1000000000d' % 1 }}
{%- elif mode == 'cycle' %}{% set l = [] %}{% set _ = l.append(l) %}{{ l | tojson }}
{%- elif mode == 'cycle_str' %}{% set l = [] %}{% set _ = l.append(l) %}{{ l | string }}
{%- elif mode == 'range' %}{% for i in range(n) %}{% endfor %}
{%- elif mode == 'nested' %}{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}
{%- elif mode == 'repeat' %}{% for i in range(1000) %}{% set x = 'a' * n %}{% endfor %}
{%- elif mode == 'center' %}{{ 'x'.center(n) }}
{%- endif %}
{%- for m in messages %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endfor %}<|im_start|>assistant
"""


def start(model, *extra):
    return start_server(BIN, model, *extra, sanitized=SANITIZED)


def raw(port, data, timeout=10, read=True):
    """Sends raw bytes; returns (status or 0, response text, seconds until the response or close)."""
    t0 = time.time()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before it read everything
        out = b""
        if read:
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
                    if b"\r\n\r\n" in out:
                        head, _, body = out.partition(b"\r\n\r\n")
                        m = re.search(rb"Content-Length: (\d+)", head, re.I)
                        if m and len(body) >= int(m.group(1)):
                            break
            except (socket.timeout, ConnectionResetError):
                pass
    finally:
        s.close()
    text = out.decode("utf-8", "replace")
    m = re.match(r"HTTP/1\.[01] (\d+)", text)
    return (int(m.group(1)) if m else 0), text, time.time() - t0


def request(port, method, path, body=None, headers=(), timeout=60):
    """One HTTP/1.1 request with Connection: close; returns (status, parsed JSON or text)."""
    data = body.encode() if isinstance(body, str) else (body or b"")
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
    head += "".join(h + "\r\n" for h in headers)
    if body is not None:
        head += f"Content-Length: {len(data)}\r\n"
    status, text, _ = raw(port, head.encode() + b"\r\n" + data, timeout=timeout)
    payload = text.partition("\r\n\r\n")[2]
    if "Transfer-Encoding: chunked" in text.partition("\r\n\r\n")[0]:
        payload = dechunk(payload)
    try:
        return status, json.loads(payload)
    except (ValueError, json.JSONDecodeError):
        return status, payload


def dechunk(s):
    out, rest = "", s
    while rest:
        size_line, _, rest = rest.partition("\r\n")
        try:
            n = int(size_line.strip() or "0", 16)
        except ValueError:
            break
        if n == 0:
            break
        out += rest[:n]
        rest = rest[n + 2:]
    return out


def is_error(j, status):
    return isinstance(j, dict) and isinstance(j.get("error"), dict) and isinstance(j["error"].get("message"), str) \
        and status >= 400


def healthy(port, name):
    t0 = time.time()
    try:
        status, _ = request(port, "GET", "/health", timeout=5 * SLOW)
    except OSError as e:
        status = f"{e}"
    check(f"healthy after {name}", status == 200 and time.time() - t0 < 5 * SLOW, f"{status} in {time.time() - t0:.1f} s")


def metric(port, name):
    _, text = request(port, "GET", "/metrics")
    m = re.search(rf"^{re.escape(name)} (\S+)", text if isinstance(text, str) else "", re.M)
    return float(m.group(1)) if m else None


def wait_metric(port, name, pred, seconds):
    t0 = time.time()
    v = None
    while time.time() - t0 < seconds:
        v = metric(port, name)
        if v is not None and pred(v):
            return v, time.time() - t0
        time.sleep(0.05)
    return v, time.time() - t0


tmp = tempfile.mkdtemp(prefix="qwen3_hostile_")
procs = []
try:
    m = os.path.join(tmp, "tiny")
    subprocess.run([BIN, "make-test-model", "--preset", "tiny", "--seed", "3", "--out", m], capture_output=True)
    if not os.path.exists(os.path.join(m, "tokenizer.json")):
        print("FAIL: make-test-model found no tokenizer files (run npm ci at the repository root, or set QWEN3_TOKENIZER_DIR)")
        sys.exit(1)
    with open(os.path.join(m, "chat_template.jinja"), "w") as f:
        f.write(TEMPLATE)
    p, port = start(m, "--kv-memory", "0.05", "--max-batch", "4", "--max-messages", "1000",
                    "--http-header-timeout", str(2 * SLOW))
    procs.append(p)
    chat = "/v1/chat/completions"
    ok_msg = [{"role": "user", "content": "hi"}]

    def expect(name, status, path, body, **kw):
        t0 = time.time()
        code, j = request(port, "POST", path, body, **kw)
        check(name, code == status and is_error(j, code), f"{code} {str(j)[:300]}")
        check(f"{name}: answered within 10 s", time.time() - t0 < 10 * SLOW, f"{time.time() - t0:.1f} s")
        healthy(port, name)
        return j

    # 1, 2, 7: the chat template is asked to overflow, recurse and run without bound.
    int_min = -9223372036854775808
    for mode, kw in [("div", {"page": int_min, "per_page": -1}),
                     ("abs", {"page": int_min}), ("int", {"text": "9" * 30}), ("width", {}),
                     ("cycle", {}), ("range", {"n": 2 ** 24 - 1}), ("nested", {"n": 100000}),
                     ("repeat", {"n": 2 ** 28}), ("center", {"n": 10 ** 9})]:
        j = expect(f"template {mode}", 400, chat, json.dumps({"messages": ok_msg, "max_tokens": 2,
                                                               "chat_template_kwargs": {"mode": mode, **kw}}))
        check(f"template {mode}: says the template refused", is_error(j, 400) and "template" in j["error"]["message"], j)
    # What Python can represent is answered as Python does: INT64_MIN % -1 is 0, str() of a list
    # that holds itself is "[[...]]"; and arithmetic in range still works.
    for mode, kw in [("mod", {"page": int_min, "per_page": -1}), ("cycle_str", {}), ("div", {"page": 7, "per_page": -2})]:
        code, j = request(port, "POST", chat, json.dumps({"messages": ok_msg, "max_tokens": 2,
                                                          "chat_template_kwargs": {"mode": mode, **kw}}))
        check(f"template {mode} {kw}: 200", code == 200, f"{code} {j}")
        healthy(port, f"template {mode}")

    # 8: bounded requests.
    many = [{"role": "user", "content": "x"}] * 1001
    j = expect("1001 messages past --max-messages 1000", 400, chat, json.dumps({"messages": many}))
    check("the error names --max-messages", is_error(j, 400) and "--max-messages" in j["error"]["message"], j)

    # Members of the wrong JSON type where the parser compares a string: the client's 400, naming
    # the field (these were 500 "internal error" from nlohmann's type_error; found by fuzz_chat_request).
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    for name, param, body, path in [
            ("content part whose type is an object", "messages",
             {"messages": [{"role": "user", "content": [{"type": {"a": 1}, "text": "x"}]}]}, chat),
            ("tool whose type is a number", "tools", {"messages": ok_msg, "tools": [{**tool, "type": 5}]}, chat),
            ("tool_choice whose type is a list", "tool_choice",
             {"messages": ok_msg, "tools": [tool], "tool_choice": {"type": [], "function": {"name": "f"}}}, chat),
            ("tokenize: add_generation_prompt a string", "add_generation_prompt",
             {"messages": ok_msg, "add_generation_prompt": "yes"}, "/tokenize")]:
        j = expect(name, 400, path, json.dumps({**body, "max_tokens": 2} if path == chat else body))
        check(f"{name}: names '{param}'", is_error(j, 400) and j["error"].get("param") == param, j)

    # 3 (server side): a deep array where a token id belongs.
    expect("detokenize: nested arrays", 400, "/detokenize", '{"tokens": [' + "[" * 60 + "]" * 60 + "]}")

    # 9: broken framing is answered at once (not after a read timeout), and the server stays up.
    framing = [
        ("1 MB header line", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"),
        ("1 MB request line", b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("bad chunk size", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("bad Content-Length", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}"),
        ("negative Content-Length", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}"),
        ("huge Content-Length", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}"),
        ("garbage request line", b"\x00\x01\x02 nonsense\r\n\r\n"),
        ("HTTP/9.9", b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n"),
    ]
    # cpp-httplib skips a header line without a colon and takes any number of headers: harmless
    # for a GET, but they must not stall the connection either.
    lenient = [
        ("header without a colon", b"GET /health HTTP/1.1\r\nHost x\r\nnonsense\r\n\r\n"),
        ("10,000 headers", b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 10000 + b"\r\n"),
    ]
    for name, data in framing + lenient:
        status, text, secs = raw(port, data, timeout=15)
        check(f"framing: {name}: answered or closed within 2 s", secs < 2 * SLOW, f"{secs:.1f} s, {text[:120]!r}")
        if (name, data) in framing:
            check(f"framing: {name}: not a success", status != 200, text[:200])
        healthy(port, f"framing: {name}")

    # 6: a client that abandons a non-streamed request cancels it.
    cancelled0 = metric(port, 'qwen3_sequences_finished_total{reason="cancelled"}') or 0
    s = socket.create_connection(("127.0.0.1", port))
    body = json.dumps({"messages": ok_msg, "max_tokens": 3900, "ignore_eos": True}).encode()
    s.sendall(f"POST {chat} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    v, _ = wait_metric(port, "qwen3_kv_pages_used", lambda x: x > 0, 10 * SLOW)
    check("non-streamed request runs", v is not None and v > 0, v)
    s.close()
    t_close = time.time()
    v, secs = wait_metric(port, "qwen3_kv_pages_used", lambda x: x == 0, 10 * SLOW)
    check("non-streamed request: closing the socket frees its KV pages within 2 s", v == 0 and secs < 2 * SLOW,
          f"{v} pages after {secs:.2f} s")
    c1 = metric(port, 'qwen3_sequences_finished_total{reason="cancelled"}') or 0
    check("non-streamed request: counted as cancelled", c1 == cancelled0 + 1, f"{cancelled0} -> {c1}")
    healthy(port, "non-streamed cancel")

    # 9: slow headers. 300 connections trickle their headers; /health still answers at once, and
    # each slow connection is cut at the header deadline (2 s here).
    slow = []
    for _ in range(300):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"GET /health HTTP/1.1\r\nHo")
        slow.append(c)
    time.sleep(0.3)
    healthy(port, "300 slow-header connections")
    for c in slow[:50]:
        c.sendall(b"s")
    t0 = time.time()
    closed = 0
    for c in slow:
        c.settimeout(max(0.1, 8 * SLOW - (time.time() - t0)))
        try:
            closed += c.recv(100) == b""
        except (socket.timeout, ConnectionResetError):
            closed += 1 if isinstance(sys.exc_info()[1], ConnectionResetError) else 0
        c.close()
    check("slow-header connections are closed at the header deadline", closed == 300 and time.time() - t0 < 8 * SLOW,
          f"{closed}/300 closed in {time.time() - t0:.1f} s")
    # A body that stops half way is cut at the body deadline (default 60 s: tested with the flag below).

    # 12 (part): a request still streaming when SIGTERM comes gets its final event and [DONE].
    long_req = subprocess.Popen(
        ["curl", "-s", "-N", "--max-time", "120", f"http://127.0.0.1:{port}{chat}", "--data-binary",
         json.dumps({"messages": ok_msg, "max_tokens": 3900, "ignore_eos": True, "stream": True})],
        stdout=subprocess.PIPE, text=True)
    # Both admitted before the signal (a request still on its way gets the draining 503); the short
    # one (200 tokens, a few seconds) finishes inside the 30 s drain.
    v, _ = wait_metric(port, "qwen3_requests_running", lambda x: x >= 1, 20 * SLOW)
    short_req = subprocess.Popen(
        ["curl", "-s", "--max-time", "120", f"http://127.0.0.1:{port}{chat}", "--data-binary",
         json.dumps({"messages": ok_msg, "max_tokens": 200, "ignore_eos": True})], stdout=subprocess.PIPE, text=True)
    v, _ = wait_metric(port, "qwen3_requests_running", lambda x: x >= 2, 20 * SLOW)
    check("both requests run before SIGTERM", v is not None and v >= 2, v)
    p.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    try:
        code, j = request(port, "POST", chat, json.dumps({"messages": ok_msg, "max_tokens": 2}), timeout=5)
        check("draining: a new generation gets 503", code == 503 and is_error(j, code), f"{code} {j}")
    except OSError as e:
        check("draining: a new generation gets 503", False, f"{e}")
    out_long = long_req.communicate(timeout=120)[0]
    out_short = short_req.communicate(timeout=120)[0]
    rc = p.wait(timeout=60)
    procs.remove(p)
    check("SIGTERM: exit 0", rc == 0, f"exit {rc}")
    events = [l[6:] for l in out_long.splitlines() if l.startswith("data: ")]
    reasons = [c.get("finish_reason") for e in events[:-1] for c in json.loads(e).get("choices", [])]
    check("SIGTERM: the running stream ends with a finish_reason and [DONE]",
          events and events[-1] == "[DONE]" and reasons and reasons[-1] is not None, out_long[-300:])
    try:
        short = json.loads(out_short)
        check("SIGTERM: a short non-streamed request finishes normally",
              short["choices"][0]["finish_reason"] == "length" and short["usage"]["completion_tokens"] == 200, short)
    except (ValueError, KeyError, IndexError) as e:
        check("SIGTERM: a short non-streamed request finishes normally", False, f"{e}: {out_short[:300]}")

    # Connection cap and body deadline on a server with small limits.
    p2, port2 = start(m, "--kv-memory", "0.05", "--http-threads", "8", "--http-header-timeout", str(30 * SLOW),
                      "--http-body-timeout", str(1 * SLOW), "--max-inflight-body-bytes", "4000",
                      "--max-prompt-bytes", "3000", "--shutdown-timeout", "1")
    procs.append(p2)
    port_hold = port2
    held = [socket.create_connection(("127.0.0.1", port2)) for _ in range(8)]
    time.sleep(0.3)
    status, text, secs = raw(port2, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", timeout=10)
    check("connection past --http-threads: immediate 503", status == 503 and secs < 1 * SLOW and "error" in text,
          f"{status} in {secs:.2f} s: {text[:200]}")
    for c in held:
        c.close()
    time.sleep(0.3)
    status, _ = request(port2, "GET", "/health", timeout=5)
    check("after the connections close, /health answers", status == 200, status)
    # A body that stops half way: cut at the 1 s body deadline.
    c = socket.create_connection(("127.0.0.1", port2))
    c.sendall(f"POST {chat} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{\"messages\"".encode())
    c.settimeout(10 * SLOW)
    t0 = time.time()
    try:
        got = c.recv(1000)
    except (socket.timeout, ConnectionResetError):
        got = b"?"
    c.close()
    check("a stalled body is cut at --http-body-timeout", time.time() - t0 < 4 * SLOW,
          f"{time.time() - t0:.1f} s, {got[:100]!r}")
    j_prompt = json.dumps({"messages": [{"role": "user", "content": "y" * 5000}]})
    code, j = request(port2, "POST", chat, j_prompt)
    check("body past --max-inflight-body-bytes: 503 naming the flag",
          code == 503 and is_error(j, code) and "--max-inflight-body-bytes" in j["error"]["message"], f"{code} {j}")
    code, j = request(port2, "POST", chat, json.dumps({"messages": [{"role": "user", "content": "y" * 3000}]}))
    check("prompt past --max-prompt-bytes: 400 naming the flag",
          code == 400 and is_error(j, code) and "--max-prompt-bytes" in j["error"]["message"], f"{code} {j}")
    # SIGTERM with a stream that outlives --shutdown-timeout 1: cancelled, with its final event.
    long_req = subprocess.Popen(
        ["curl", "-s", "-N", "--max-time", "60", f"http://127.0.0.1:{port2}{chat}", "--data-binary",
         json.dumps({"messages": ok_msg, "max_tokens": 3900, "ignore_eos": True, "stream": True})],
        stdout=subprocess.PIPE, text=True)
    v, _ = wait_metric(port2, "qwen3_requests_running", lambda x: x >= 1, 20 * SLOW)
    check("the stream runs before SIGTERM", v is not None and v >= 1, v)
    t0 = time.time()
    p2.send_signal(signal.SIGTERM)
    out_long = long_req.communicate(timeout=60)[0]
    rc = p2.wait(timeout=60)
    procs.remove(p2)
    check("SIGTERM past --shutdown-timeout: exit 0 within a few seconds", rc == 0 and time.time() - t0 < 8 * SLOW,
          f"exit {rc} after {time.time() - t0:.1f} s")
    events = [l[6:] for l in out_long.splitlines() if l.startswith("data: ")]
    reasons = [c.get("finish_reason") for e in events[:-1] for c in json.loads(e).get("choices", [])]
    check("SIGTERM past --shutdown-timeout: the stream ends with finish_reason abort and [DONE]",
          events and events[-1] == "[DONE]" and reasons and reasons[-1] == "abort", out_long[-300:])

    # 10, 9: flags and addresses that must fail to start, with a clear message.
    p3, port3 = start(m, "--kv-memory", "0.05")
    procs.append(p3)
    for name, args, pattern in [
        ("--host 999.1.1.1", ["--host", "999.1.1.1"], r"999\.1\.1\.1: (?!Success)"),
        ("--http-threads 100000", ["--http-threads", "100000"], r"--http-threads must be 1\.\.4096"),
        ("--http-threads 0", ["--http-threads", "0"], r"--http-threads"),
        ("--shutdown-timeout -1", ["--shutdown-timeout", "-1"], r"--shutdown-timeout"),
        ("a port already in use", ["--port", str(port3)], r"cannot bind 127\.0\.0\.1:\d+: Address already in use"),
    ]:
        args = ["--port", "0", *args] if "--port" not in args else args
        r = subprocess.run([BIN, "serve", "--model", m, "--kv-memory", "0.05", *args], capture_output=True, text=True,
                           timeout=60 * SLOW)
        check(f"serve {name}: refused", r.returncode != 0 and re.search(pattern, r.stderr), f"{r.returncode} {r.stderr[-300:]}")
    healthy(port3, "a second server tried the same port")
finally:
    for q in procs:
        if q.poll() is None:
            q.terminate()
        try:
            q.wait(timeout=30)
        except subprocess.TimeoutExpired:
            q.kill()
    shutil.rmtree(tmp, ignore_errors=True)
finish()
