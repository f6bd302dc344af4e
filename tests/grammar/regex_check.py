#!/usr/bin/python3
"""Regex -> GBNF against JavaScript's RegExp (u flag), both readings:

  regex_check.py BUILD/json_schema_to_gbnf

For each pattern below: strings sampled from the converter's grammar, mutations of them, and
strings over the pattern's own characters are matched (schema_ref_matcher.py) by
  - the full-match grammar (`--regex`, vLLM's guided_regex) against RegExp(`^(?:p)$`), and
  - the grammar of {"type": "string", "pattern": p} (JSON Schema's search reading, over the JSON
    text of the string) against RegExp(p).test.
Fails (never skips) without node. Prints 'N passed, M failed' (patterns).
"""
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from schema_ref_matcher import Grammar, sample  # noqa: E402

PATTERNS = [
    "abc", "a|b|", "a*b+c?", "(ab|cd)*e", "^[a-z]+$", "[^a-c]x", "\\d{2,4}", "\\w+\\s\\w*", "\\D\\W\\S",
    "a{3}", "a{2,}", "(a|bc){1,3}", "[-a-c]+", "[a\\-z]", "[\\]\\\\^]+", "\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\/\\^\\$",
    "x.y", "^.*$", "[\\s\\S]", "\\t\\n\\r\\v\\f\\0", "\\x41\\u0042\\u{43}", "\\cJ", "(?:x|y)z", "(?<n>a)b",
    "a+?b*?c??d{1,2}?", "^$", "^a|b$", "^(a|b)$", "[é日]+", "😀{2}", "[^\\u0000-\\u007f]", "\\u00e9|\\uD83D\\uDE00",
    "^[\\w.+-]+@[\\w-]+\\.[\\w.]+$", "^\\+?[1-9]\\d{1,14}$", "^#?([a-f0-9]{6}|[a-f0-9]{3})$", "^(\\d+)(\\.\\d+)?$",
    "^[A-Z][a-z]*( [A-Z][a-z]*)*$", "[\"\\\\]", "^[^\"]*$", "a\\\\b", "\\\"q\\\"", "()", "(|a)b", "((a)|b)+",
    "[a-z&&[^aeiou]]", "^-?(0|[1-9]\\d*)$", "[\\d.]+", "[^\\d\\s]", "^\\S+$",
]


def candidates(pattern, g, rng):
    out = set()
    for _ in range(40):
        s = sample(g, rng)
        if s is not None:
            out.add(s)
    alphabet = sorted({c for c in pattern if c not in "\\^$()[]{}|*+?"} | set("a0 -.\"\\\né日😀"))
    for s in list(out)[:20]:
        if s:
            i = rng.randrange(len(s))
            out.add(s[:i] + s[i + 1:])
            out.add(s[:i] + rng.choice(alphabet) + s[i:])
            out.add(s + s)
    for _ in range(30):
        out.add("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))))
    return sorted(out)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    tool = argv[1]
    rng = random.Random(7)
    cases = []
    for p in PATTERNS:
        full = subprocess.run([tool, "--regex", p], capture_output=True)
        if full.returncode != 0:
            cases.append((p, None, None, full.stderr.decode().strip(), []))
            continue
        g = Grammar(full.stdout.decode())
        schema = subprocess.run([tool, "-"], input=json.dumps({"type": "string", "pattern": p}).encode(), capture_output=True)
        gj = Grammar(schema.stdout.decode()) if schema.returncode == 0 else None
        cases.append((p, g, gj, schema.stderr.decode().strip() if gj is None else "", candidates(p, g, rng)))
    try:
        node = subprocess.run(["node", os.path.join(HERE, "regex_cases.js")], capture_output=True, check=True,
                              input=json.dumps([{"pattern": p, "strings": ss} for p, _, _, _, ss in cases]).encode())
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        print(f"FAIL: node (the RegExp oracle) did not run: {e}")
        return 1
    verdicts = json.loads(node.stdout)
    passed = failed = 0
    strings = 0
    for (p, g, gj, err, ss), v in zip(cases, verdicts):
        if "syntax_error" in v:
            if g is None and gj is None:
                passed += 1  # JavaScript refuses it too
            else:
                failed += 1
                print(f"FAIL: /{p}/ converted, but RegExp refuses it: {v['syntax_error']}")
            continue
        if g is None or gj is None:
            # Only the constructs we document as refused may fail to convert.
            if any(w in err for w in ("unsupported construct", "empty set")):
                print(f"refused /{p}/: {err}")
                passed += 1
            else:
                print(f"FAIL: /{p}/ refused: {err}")
                failed += 1
            continue
        bad = []
        for s, want_full, want_search in zip(ss, v["full"], v["search"]):
            strings += 1
            if g.accepts(s) != want_full:
                bad.append(f"full {s!r}: grammar {'accepts' if not want_full else 'rejects'}")
            if gj.accepts(json.dumps(s, ensure_ascii=False)) != want_search:
                bad.append(f"pattern {s!r}: grammar {'accepts' if not want_search else 'rejects'}")
        if bad:
            failed += 1
            print(f"FAIL: /{p}/: {'; '.join(bad[:6])}")
        else:
            passed += 1
    print(f"{strings} strings checked in both readings")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
