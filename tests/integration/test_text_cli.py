#!/usr/bin/python3
"""Text in, text out through the qwen3 CLI: generate --prompt / --chat and the interactive chat,
checked against the tokenize, detokenize and chat-template commands. QWEN3_BIN points at the binary."""
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import check, finish, run  # noqa: E402

tmp = tempfile.mkdtemp(prefix="qwen3_text_")
try:
    m = os.path.join(tmp, "m")
    rc, _, err = run("make-test-model", "--preset", "tiny", "--seed", "5", "--dtype", "bf16", "--out", m)
    if not os.path.exists(os.path.join(m, "tokenizer.json")):
        print("FAIL: make-test-model found no tokenizer files (run npm ci at the repository root, or set QWEN3_TOKENIZER_DIR)")
        sys.exit(1)

    prompt = "The capital of France is"
    rc, out, err = run("tokenize", "--model", m, input=prompt)
    prompt_ids = json.loads(out)
    rc, out, err = run("generate", "--model", m, "--prompt", prompt, "--max-tokens", "24", "--format", "json", "--temperature", "0")
    j = json.loads(out)
    check("prompt tokens", j["prompt_tokens"] == len(prompt_ids), f"{j} vs {prompt_ids}")
    known = [i for i in j["ids"] if i < 151669]
    rc, text, err = run("detokenize", "--model", m, input=json.dumps(known))
    check("json text = detokenize(ids)", j["text"] == text, f"{j['text']!r} vs {text!r}")
    # Hostile detokenize input: deep nesting where an id belongs (a recursive error path crashed),
    # in both input modes; a clear error, never a signal.
    for name, text_in, args in [("100,000 nested arrays", "[" * 100000 + "]" * 100000, []),
                                ("an array in an array", "[[1]]", []),
                                ("100,000 nested arrays, --jsonl", "[" * 100000 + "]" * 100000 + "\n", ["--jsonl"])]:
        rc, out, err = run("detokenize", "--model", m, *args, input=text_in)
        check(f"detokenize {name}: error, no crash", rc == 1 and "is not a token id" in err and len(err) < 300,
              f"{rc} {err[:300]!r}")
    rc, streamed, err = run("generate", "--model", m, "--prompt", prompt, "--max-tokens", "24", "--temperature", "0")
    check("streamed text = json text", rc == 0 and streamed == j["text"] + "\n", f"{streamed!r} vs {j['text']!r}")
    check("speed line", re.search(r"decode [0-9.]+ tok/s", err) is not None, err)

    # --chat: one user turn through the checkpoint's own template.
    for think in [True, False]:
        args = ["generate", "--model", m, "--chat", "Hi! Wie geht's? 你好", "--max-tokens", "8", "--format", "json"]
        if not think:
            args.append("--no-think")
        rc, out, err = run(*args)
        j = json.loads(out)
        req = {"messages": [{"role": "user", "content": "Hi! Wie geht's? 你好"}], "add_generation_prompt": True,
               "enable_thinking": think}
        rc2, rendered, err2 = run("chat-template", "--model", m, input=json.dumps(req))
        check(f"chat template renders (think={think})", rc2 == 0 and rendered.endswith("<|im_start|>assistant\n" + ("" if think else "<think>\n\n</think>\n\n")), repr(rendered[-60:]) + err2)
        rc3, ids, _ = run("tokenize", "--model", m, input=rendered)
        check(f"--chat prompt = template (think={think})", j["prompt_tokens"] == len(json.loads(ids)), f"{j['prompt_tokens']} vs {ids}")

    # Interactive chat: commands, history, and KV reuse across turns.
    script = "Hello there\nAnd a second question\n/no_think\nThird\n/reset\nAfter reset\n/exit\nnever read\n"
    rc, out, err = run("chat", "--model", m, "--max-tokens", "6", "--stats", input=script)
    stats = re.findall(r"\[(\d+) prompt tokens \((\d+) reused\)", err)
    check("chat runs four turns and exits", rc == 0 and len(stats) == 4, f"rc={rc} {err}")
    if len(stats) == 4:
        check("turn 2 reuses turn 1's KV", int(stats[1][1]) > 0, stats)
        check("after /reset nothing is reused", int(stats[3][1]) == 0, stats)
    check("chat acknowledges commands", "[thinking off]" in out and "[conversation cleared]" in out, out)
    rc, out, err = run("chat", "--model", os.path.join(tmp, "none"))
    check("chat on a missing folder fails clearly", rc != 0 and len(err.strip().splitlines()) == 1, err)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
