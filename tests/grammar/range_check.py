#!/usr/bin/python3
"""Numeric bounds as digit grammars, checked exhaustively in windows around the bounds.

  range_check.py BUILD/json_schema_to_gbnf

For integer and number schemas with minimum / maximum / exclusiveMinimum / exclusiveMaximum (fixed
and seeded-random ones, one-sided and two-sided, negative and positive), every integer within 25
of each bound and a set of decimals (x.5, x.0, x.05) are matched with the reference matcher
(schema_ref_matcher.py) and compared with plain arithmetic. Prints 'N passed, M failed'.
"""
import json
import os
import random
import subprocess
import sys
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from schema_ref_matcher import Grammar  # noqa: E402


def schemas():
    fixed = [(0, 150), (1, 12), (-5, None), (None, -3), (250, None), (-1000000, 123456789), (0, 0), (-7, 7),
             (9, 10), (99, 1001), (-1001, -99), (None, 0), (0, None), (19, 21), (1, 1000000)]
    rng = random.Random(1234)
    for _ in range(25):
        a = rng.randint(-100000, 100000)
        b = a + rng.choice([0, 1, 9, 10, 99, 1000, rng.randint(0, 10 ** 6)])
        fixed.append((a if rng.random() > 0.15 else None, b if rng.random() > 0.15 else None))
    out = []
    for lo, hi in fixed:
        for typ in ("integer", "number"):
            for excl in (False, True):
                s = {"type": typ}
                if lo is not None:
                    s["exclusiveMinimum" if excl else "minimum"] = lo
                if hi is not None:
                    s["exclusiveMaximum" if excl else "maximum"] = hi
                out.append(s)
    return out


def inside(s, x):
    if "minimum" in s and x < s["minimum"]:
        return False
    if "exclusiveMinimum" in s and x <= s["exclusiveMinimum"]:
        return False
    if "maximum" in s and x > s["maximum"]:
        return False
    if "exclusiveMaximum" in s and x >= s["exclusiveMaximum"]:
        return False
    return True


def probes(s):
    bounds = [v for k, v in s.items() if k != "type"] or [0]
    ints = set()
    for b in bounds + [0]:
        ints.update(range(b - 25, b + 26))
    out = [(str(i), Fraction(i), True) for i in sorted(ints)]
    if s["type"] == "number":
        for i in sorted(ints):
            for frac in (".5", ".0", ".05", ".999"):
                text = str(i) + frac if i != 0 else frac.join(["0", ""])
                out.append((text, Fraction(text), False))
            if i == 0:
                out.append(("-0.5", Fraction(-1, 2), False))
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cases = schemas()
    text = "".join(json.dumps(s) + "\n" for s in cases)
    lines = subprocess.run([argv[1], "--batch"], input=text.encode(), capture_output=True, check=True).stdout.decode().splitlines()
    passed = failed = 0
    for s, line in zip(cases, lines):
        answer = json.loads(line)
        if "error" in answer:
            lo_hi_ok = s.get("minimum", s.get("exclusiveMinimum", 0)) <= s.get("maximum", s.get("exclusiveMaximum", 10 ** 9))
            if s["type"] == "integer" and not lo_hi_ok or "leave no" in answer["error"]:
                passed += 1  # no value satisfies the bounds: refusing is right
                continue
            print(f"FAIL: {json.dumps(s)}: refused: {answer['error']}")
            failed += 1
            continue
        g = Grammar(answer["gbnf"])
        bad = []
        for text_value, value, is_int in probes(s):
            want = inside(s, value) and (is_int or s["type"] == "number")
            if g.accepts(text_value) != want:
                bad.append(f"{text_value} ({'should be accepted' if want else 'should be rejected'})")
        if bad:
            failed += 1
            print(f"FAIL: {json.dumps(s)}: {', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}")
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
