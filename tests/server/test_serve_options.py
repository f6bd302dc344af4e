#!/usr/bin/python3
"""`qwen3 serve`'s environment variables (QWEN3_MODEL, QWEN3_HOST, QWEN3_PORT, QWEN3_API_KEY,
QWEN3_MAX_BATCH, QWEN3_KV_MEMORY, QWEN3_SERVED_MODEL_NAME, QWEN3_LOG_LEVEL, QWEN3_LOG_FORMAT; a flag
wins over its variable), the access log (one record per HTTP request: method, path, status,
milliseconds) in text and JSON, --log-level and --quiet. QWEN3_BIN points at the binary."""
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from cli_check import BIN, check, finish  # noqa: E402

SANITIZED = bool(os.environ.get("QWEN3_SANITIZED"))
START_S = 120 if SANITIZED else 30
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("QWEN3_") or k in ("QWEN3_TOKENIZER_DIR", "QWEN3_SANITIZED", "QWEN3_PROGRESS_DELAY_MS")}
TEXT_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`qwen3 serve ARGS` with environment `env`; its stderr lines are collected as they come."""

    def __init__(self, args, env):
        self.p = subprocess.Popen([BIN, "serve", *args], stderr=subprocess.PIPE, text=True, env={**BASE_ENV, **env})
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=lambda: [self.lines.put(l.rstrip("\n")) for l in self.p.stderr], daemon=True).start()

    def wait_for(self, pattern, timeout=START_S):
        """The first stderr line (old or new) that matches `pattern`, or None."""
        for l in self.seen:
            if (m := re.search(pattern, l)):
                return m
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                l = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.p.poll() is not None and self.lines.empty():
                    return None
                continue
            self.seen.append(l)
            if (m := re.search(pattern, l)):
                return m
        return None

    def drain(self, secs=0.5):
        time.sleep(secs)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.seen

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def get(url, path, key=None, body=None):
    req = urllib.request.Request(url + path, data=body, headers={"Authorization": f"Bearer {key}"} if key else {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except (urllib.error.URLError, ConnectionError) as e:  # not listening (yet): status 0
        return 0, {"error": str(e)}


def refused(name, args, env, want):
    p = subprocess.run([BIN, "serve", *args], capture_output=True, text=True, env={**BASE_ENV, **env}, timeout=300)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(name, p.returncode != 0 and len(lines) == 1 and want in lines[0], f"rc={p.returncode} {p.stderr!r}")


tmp = tempfile.mkdtemp(prefix="qwen3_serve_opts_")
servers = []
try:
    model = os.path.join(tmp, "tiny")
    p = subprocess.run([BIN, "make-test-model", "--preset", "tiny", "--seed", "4", "--out", model], capture_output=True, text=True)
    check("make-test-model", p.returncode == 0 and os.path.exists(os.path.join(model, "tokenizer.json")), p.stderr)

    # Everything from the environment.
    port = free_port()
    env = {"QWEN3_MODEL": model, "QWEN3_HOST": "127.0.0.1", "QWEN3_PORT": str(port), "QWEN3_API_KEY": "sekret",
           "QWEN3_MAX_BATCH": "3", "QWEN3_KV_MEMORY": "0.001", "QWEN3_SERVED_MODEL_NAME": "from-env"}
    s = Server([], env)
    servers.append(s)
    m = s.wait_for(r"listening on http://127\.0\.0\.1:(\d+) \(model (\S+), (\d+) KV pages = \d+ tokens, max batch (\d+)\)")
    check("env: QWEN3_MODEL, QWEN3_HOST, QWEN3_PORT, QWEN3_MAX_BATCH, QWEN3_SERVED_MODEL_NAME",
          m is not None and m.group(1) == str(port) and m.group(2) == "from-env" and m.group(4) == "3", s.seen)
    kv_small = int(m.group(3)) if m else 0
    url = f"http://127.0.0.1:{port}"
    code, _ = get(url, "/v1/models")
    check("env: QWEN3_API_KEY required", code == 401, code)
    code, j = get(url, "/v1/models", key="sekret")
    check("env: QWEN3_API_KEY accepted", code == 200 and j["data"][0]["id"] == "from-env", j)
    # The access log, text: one record per request with method, path, status and milliseconds.
    code, _ = get(url, "/health")
    body = json.dumps({"prompt": "Hi", "max_tokens": 2}).encode()
    code2, _ = get(url, "/v1/completions", key="sekret", body=body)
    for method, path, status in [("GET", "/v1/models", 401), ("GET", "/v1/models", 200), ("GET", "/health", 200),
                                 ("POST", "/v1/completions", 200)]:
        check(f"access log: {method} {path} {status}",
              s.wait_for(rf"^{TEXT_TIME} \[info\] {method} {re.escape(path)} {status} \d+\.\d ms$", 10) is not None, s.seen)
    s.stop()

    # Flags win over the environment; QWEN3_KV_MEMORY is read (a larger cache, more pages).
    port2 = free_port()
    s = Server(["--model", model, "--port", str(port2), "--max-batch", "2", "--kv-memory", "0.002"],
               {"QWEN3_MODEL": os.path.join(tmp, "nowhere"), "QWEN3_PORT": "1", "QWEN3_MAX_BATCH": "0",
                "QWEN3_KV_MEMORY": "-1"})
    servers.append(s)
    m = s.wait_for(r"listening on http://127\.0\.0\.1:(\d+) \(model (\S+), (\d+) KV pages = \d+ tokens, max batch (\d+)\)")
    check("flags win over the environment", m is not None and m.group(1) == str(port2) and m.group(2) == "tiny"
          and m.group(4) == "2", s.seen)
    # Pages = floor(GiB * 2^30 / page bytes) (well under max batch x context here): twice the memory,
    # twice the pages, give or take the rounding down.
    check("env: QWEN3_KV_MEMORY (0.001 GiB before, 0.002 now)", m is not None and kv_small > 0
          and int(m.group(3)) in (2 * kv_small, 2 * kv_small + 1),
          f"{m and m.group(3)} vs {kv_small}")
    s.stop()

    # A bad value from the environment is refused like the flag's, before the model loads.
    refused("env: bad QWEN3_MAX_BATCH", [], {"QWEN3_MODEL": model, "QWEN3_MAX_BATCH": "0"}, "--max-batch: must be 1..1024, got 0")
    refused("env: bad QWEN3_KV_MEMORY", [], {"QWEN3_MODEL": model, "QWEN3_KV_MEMORY": "0"}, "--kv-memory: must be > 0 GiB")
    refused("env: bad QWEN3_LOG_LEVEL", [], {"QWEN3_MODEL": model, "QWEN3_LOG_LEVEL": "loud"}, "--log-level: 'loud'")
    refused("env: QWEN3_MODEL missing folder", ["--port", "0"], {"QWEN3_MODEL": os.path.join(tmp, "nowhere")}, "nowhere")
    refused("no model at all", ["--port", "0"], {}, "--model")

    # JSON lines: every line of stderr is one JSON object; the access records carry the fields.
    s = Server(["--model", model, "--port", "0"], {"QWEN3_LOG_FORMAT": "json"})
    servers.append(s)
    m = s.wait_for(r"listening on http://127\.0\.0\.1:(\d+)")
    url = f"http://127.0.0.1:{m.group(1)}" if m else ""
    if m:
        get(url, "/health")
        get(url, "/nope")
        s.wait_for(r'"path":"/nope"', 10)
    s.stop()
    lines = s.drain(0.2)
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append(None)
    check("json: every line is a JSON object", lines and all(isinstance(r, dict) and {"time", "level", "msg"} <= r.keys()
                                                             for r in records), lines)
    access = [r for r in records if isinstance(r, dict) and "path" in r]
    check("json: access records", [(r["method"], r["path"], r["status"], r["level"]) for r in access] ==
          [("GET", "/health", 200, "info"), ("GET", "/nope", 404, "info")]
          and all(isinstance(r["ms"], (int, float)) and r["msg"].startswith(f"{r['method']} {r['path']} {r['status']} ")
                  for r in access), access)
    check("json: times in UTC", all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"])
                                    for r in records if isinstance(r, dict)), records[:2])

    # --log-level warn: no info records (no startup lines, no access log); --quiet: no access log.
    for args, startup in ((["--log-level", "warn"], False), (["--quiet"], True)):
        port3 = free_port()
        s = Server(["--model", model, "--port", str(port3), *args], {})
        servers.append(s)
        deadline, up = time.time() + START_S, False
        while time.time() < deadline and not up and s.p.poll() is None:
            up = get(f"http://127.0.0.1:{port3}", "/health")[0] == 200
            if not up:
                time.sleep(0.2)
        if up:
            get(f"http://127.0.0.1:{port3}", "/v1/models")
        s.stop()
        lines = s.drain(0.2)
        has_startup = any("listening on" in l for l in lines)
        check(f"{' '.join(args)}: serves", up, f"exit {s.p.returncode}: {lines}")
        check(f"{' '.join(args)}: no access log", not any(re.search(r"\] GET /", l) for l in lines), lines)
        check(f"{' '.join(args)}: startup lines {'kept' if startup else 'dropped'}", has_startup == startup, lines)
finally:
    for s in servers:
        if s.p.poll() is None:
            s.p.kill()
            s.p.wait()
    shutil.rmtree(tmp, ignore_errors=True)
finish()
