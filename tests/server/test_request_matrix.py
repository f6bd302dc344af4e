#!/usr/bin/python3
"""Every request field in every JSON type, against a live `qwen3 serve`: each key the request parsers
read (found in src/server's source the way check_docs.py finds them) is set, at the top level of
every POST route and inside the nested objects a chat request has (a message, a content part, a
tool, its function, tool_choice, response_format, its json_schema, stream_options), to each value of
a list that covers JSON's types and edges (null, booleans, 0, -1, 2^63 - 1, 2^64 - 1, -2^63, 0.5,
1e300, strings, arrays, objects), and the two generating routes again with "stream": true. Each answer
must be 200 (a JSON object, or an SSE stream of JSON events ending in [DONE]), or 400 with an OpenAI
error object; a 500 ("internal error": an exception the parsers let through, such as nlohmann's
type_error for a member of the wrong type) or a dropped connection fails, and the server must stay
healthy and leak no KV page. Three servers: a tiny generating model, a tiny embedding model and a tiny reranker.
QWEN3_BIN points at the binary."""
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from cli_check import check, finish  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_process import start_server  # noqa: E402

BIN = os.environ["QWEN3_BIN"]
SANITIZED = bool(os.environ.get("QWEN3_SANITIZED"))
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

VALUES = [None, True, False, 0, -1, 1, 2 ** 63 - 1, 2 ** 64 - 1, -2 ** 63, 0.5, -0.5, 1e300, "", "x", "-1",
          [], [1], ["x"], [[1]], [{}], {}, {"a": 1}, {"type": "function"}]


def parser_keys():
    """The keys src/server's request parsers read (the patterns of check_docs.py)."""
    src = "".join(open(os.path.join(ROOT, "src", "server", f)).read() for f in
                  ("openai_api.cpp", "structured_request.cpp", "pooling_api.cpp", "http_server.cpp"))
    keys = set()
    keys.update(re.findall(r"\b(?:find|integer|number|boolean|optional_string)\([^,()]*, \"([a-z_]+)\"", src))
    keys.update(re.findall(r"\bstr\(\"([a-z_]+)\"\)", src))
    keys.update(re.findall(r"(?:\.|->)(?:find|contains|value)\(\"([a-z_]+)\"", src))
    keys.update(re.findall(r"\[\"([a-z_]+)\"\](?!\s*=[^=])", src))
    keys.update(re.findall(r"member_is\([^,()]*, \"([a-z_]+)\"", src))
    return sorted(keys)


def start(model, *extra):
    return start_server(BIN, model, "--kv-memory", "0.05", *extra, sanitized=SANITIZED)


