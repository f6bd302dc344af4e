#!/usr/bin/python3
"""The terminal chat and generate: sampling flags with generation_config.json defaults, seeded runs
that repeat (and different seeds that differ, on the tiny random model), --system, /save and /load
(OpenAI's messages shape) through a pipe, and Ctrl-C through a pseudo-terminal (python3's pty):
SIGINT during a long reply stops it and the session goes on; Ctrl-C at the prompt ends it.
QWEN3_BIN points at the binary; QWEN3_SANITIZED=1 (ASan + UBSan) only allows more time."""
import json
import os
import pty
import re
import select
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import BIN, check, finish, run  # noqa: E402

SLOW = 10 if os.environ.get("QWEN3_SANITIZED") == "1" else 1


class Pty:
    """`qwen3 chat` on a pseudo-terminal: what it writes is collected; expect() waits for a pattern."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(BIN, [BIN, *args])
        self.out = b""

    def send(self, data):
        os.write(self.fd, data)

    def read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return None
        if not data:
            return None
        self.out += data
        return True

    def expect(self, pattern, timeout, start=0):
        """Waits until `pattern` (bytes regex) appears in the output after offset `start`; the match end."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.out[start:])
            if m:
                return start + m.end()
            if self.read_some(0.2) is None:
                break
        m = re.search(pattern, self.out[start:])
        return start + m.end() if m else None

    def wait(self, timeout):
        """The exit status, or None if it still runs after `timeout` (then it is killed)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            self.read_some(0.1)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


tmp = tempfile.mkdtemp(prefix="qwen3_chat_")
try:
    m = os.path.join(tmp, "m")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "3", "--out", m)
    if not os.path.exists(os.path.join(m, "tokenizer.json")):
        print("FAIL: make-test-model found no tokenizer files (run npm ci at the repository root, or set QWEN3_TOKENIZER_DIR)")
        sys.exit(1)

    # --- generate: seeds, defaults, refusals ---
    gen = ["generate", "--model", m, "--prompt", "Once upon a time", "--max-tokens", "24", "--format", "json",
           "--ignore-eos"]

    def ids(*extra, model=m):
        rc, out, err = run(*gen[:2], model, *gen[3:], *extra)
        return json.loads(out)["ids"] if rc == 0 else f"rc={rc} {err}"

    a, b, c = ids("--seed", "7"), ids("--seed", "7"), ids("--seed", "8")
    check("generate: the same seed, the same ids", isinstance(a, list) and a == b, f"{a} {b}")
    check("generate: another seed, other ids", isinstance(c, list) and a != c, f"{a} {c}")
    greedy = ids("--temperature", "0")
    check("generate --temperature 0 is greedy (seed ignored)", greedy == ids("--temperature", "0", "--seed", "9"))
    check("generate: sampled differs from greedy", a != greedy, f"{a} {greedy}")
    # The defaults are generation_config.json's: do_sample false there makes the plain run greedy, and
    # its temperature is the one used (0.6 here, so 0.6 on the command line gives the same draw).
    check("generate: generation_config's temperature is the default",
          ids("--seed", "7", "--temperature", "0.6") == a, f"{a}")
    g = os.path.join(tmp, "g")
    shutil.copytree(m, g)
    with open(os.path.join(g, "generation_config.json")) as f:
        cfg = json.load(f)
    cfg["do_sample"] = False
    with open(os.path.join(g, "generation_config.json"), "w") as f:
        json.dump(cfg, f)
    check("generate: do_sample false in generation_config.json is greedy", ids("--seed", "7", model=g) == greedy)
    check("generate: --top-k 1 is greedy", ids("--seed", "7", "--top-k", "1") == greedy)
    for flag, value, needle in [("--temperature", "3", "between 0 and 2"), ("--top-p", "0", "greater than 0"),
                                ("--min-p", "1.5", "between 0 and 1"), ("--presence-penalty", "-3", "between -2 and 2"),
                                ("--top-k", "x", "--top-k")]:
        rc, out, err = run(*gen, flag, value)
        check(f"generate {flag} {value}: one clear line", rc != 0 and flag in err and needle in err
              and len(err.strip().splitlines()) == 1, err)
    rc, out, err = run("generate", "--model", m, "--prompt", "x", "--system", "be brief")
    check("generate --system without --chat is refused", rc != 0 and "--system" in err, err)
    rc, out, err = run("generate", "--model", m, "--chat", "Hi", "--system", "Be brief.", "--max-tokens", "1",
                       "--format", "json", "--temperature", "0")
    rc2, rendered, _ = run("chat-template", "--model", m, input=json.dumps(
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
         "add_generation_prompt": True}))
    rc3, toks, _ = run("tokenize", "--model", m, input=rendered)
    check("generate --chat --system renders the system message",
          rc == 0 and json.loads(out)["prompt_tokens"] == len(json.loads(toks)), out + err)

    # --- chat through a pipe: seeds, --system, /save, /load ---
    saved = os.path.join(tmp, "conv.json")
    script = f"Tell me a story\nAnd then?\n/save {saved}\n/exit\n"
    chat = ["chat", "--model", m, "--max-tokens", "12", "--no-think", "--stats"]
    r1 = run(*chat, "--seed", "11", "--system", "You are a pirate.", input=script)
    r2 = run(*chat, "--seed", "11", "--system", "You are a pirate.", input=script)
    r3 = run(*chat, "--seed", "12", "--system", "You are a pirate.", input=script)
    check("chat: runs", r1[0] == 0 and "[saved 5 messages" in r1[1], r1[1] + r1[2])
    check("chat: the same seed, the same conversation", r1[1] == r2[1], f"{r1[1]!r} vs {r2[1]!r}")
    check("chat: another seed, another conversation", r1[1] != r3[1], r1[1])
    check("chat: the defaults come from generation_config.json",
          "[sampling: temperature 0.6, top_p 0.95, top_k 20, seed 11]" in r1[2], r1[2])
    with open(saved) as f:
        conv = json.load(f)
    check("/save: OpenAI's messages", [x["role"] for x in conv] == ["system", "user", "assistant", "user", "assistant"]
          and conv[0]["content"] == "You are a pirate." and conv[1]["content"] == "Tell me a story"
          and all(isinstance(x["content"], str) for x in conv), conv)
    # /load continues that conversation: the next turn prefills the five messages and the new one (the
    # cache held nothing), exactly as the chat template renders them.
    cont = run(*chat, "--seed", "11", input=f"/load {saved}\nWhat next?\n/exit\n")
    m3 = re.findall(r"\[(\d+) prompt tokens", cont[2])
    check("/load: loaded", cont[0] == 0 and "[loaded 5 messages" in cont[1], cont[1] + cont[2])
    rc, rendered, _ = run("chat-template", "--model", m, input=json.dumps(
        {"messages": conv + [{"role": "user", "content": "What next?"}], "add_generation_prompt": True,
         "enable_thinking": False}))
    rc, toks, _ = run("tokenize", "--model", m, input=rendered)
    check("/load: the next turn's prompt is the loaded conversation plus the new message",
          m3 and int(m3[0]) == len(json.loads(toks)), f"{m3} vs {len(json.loads(toks))}")
    # Bad files: one error line each, the session goes on.
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write('[{"role": "wizard", "content": "x"}]')
    notjson = os.path.join(tmp, "notjson.json")
    with open(notjson, "w") as f:
        f.write("{")
    rc, out, err = run(*chat, input=f"/load {bad}\n/load {notjson}\n/load {tmp}/absent.json\n/load\n/reset\n/exit\n")
    check("/load refusals, and the session goes on", rc == 0 and "[conversation cleared]" in out
          and "messages[0].role" in err and "not JSON" in err and "absent.json" in err and "needs a file name" in err,
          out + err)
    # /load of a request body ({"messages": [...]}) and of OpenAI's content parts.
    body = os.path.join(tmp, "body.json")
    with open(body, "w") as f:
        json.dump({"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                                {"role": "assistant", "content": "Ahoy"}]}, f)
    rc, out, err = run(*chat, input=f"/load {body}\n/save {saved}\n/exit\n")
    with open(saved) as f:
        conv = json.load(f)
    check("/load a request body with content parts", rc == 0 and conv == [{"role": "user", "content": "Hi"},
                                                                          {"role": "assistant", "content": "Ahoy"}],
          f"{conv} {err}")

    # --- Ctrl-C on a terminal ---
    p = Pty(["chat", "--model", m, "--max-tokens", "3500", "--ctx-size", "4096", "--no-think", "--temperature", "1",
             "--seed", "1", "--stats"])
    try:
        at = p.expect(rb"> ", 60 * SLOW)
        check("pty: the prompt", at is not None, p.out[-300:])
        p.send(b"Write a very long story\r")
        # Wait for the reply to be under way (some text past the echoed line), then Ctrl-C.
        at = p.expect(rb"Write a very long story\r?\n[\s\S]{60}", 60 * SLOW, at or 0)
        check("pty: the reply streams", at is not None, p.out[-300:])
        p.send(b"\x03")
        at2 = p.expect(rb"\[stopped\]", 30 * SLOW, at or 0)
        check("pty: Ctrl-C stops the reply", at2 is not None, p.out[-500:])
        # --stats prints its line after "[stopped]": wait for it rather than reading what has come so far.
        at2 = p.expect(rb"generated \(cancelled\)", 30 * SLOW, at2 or 0) or at2
        stats = re.findall(rb"(\d+) generated \(cancelled\)", p.out)
        check("pty: stopped well before --max-tokens", stats and int(stats[0]) < 3000, stats)
        at3 = p.expect(rb"> ", 30 * SLOW, at2 or 0)
        check("pty: back at the prompt", at3 is not None, p.out[-300:])
        # The session goes on: a command, and a reply that again can be stopped.
        p.send(b"/save " + os.path.join(tmp, "pty.json").encode() + b"\r")
        at4 = p.expect(rb"\[saved 2 messages", 30 * SLOW, at3 or 0)
        check("pty: the session continues (the stopped reply is kept)", at4 is not None, p.out[-300:])
        p.send(b"/reset\r")
        at5 = p.expect(rb"\[conversation cleared\]\r?\n> ", 30 * SLOW, at4 or 0)
        p.send(b"Another one\r")
        at6 = p.expect(rb"Another one\r?\n[\s\S]{60}", 60 * SLOW, at5 or 0)
        check("pty: a second reply streams", at6 is not None, p.out[-300:])
        p.send(b"\x03")
        at7 = p.expect(rb"\[stopped\][\s\S]*?> ", 30 * SLOW, at6 or 0)
        check("pty: the second reply stops too", at7 is not None, p.out[-300:])
        # Line editing: libedit's history brings back the last line with the up arrow.
        p.send(b"/th\x1b[D\x1b[Cink\r")
        check("pty: line editing (arrows)", p.expect(rb"\[thinking on\]", 30 * SLOW, at7 or 0) is not None, p.out[-300:])
        p.send(b"\x1b[A\r")
        check("pty: history (up arrow repeats /think)",
              p.expect(rb"\[thinking on\][\s\S]*\[thinking on\]", 30 * SLOW, at7 or 0) is not None, p.out[-300:])
        time.sleep(0.5 * SLOW)
        p.send(b"\x03")  # at the prompt: the session ends
        status = p.wait(30 * SLOW)
        check("pty: Ctrl-C at the prompt exits with status 0", status == 0, f"{status} {p.out[-300:]!r}")
    finally:
        try:
            os.kill(p.pid, signal.SIGKILL)
            os.waitpid(p.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(p.fd)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
