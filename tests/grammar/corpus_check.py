#!/usr/bin/python3
"""The JSON Schema -> GBNF corpus check.

  corpus_check.py BUILD/json_schema_to_gbnf

For every schema of tests/grammar/schemas/*.json and of the JSON Schema Test Suite (draft 4, npm
json-schema-test-suite), through tests/grammar/ajv_cases.js (node, ajv, ajv-formats):
  - a schema that uses a keyword the converter does not support, that names the reason it must be
    refused ("refuse"), or that ajv cannot compile, must be refused with an error;
  - otherwise, when the converter writes a grammar, each instance written compactly
    (JSON.stringify) is accepted by the grammar (schema_ref_matcher.py) iff ajv says it is valid
    under the schema with oneOf read as anyOf (the converter's documented reading); and each valid
    instance written with indentation is accepted by the --flexible grammar.
The only differences allowed are the documented stricter forms: an object whose keys are not in
the schema's order (accepted once reordered), and an integer written with an exponent (1e52:
accepted once written out in digits). Everything else is a failure. Exit status 0 when
none failed; 1 otherwise, also when node or the npm peers are missing.
"""
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from schema_ref_matcher import Grammar  # noqa: E402

SUPPORTED = {
    "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "properties", "required",
    "additionalProperties", "items", "prefixItems", "additionalItems", "minItems", "maxItems",
    "uniqueItems", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum",
}
ANNOTATIONS = {"title", "description", "examples", "$schema", "$id", "default", "$comment", "deprecated",
               "readOnly", "writeOnly", "$defs", "definitions", "contentMediaType"}
SCHEMA_MAPS = {"properties", "$defs", "definitions"}       # name -> schema
SCHEMA_LISTS = {"anyOf", "oneOf", "allOf", "prefixItems"}  # [schema]
SCHEMA_ONE = {"additionalProperties", "items", "additionalItems"}


def unsupported_keywords(s, out):
    """Keywords of the schema (walked as JSON Schema, not as data) that the converter lacks."""
    if not isinstance(s, dict):
        return out
    for k, v in s.items():
        if k not in SUPPORTED and k not in ANNOTATIONS:
            out.add(k)
        elif k == "uniqueItems" and v is True:
            out.add(k)
        if k in SCHEMA_MAPS and isinstance(v, dict):
            for sub in v.values():
                unsupported_keywords(sub, out)
        elif k in SCHEMA_LISTS and isinstance(v, list):
            for sub in v:
                unsupported_keywords(sub, out)
        elif k in SCHEMA_ONE:
            for sub in (v if isinstance(v, list) else [v]):
                unsupported_keywords(sub, out)
    return out


def refusal_reason(msg):
    for marker, label in (("unsupported keyword '", "keyword"), ("unsupported format '", "format")):
        if marker in msg:
            return f"{label} {msg.split(marker, 1)[1].split(chr(39), 1)[0]}"
    if "unsupported construct: " in msg:
        return "regex " + msg.split("unsupported construct: ", 1)[1].split(" at offset", 1)[0]
    return msg.split(": ", 1)[-1][:70]


def convert_all(tool, schemas, flexible):
    args = [tool] + (["--flexible"] if flexible else []) + ["--batch"]
    text = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in schemas)
    out = subprocess.run(args, input=text.encode(), capture_output=True, check=True).stdout.decode()
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(schemas), "json_schema_to_gbnf --batch answered a different number of lines"
    return lines