class Client:
    def __init__(self, port):
        self.port, self.conn = port, None

    def post(self, path, body):
        """(status, parsed JSON or the text); status 0 when the connection broke."""
        data = json.dumps(body, allow_nan=False).encode()
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60 if SANITIZED else 20)
                self.conn.request("POST", path, data, {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                text = r.read().decode("utf-8", "replace")
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                try:
                    return r.status, json.loads(text)
                except ValueError:
                    return r.status, text
            except (http.client.HTTPException, OSError) as e:
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0, f"{type(e).__name__}: {e}"
        return 0, ""

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()


def sse_ok(text):
    """Events "data: <JSON object>" separated by blank lines, the last "data: [DONE]"; comments
    (": keep-alive", the server's heartbeat while a slow step runs) are allowed between them."""
    if not isinstance(text, str):
        return False
    events = [e for e in text.split("\n\n") if e.strip() and not e.startswith(":")]
    if not events or events[-1].strip() != "data: [DONE]":
        return False
    for e in events[:-1]:
        if not e.startswith("data: "):
            return False
        try:
            if not isinstance(json.loads(e[len("data: "):]), dict):
                return False
        except ValueError:
            return False
    return True


def with_field(base, where, key, value):
    """A deep copy of base with obj[key] = value at the path `where` (a list of keys and indices)."""
    body = json.loads(json.dumps(base))
    obj = body
    for step in where:
        obj = obj[step]
    obj[key] = value
    return body


CHAT = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_tokens": 2}
TOOL = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}
CHAT_TOOLS = {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_tokens": 2,
              "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "f"}}}
CHAT_FORMAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": False,
               "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
               "stream_options": {"include_usage": True}}
# (route, base body, where the fields go)
GENERATE = [("/v1/chat/completions", CHAT, []),
            ("/v1/chat/completions", CHAT_TOOLS, ["messages", 0]),
            ("/v1/chat/completions", CHAT_TOOLS, ["messages", 0, "content", 0]),
            ("/v1/chat/completions", CHAT_TOOLS, ["tools", 0]),
            ("/v1/chat/completions", CHAT_TOOLS, ["tools", 0, "function"]),
            ("/v1/chat/completions", CHAT_TOOLS, ["tool_choice"]),
            ("/v1/chat/completions", CHAT_FORMAT, ["response_format"]),
            ("/v1/chat/completions", CHAT_FORMAT, ["response_format", "json_schema"]),
            ("/v1/chat/completions", CHAT_FORMAT, ["stream_options"]),
            ("/v1/completions", {"prompt": "hi", "max_tokens": 2}, []),
            ("/tokenize", {"prompt": "hi"}, []),
            ("/tokenize", {"messages": [{"role": "user", "content": "hi"}]}, []),
            ("/detokenize", {"tokens": [1, 2]}, [])]
# Streamed: the same fields with "stream": true; a 200 must then be a well-formed SSE stream.
STREAMED = [("/v1/chat/completions", {**CHAT, "stream": True}, []),
            ("/v1/completions", {"prompt": "hi", "max_tokens": 2, "stream": True}, [])]
EMBED = [("/v1/embeddings", {"input": "hi"}, []), ("/v1/embeddings", {"input": ["hi", [1, 2]]}, [])]
RERANK = [("/v1/rerank", {"query": "q", "documents": ["a", {"text": "b"}]}, [])]


def run_matrix(name, port, cases, keys, workers=8):
    """The requests from `workers` clients at once (the server batches them; one at a time took
    minutes)."""
    client = Client(port)
    for route, base, where in cases:
        status, j = client.post(route, base)
        check(f"{name} {route} base request at {where or 'top'}: 200", status == 200, f"{status} {str(j)[:300]}")
    jobs = [(route, where, key, value, with_field(base, where, key, value))
            for route, base, where in cases for key in keys for value in VALUES
            # the non-streamed cases test "stream" with its other values
            if base.get("stream") is True or not (key == "stream" and value is True)]
    results = [None] * len(jobs)

    def worker(w):
        c = Client(port)
        for i in range(w, len(jobs), workers):
            results[i] = c.post(jobs[i][0], jobs[i][4])

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = 0
    statuses = {}
    for (route, where, key, value, _), (status, j) in zip(jobs, results):
        statuses[status] = statuses.get(status, 0) + 1
        streamed = isinstance(j, str) and (j.startswith("data: ") or j.startswith(":"))
        ok = (status == 200 and (sse_ok(j) if streamed else isinstance(j, dict))) or \
             (status == 400 and isinstance(j, dict) and isinstance(j.get("error"), dict)
              and isinstance(j["error"].get("message"), str))
        if not ok:
            bad += 1
            if bad <= 20:
                check(f"{name} {route} {'.'.join(map(str, where + [key]))} = {json.dumps(value)[:40]}: 200 or 400",
                      False, f"{status} {str(j)[:300]}")
    print(f"  {name}: {len(jobs)} requests, statuses {dict(sorted(statuses.items()))}", flush=True)
    check(f"{name}: every answer 200 or a 400 error object ({bad} others)", bad == 0, statuses)
    status, _ = client.get("/health")
    check(f"{name}: healthy afterwards", status == 200, status)
    deadline = time.time() + 30
    used = None
    while time.time() < deadline:
        _, text = client.get("/metrics")
        m = re.search(r"^qwen3_kv_pages_used (\S+)", text, re.M)
        used = float(m.group(1)) if m else None
        if used == 0:
            break
        time.sleep(0.1)
    check(f"{name}: no KV page in use afterwards", used == 0, used)


def main():
    keys = parser_keys()
    check(f"found the request keys in src/server ({len(keys)})", len(keys) >= 45, keys)
    nested = {"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content", "type", "text",
              "function", "description", "parameters", "json_schema", "schema", "strict", "include_usage"}
    tmp = tempfile.mkdtemp(prefix="qwen3_matrix_")
    procs = []
    try:
        for preset, folder, cases in [("tiny", "tiny", GENERATE), ("qwen3-embedding-tiny", "tiny-embedding", EMBED),
                                      ("qwen3-reranker-tiny", "tiny-reranker", RERANK)]:
            model = os.path.join(tmp, folder)
            subprocess.run([BIN, "make-test-model", "--preset", preset, "--seed", "5", "--out", model],
                           check=True, capture_output=True)
            p, port = start(model)
            procs.append(p)
            top = [c for c in cases if not c[2] and c[1].get("stream") is not True]
            streamed = [c for c in STREAMED if c[0] in {x[0] for x in cases}]
            deep = [c for c in cases if c[2]]
            t0 = time.time()
            run_matrix(f"{folder} (top-level fields)", port, top, keys)
            if deep:
                run_matrix(f"{folder} (nested fields)", port, deep, sorted(nested))
            if streamed:
                run_matrix(f"{folder} (top-level fields, streamed)", port, streamed, keys)
            print(f"  {folder}: {time.time() - t0:.1f} s", flush=True)
            check(f"{folder}: the server is still running", p.poll() is None, p.poll())
            p.terminate()
            p.wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", tmp])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