def dump_js(v):
    """JSON.stringify's compact form for values parsed with number text kept (see reorderings)."""
    if isinstance(v, RawNumber):
        return v.text
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(dump_js(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + dump_js(x) for k, x in v.items()) + "}"
    return json.dumps(v)


class RawNumber:
    def __init__(self, text):
        self.text = text


def reorderings(text, schema, limit=120):
    """The instance with the keys of its objects in other orders: first in the order the schema's
    text names them (keys it does not name last), then a bounded number of permutations."""
    value = json.loads(text, parse_float=RawNumber, parse_int=RawNumber)
    schema_text = json.dumps(schema, ensure_ascii=False)

    def schema_order(v):
        if isinstance(v, list):
            return [schema_order(x) for x in v]
        if isinstance(v, dict):
            def rank(k):
                at = schema_text.find(json.dumps(k, ensure_ascii=False) + ":")
                return at if at >= 0 else len(schema_text)
            return {k: schema_order(v[k]) for k in sorted(v, key=rank)}
        return v

    yield dump_js(schema_order(value))

    def variants(v):
        if isinstance(v, list):
            for combo in itertools.islice(itertools.product(*[list(variants(x)) for x in v]), limit):
                yield list(combo)
        elif isinstance(v, dict):
            keys = list(v)
            subs = {k: list(itertools.islice(variants(v[k]), 8)) for k in keys}
            for perm in itertools.islice(itertools.permutations(keys), limit):
                for combo in itertools.islice(itertools.product(*[subs[k] for k in perm]), 8):
                    yield dict(zip(perm, combo))
        else:
            yield v

    for v in itertools.islice(variants(value), limit):
        yield dump_js(v)


def integers_written_out(text):
    """The instance with integral numbers in exponent or fraction form (1e2, 2.0) written as digits."""
    from decimal import Decimal

    def fix(v):
        if isinstance(v, RawNumber):
            d = Decimal(v.text)
            return RawNumber(str(int(d))) if d == d.to_integral_value() else v
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        return v

    return dump_js(fix(json.loads(text, parse_float=RawNumber, parse_int=RawNumber)))


def check_case(case, compact, flexible, stats, failures):
    name = f"{case['source']}: {case['name']}"
    must_refuse = []
    bad = unsupported_keywords(case["schema"], set())
    if bad:
        must_refuse.append(f"unsupported keywords {sorted(bad)}")
    if case["refuse"]:
        must_refuse.append(f"refuse '{case['refuse']}'")
    if case["ajv_error"]:
        must_refuse.append("ajv cannot compile it")
    if "error" in compact:
        stats["refused"][refusal_reason(compact["error"])] += 1
        if case["refuse"] and case["refuse"] not in compact["error"]:
            failures.append(f"{name}: refused, but not for '{case['refuse']}': {compact['error']}")
        if bad and not any(f"'{k}'" in compact["error"] for k in bad) and not case["refuse"]:
            stats["refused-other-first"] += 1
        return
    if must_refuse:
        failures.append(f"{name}: a grammar was written, but it must be refused ({'; '.join(must_refuse)})")
        return
    stats["accepted"] += 1
    g = Grammar(compact["gbnf"])
    gf = Grammar(flexible["gbnf"]) if "gbnf" in flexible else None
    for inst in case["instances"]:
        stats["instances"] += 1
        got, want = g.accepts(inst["text"]), inst["anyof"]
        if got == want:
            stats["agree"] += 1
            if inst["ajv"] != inst["anyof"]:
                stats["oneOf read as anyOf (accepted, ajv's oneOf rejects)"] += 1
        elif want and any(g.accepts(t) for t in reorderings(inst["text"], case["schema"])):
            stats["key order other than the schema's (stricter by design)"] += 1
        elif want and g.accepts(integers_written_out(inst["text"])):
            stats["an integer written with an exponent (stricter by design)"] += 1
        else:
            failures.append(f"{name}: {inst['text']} -> grammar {'accepts' if got else 'rejects'}, ajv says {'valid' if want else 'invalid'}")
            continue
        if want and got and gf is not None:
            stats["flexible"] += 1
            if not gf.accepts(inst["pretty"]):
                failures.append(f"{name}: the --flexible grammar rejects the indented {inst['text']}")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    start = time.time()
    try:
        node = subprocess.run(["node", os.path.join(HERE, "ajv_cases.js")], capture_output=True, check=False)
    except FileNotFoundError:
        print("FAIL: node is not installed (scripts/install-deps.sh)")
        return 1
    if node.returncode != 0:
        print(f"FAIL: ajv_cases.js: {node.stderr.decode()[-2000:]}")
        return 1
    cases = json.loads(node.stdout)
    compact = convert_all(argv[1], [c["schema"] for c in cases], flexible=False)
    flexible = convert_all(argv[1], [c["schema"] for c in cases], flexible=True)
    stats = Counter()
    stats["refused"] = Counter()
    failures = []
    for case, c, f in zip(cases, compact, flexible):
        before = len(failures)
        try:
            check_case(case, c, f, stats, failures)
        except Exception as e:  # a grammar the reference matcher cannot read is a failure too
            failures.append(f"{case['source']}: {case['name']}: {type(e).__name__}: {e}")
        stats["schemas failed"] += len(failures) > before
    refused = stats.pop("refused")
    print(f"schemas: {len(cases)} ({sum(1 for c in cases if 'suite' not in c['source'])} ours, "
          f"{sum(1 for c in cases if 'suite' in c['source'])} from the JSON Schema Test Suite)")
    print(f"  converted: {stats['accepted']}; refused: {sum(refused.values())}")
    for reason, n in sorted(refused.items(), key=lambda x: (-x[1], x[0])):
        print(f"    refused {n:3d}  {reason}")
    print(f"instances checked: {stats['instances']}; grammar agrees with ajv: {stats['agree']}")
    for k in sorted(stats):
        if k not in ("accepted", "instances", "agree", "schemas failed"):
            print(f"  {k}: {stats[k]}")
    for f in failures[:60]:
        print("FAIL:", f)
    if len(failures) > 60:
        print(f"... and {len(failures) - 60} more")
    print(f"({time.time() - start:.0f} s)")
    print(f"{len(cases) - stats['schemas failed']} passed, {stats['schemas failed']} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
