#!/usr/bin/python3
"""Corrupt checkpoints: each case damages one file of a tiny model folder (or puts something that
is not a regular file in its place) and runs a real qwen3 command on it. Every case must end with a
non-zero exit (or, for the warning cases, exit 0 with a warning), not by a signal, without a
sanitizer report, within a time bound (so that a FIFO that blocks fails instead of hanging), within
a memory bound, and with one stderr line naming the file and the field or tensor.
QWEN3_BIN points at the binary; QWEN3_SANITIZED=1 (the ASan build) loosens the time and memory
bounds. Usage: test_corrupt_checkpoint.py [substring of case names to run]."""
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import BIN, check, finish  # noqa: E402

SANITIZED = bool(os.environ.get("QWEN3_SANITIZED"))
TIME_LIMIT = 60.0 if SANITIZED else 10.0
# Address space for the child (ASan reserves terabytes of shadow, so not under the sanitizers);
# the resident-set bound is checked for every child from its own rusage (os.wait4).
AS_LIMIT = 4 << 30
RSS_LIMIT_KB = (3 << 20) if SANITIZED else (1 << 20)
ONLY = sys.argv[1] if len(sys.argv) > 1 else ""

ST = "model.safetensors"
INDEX = "model.safetensors.index.json"
EMB = "model.embed_tokens.weight"
NORM = "model.norm.weight"
Q0 = "model.layers.0.self_attn.q_proj.weight"
LN0 = "model.layers.0.input_layernorm.weight"
DOWN2 = "model.layers.2.mlp.down_proj.weight"


def run_bin(args, stdin_text="", fsize=None):
    """Runs the binary under the bounds; returns (rc, stderr, seconds, max_rss_kb, timed_out).
    fsize: a file-size limit for the child (writes past it fail with EFBIG)."""
    def limits():
        if not SANITIZED:
            resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write(), not a signal
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        p = subprocess.Popen([BIN, *args], stdin=subprocess.PIPE, stdout=out, stderr=err, preexec_fn=limits)
        try:
            p.stdin.write(stdin_text.encode())
            p.stdin.close()
        except BrokenPipeError:
            pass
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > TIME_LIMIT:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                timed_out = True
                break
            time.sleep(0.005)
        p.returncode = os.waitstatus_to_exitcode(status)
        secs = time.monotonic() - t0
        err.seek(0)
        return p.returncode, err.read().decode("utf-8", "replace"), secs, ru.ru_maxrss, timed_out


# ---------------------------------------------------------------------------------------------
# Safetensors surgery

def read_st(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def write_st(path, header, data, raw=None, header_len=None):
    h = raw if raw is not None else json.dumps(header).encode()
    if raw is None:
        h += b" " * ((8 - len(h) % 8) % 8)
    n = len(h) if header_len is None else header_len
    if os.path.lexists(path):
        os.remove(path)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", n) + h + data)


def edit_header(fn, file=ST):
    """fn(header) edits the header in place (and may return new data bytes)."""
    def make(d):
        p = os.path.join(d, file)
        h, data = read_st(p)
        new = fn(h)  # bytes: the new data section; anything else (a popped value) is ignored
        write_st(p, h, new if isinstance(new, bytes) else data)
    return make


def by_offset(h):
    return sorted((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])


def insert_gap(at_tensor, nbytes):
    """Inserts nbytes of zeros right after `at_tensor` (None: before the first tensor)."""
    def make(d):
        p = os.path.join(d, ST)
        h, data = read_st(p)
        pos = 0 if at_tensor is None else h[at_tensor]["data_offsets"][1]
        for k in by_offset(h):
            b, e = h[k]["data_offsets"]
            if b >= pos and not (at_tensor is not None and k == at_tensor):
                h[k]["data_offsets"] = [b + nbytes, e + nbytes]
        write_st(p, h, data[:pos] + bytes(nbytes) + data[pos:])
    return make


def poke(tensor, index, raw16):
    """Overwrites element `index` of a 2-byte-dtype tensor with the bits raw16."""
    def make(d):
        p = os.path.join(d, ST)
        h, data = read_st(p)
        assert h[tensor]["dtype"] in ("BF16", "F16")
        off = h[tensor]["data_offsets"][0] + 2 * index
        data = data[:off] + struct.pack("<H", raw16) + data[off + 2:]
        write_st(p, h, data)
    return make


def truncate(file, size):
    def make(d):
        p = os.path.join(d, file)
        n = size if size >= 0 else os.path.getsize(p) + size
        with open(p, "r+b") as f:
            f.truncate(n)
    return make


def write_bytes(file, content):
    def make(d):
        p = os.path.join(d, file)
        if os.path.lexists(p):
            os.remove(p)
        with open(p, "wb") as f:
            f.write(content)
    return make


def edit_json(file, fn):
    def make(d):
        p = os.path.join(d, file)
        with open(p) as f:
            j = json.load(f)
        fn(j)
        os.remove(p)
        with open(p, "w") as f:
            json.dump(j, f)
    return make


def set_field(file, key, value):
    def fn(j):
        j[key] = value
    return edit_json(file, fn)


def set_raw_field(file, key, text):
    """Sets `key` to the JSON text `text` as written (for values Python's json cannot produce)."""
    def make(d):
        p = os.path.join(d, file)
        with open(p) as f:
            j = json.load(f)
        j[key] = "@@RAW@@"
        s = json.dumps(j).replace('"@@RAW@@"', text)
        os.remove(p)
        with open(p, "w") as f:
            f.write(s)
    return make


def fifo(file):
    def make(d):
        p = os.path.join(d, file)
        if os.path.lexists(p):
            os.remove(p)
        os.mkfifo(p)
    return make


def directory(file):
    def make(d):
        p = os.path.join(d, file)
        if os.path.lexists(p):
            os.remove(p)
        os.mkdir(p)
    return make


def symlink(file, target):
    def make(d):
        p = os.path.join(d, file)
        if os.path.lexists(p):
            os.remove(p)
        os.symlink(target, p)
    return make


def moved_symlink(file):
    """The file moved out of the folder and a symlink left in its place (a valid checkpoint)."""
    def make(d):
        p = os.path.join(d, file)
        os.rename(p, p + ".real")
        os.symlink(os.path.abspath(p + ".real"), p)
    return make


def steps(*fns):
    def make(d):
        for fn in fns:
            fn(d)
    return make


def index_edit(fn):
    return edit_json(INDEX, fn)


def drop_tensor(tensor, sharded=False):
    """Removes a tensor (header entry and bytes) from model.safetensors or the shard holding it."""
    def make(d):
        shard = ST
        if sharded:
            with open(os.path.join(d, INDEX)) as f:
                shard = json.load(f)["weight_map"][tensor]
        p = os.path.join(d, shard)
        h, data = read_st(p)
        b, e = h.pop(tensor)["data_offsets"]
        for k in by_offset(h):
            kb, ke = h[k]["data_offsets"]
            if kb >= e:
                h[k]["data_offsets"] = [kb - (e - b), ke - (e - b)]
        write_st(p, h, data[:b] + data[e:])
    return make


# ---------------------------------------------------------------------------------------------
# Cases: (name, base, make, command, expect, fragments). base: "single" or "sharded"; command:
# "logits" (loads config + weights + generation_config), "tokenize", "chat-template",
# "export-gguf"; expect: "error" or "warn" (exit 0 and a warning line).

cases = []


def case(name, make, *fragments, base="single", cmd="logits", expect="error"):
    cases.append((name, base, make, cmd, expect, fragments))


def header_len(n):
    def make(d):
        p = os.path.join(d, ST)
        with open(p, "r+b") as f:
            f.write(struct.pack("<Q", n))
    return make


def raw_header(text):
    def make(d):
        _, data = read_st(os.path.join(d, ST))
        write_st(os.path.join(d, ST), None, data, raw=text)
    return make


# Truncations and header lengths
case("empty file", truncate(ST, 0), ST, "8-byte header length")
case("4 bytes", truncate(ST, 4), ST, "8-byte header length")
case("cut inside the header", truncate(ST, 100), ST, "header length")
case("cut inside the data", truncate(ST, -1000), ST, DOWN2, "data_offsets")
case("cut by one byte", truncate(ST, -1), ST, NORM, "data_offsets")
case("header length 0", header_len(0), ST, "header")
case("header length 2^64-1", header_len(2**64 - 1), ST, "header length")
case("header length 2^63", header_len(2**63), ST, "header length")
case("header length too short", header_len(16), ST, "header")
case("header not JSON", raw_header(b"this is not json at all!"), ST, "not valid JSON")
case("header JSON array", raw_header(b"[1, 2, 3]       "), ST, "not a JSON object")
case("header invalid UTF-8", raw_header(b'{"model.\xff\xfe": {}}   '), ST, "not valid JSON")
case("header 1e999", raw_header(b'{"__metadata__": {"x": 1e999}}'), ST, "not valid JSON")
case("empty header", edit_header(lambda h: (h.clear(), b"")[1]), ST, EMB)
case("duplicate tensor", raw_header(
    b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
    b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}'), ST, "'a'", "twice")
# dtypes
case("entry not an object", edit_header(lambda h: h.__setitem__(NORM, 7)), ST, NORM)
case("dtype missing", edit_header(lambda h: h[NORM].pop("dtype")), ST, NORM, "dtype")
case("dtype unknown", edit_header(lambda h: h[NORM].update(dtype="F7")), ST, NORM, "dtype")
case("dtype number", edit_header(lambda h: h[NORM].update(dtype=16)), ST, NORM, "dtype")
case("dtype F32 for BF16 bytes", edit_header(lambda h: h[NORM].update(dtype="F32")), ST, NORM, "data_offsets")
case("dtype I16 same size", edit_header(lambda h: h[NORM].update(dtype="I16")), ST, NORM, "I16")
case("dtype F8 for a norm", edit_header(lambda h: (h[NORM].update(dtype="F8_E4M3", shape=[128]))), ST, NORM, "F8_E4M3")
# shapes
case("shape missing", edit_header(lambda h: h[NORM].pop("shape")), ST, NORM, "shape")
case("shape negative", edit_header(lambda h: h[NORM].update(shape=[-64])), ST, NORM, "shape")
case("shape float", edit_header(lambda h: h[NORM].update(shape=[64.0])), ST, NORM, "shape")
case("shape string", edit_header(lambda h: h[NORM].update(shape="64")), ST, NORM, "shape")
case("shape 2^64-1", edit_header(lambda h: h[NORM].update(shape=[2**64 - 1])), ST, NORM, "shape")
case("shape product overflows", edit_header(lambda h: h[NORM].update(shape=[2**32, 2**32, 2**32])), ST, NORM, "shape")
case("shape 2^40 x 2^10", edit_header(lambda h: h[NORM].update(shape=[2**40, 2**10])), ST, NORM, "data_offsets")
case("shape transposed", edit_header(lambda h: h[Q0].update(shape=list(reversed(h[Q0]["shape"])))), ST, Q0, "shape")
case("shape wrong rank", edit_header(lambda h: h[NORM].update(shape=[8, 8])), ST, NORM, "shape")
case("shape of a scalar", edit_header(lambda h: h[NORM].update(shape=[], data_offsets=[h[NORM]["data_offsets"][0], h[NORM]["data_offsets"][0] + 2])),
     ST, NORM)
# offsets, overlaps, holes, trailing bytes
case("offsets missing", edit_header(lambda h: h[NORM].pop("data_offsets")), ST, NORM, "data_offsets")
case("offsets negative", edit_header(lambda h: h[NORM].update(data_offsets=[-2, 126])), ST, NORM, "data_offsets")
case("offsets reversed", edit_header(lambda h: h[NORM].update(data_offsets=list(reversed(h[NORM]["data_offsets"])))),
     ST, NORM, "data_offsets")
case("offsets past the end", edit_header(lambda h: h[NORM].update(data_offsets=[2**40, 2**40 + 128])), ST, NORM, "data_offsets")
case("offsets 2^64-1", edit_header(lambda h: h[NORM].update(data_offsets=[2**64 - 129, 2**64 - 1])), ST, NORM, "data_offsets")
case("offsets beyond 2^64", raw_header(
    b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 100000000000000000000]}}'), ST, "'x'", "data_offsets")
case("offsets three numbers", edit_header(lambda h: h[NORM]["data_offsets"].append(0)), ST, NORM, "data_offsets")
case("offsets overlap", edit_header(lambda h: h[NORM].update(data_offsets=[o - 2 for o in h[NORM]["data_offsets"]])),
     ST, NORM, "overlap")
case("offsets overlap another tensor's", edit_header(lambda h: h[LN0].update(data_offsets=h[NORM]["data_offsets"])), ST,
     "model.safetensors")
case("hole between tensors", insert_gap(Q0, 8), ST, "not covered", "[{}, {})")
case("hole at the start", insert_gap(None, 16), ST, "not covered", "[0, 16)")
case("trailing bytes", steps(lambda d: open(os.path.join(d, ST), "ab").write(b"polyglot")), ST, "not covered")
case("missing tensor", drop_tensor(LN0), ST, LN0)
case("unexpected tensor", edit_header(
    lambda h: h.__setitem__("model.layers.9.extra", {"dtype": "BF16", "shape": [0], "data_offsets": [0, 0]})),
    ST, "model.layers.9.extra", "unexpected")
# weights holding NaN / Inf: a warning naming the tensor, not an error
case("NaN in a matrix", poke(Q0, 5, 0x7FC0), Q0, "NaN", expect="warn")
case("Inf in the embedding", poke(EMB, 77, 0xFF80), EMB, "Inf", expect="warn")
case("NaN in a norm", poke(NORM, 3, 0x7FC1), NORM, "NaN", expect="warn")
# what stands in place of model.safetensors
case("weights FIFO", fifo(ST), ST, "FIFO")
case("weights directory", directory(ST), ST, "directory")
case("weights dangling symlink", symlink(ST, "nowhere.safetensors"), ST, "dangling")
case("weights symlink loop", symlink(ST, ST), ST, "symbolic link loop")
case("weights /dev/zero", symlink(ST, "/dev/zero"), ST, "character device")
case("weights not there", lambda d: os.remove(os.path.join(d, ST)), ST, INDEX)
# sharded checkpoints and their index
case("index not JSON", write_bytes(INDEX, b"{nope"), INDEX, "not valid JSON", base="sharded")
case("index non-UTF-8", write_bytes(INDEX, b'{"weight_map": {"\xff": "a"}}'), INDEX, "not valid JSON", base="sharded")
case("index 1e999", set_raw_field(INDEX, "metadata", "1e999"), INDEX, "number overflow", base="sharded")
case("index without weight_map", index_edit(lambda j: j.pop("weight_map")), INDEX, "weight_map", base="sharded")
case("index entry not a string", index_edit(lambda j: j["weight_map"].__setitem__(NORM, 3)), INDEX, NORM, base="sharded")
case("index names ../", index_edit(lambda j: j["weight_map"].__setitem__(NORM, "../x.safetensors")), INDEX, NORM,
     base="sharded")
case("index names a missing shard", index_edit(lambda j: j["weight_map"].__setitem__(NORM, "model-9.safetensors")),
     "model-9.safetensors", "does not exist", base="sharded")
case("tensor in the wrong shard", index_edit(
    lambda j: j["weight_map"].__setitem__(EMB, sorted(set(j["weight_map"].values()))[-1])), EMB, "absent", base="sharded")
case("index omits a tensor", index_edit(lambda j: j["weight_map"].pop(LN0)), INDEX, LN0, base="sharded")
case("index omits a tensor no shard holds", steps(drop_tensor(LN0, sharded=True), index_edit(lambda j: j["weight_map"].pop(LN0))),
     INDEX, LN0, base="sharded")
case("shard missing", lambda d: os.remove(os.path.join(d, sorted(f for f in os.listdir(d) if f.startswith("model-"))[0])),
     "model-00001-of-00002.safetensors", base="sharded")
case("shard FIFO", fifo("model-00002-of-00002.safetensors"), "model-00002-of-00002.safetensors", "FIFO", base="sharded")
case("shard directory", directory("model-00001-of-00002.safetensors"), "model-00001-of-00002.safetensors", "directory",
     base="sharded")
case("shard dangling symlink", symlink("model-00001-of-00002.safetensors", "gone"), "model-00001-of-00002.safetensors",
     "dangling", base="sharded")
case("index FIFO", fifo(INDEX), INDEX, "FIFO", base="sharded")
case("index directory", directory(INDEX), INDEX, "directory", base="sharded")
case("index symlink loop", symlink(INDEX, INDEX), INDEX, "symbolic link loop", base="sharded")
# config.json
case("config FIFO", fifo("config.json"), "config.json", "FIFO")
case("config directory", directory("config.json"), "config.json", "directory")
case("config dangling symlink", symlink("config.json", "elsewhere.json"), "config.json", "dangling")
case("config symlink loop", symlink("config.json", "config.json"), "config.json", "symbolic link loop")
case("config empty", write_bytes("config.json", b""), "config.json", "not valid JSON")
case("config not UTF-8", write_bytes("config.json", b'{"model_type": "\xc3\x28"}'), "config.json", "not valid JSON")
case("config array", write_bytes("config.json", b"[]"), "config.json", "not a JSON object")
case("config 1e999", set_raw_field("config.json", "rms_norm_eps", "1e999"), "config.json", "number overflow")
case("config -1e999", set_raw_field("config.json", "rope_theta", "-1e999"), "config.json", "number overflow")
case("hidden_size string", set_field("config.json", "hidden_size", "64"), "config.json", "hidden_size")
case("hidden_size negative", set_field("config.json", "hidden_size", -64), "config.json", "hidden_size")
case("hidden_size 2^40", set_field("config.json", "hidden_size", 2**40), "config.json", "hidden_size")
case("hidden_size 2^64", set_field("config.json", "hidden_size", 2**64), "config.json", "hidden_size")
case("hidden_size mismatch", set_field("config.json", "hidden_size", 128), ST, EMB, "shape")
case("vocab_size 0", set_field("config.json", "vocab_size", 0), "config.json", "vocab_size")
case("more layers than the weights", set_field("config.json", "num_hidden_layers", 4), ST, "model.layers.3.")
case("fewer layers than the weights", set_field("config.json", "num_hidden_layers", 2), ST, "model.layers.2.", "unexpected")
case("untied without lm_head", set_field("config.json", "tie_word_embeddings", False), ST, "lm_head.weight")
case("kv heads not dividing", set_field("config.json", "num_key_value_heads", 3), "config.json", "num_key_value_heads")
case("odd head_dim", set_field("config.json", "head_dim", 33), "config.json", "head_dim")
case("eos -1", set_field("config.json", "eos_token_id", -1), "config.json", "eos_token_id")
case("eos 10^12", set_field("config.json", "eos_token_id", 10**12), "config.json", "eos_token_id")
case("eos list past vocab", set_field("config.json", "eos_token_id", [151645, 151936]), "config.json", "eos_token_id")
case("bos -5", set_field("config.json", "bos_token_id", -5), "config.json", "bos_token_id")
case("rms_norm_eps 1e300", set_field("config.json", "rms_norm_eps", 1e300), "config.json", "rms_norm_eps")
case("rms_norm_eps 0", set_field("config.json", "rms_norm_eps", 0), "config.json", "rms_norm_eps")
case("rms_norm_eps negative", set_field("config.json", "rms_norm_eps", -1e-6), "config.json", "rms_norm_eps")
case("rope_theta 1e300", set_field("config.json", "rope_theta", 1e300), "config.json", "rope_theta")
case("rope_theta 0", set_field("config.json", "rope_theta", 0), "config.json", "rope_theta")
case("rope factor 1e300", set_field("config.json", "rope_scaling", {"rope_type": "linear", "factor": 1e300}),
     "config.json", "factor")
case("yarn beta_fast negative", set_field("config.json", "rope_scaling", {"rope_type": "yarn", "factor": 4, "beta_fast": -1}),
     "config.json", "beta_fast")
# generation_config.json (read with the model: its ids are checked against config.json's vocab_size)
case("generation eos -1", set_field("generation_config.json", "eos_token_id", -1), "generation_config.json", "eos_token_id")
case("generation eos 10^12", set_field("generation_config.json", "eos_token_id", [151645, 10**12]),
     "generation_config.json", "eos_token_id")
case("generation temperature -1", set_field("generation_config.json", "temperature", -1), "generation_config.json",
     "temperature")
case("generation top_p 2", set_field("generation_config.json", "top_p", 2), "generation_config.json", "top_p")
case("generation 1e999", set_raw_field("generation_config.json", "top_p", "1e999"), "generation_config.json",
     "number overflow")
case("generation FIFO", fifo("generation_config.json"), "generation_config.json", "FIFO")
case("generation directory", directory("generation_config.json"), "generation_config.json", "directory")
case("generation not JSON", write_bytes("generation_config.json", b"{"), "generation_config.json", "not valid JSON")
# tokenizer files
case("tokenizer FIFO", fifo("tokenizer.json"), "tokenizer.json", "FIFO", cmd="tokenize")
case("tokenizer directory", directory("tokenizer.json"), "tokenizer.json", "directory", cmd="tokenize")
case("tokenizer 1e999", set_raw_field("tokenizer.json", "version", "1e999"), "tokenizer.json", "number overflow",
     cmd="tokenize")
case("tokenizer_config FIFO", fifo("tokenizer_config.json"), "tokenizer_config.json", "FIFO", cmd="chat-template")
case("tokenizer_config directory", directory("tokenizer_config.json"), "tokenizer_config.json", "directory",
     cmd="chat-template")
case("tokenizer_config 1e999", set_raw_field("tokenizer_config.json", "model_max_length", "1e999"),
     "tokenizer_config.json", "number overflow", cmd="chat-template")
case("chat_template.jinja directory", directory("chat_template.jinja"), "chat_template.jinja", "directory",
     cmd="chat-template")
case("chat_template.jinja FIFO", fifo("chat_template.jinja"), "chat_template.jinja", "FIFO", cmd="chat-template")
case("chat_template.jinja dangling", symlink("chat_template.jinja", "t.jinja"), "chat_template.jinja", "dangling",
     cmd="chat-template")
# files we write: every write, flush and close is checked
case("export-gguf to /dev/full", lambda d: None, "out.gguf", "No space left on device", cmd="export-gguf")
case("export-gguf past the file size limit", lambda d: None, "out.gguf", "File too large", cmd="export-gguf-fsize")
case("logits to /dev/full", lambda d: None, "out.npy", "No space left on device", cmd="logits-full")
case("quantize to /dev/full", lambda d: None, ST, "No space left on device", cmd="quantize-full")
case("quantize config to /dev/full", lambda d: None, "config.json", "No space left on device", cmd="quantize-config-full")
case("make-test-model to /dev/full", lambda d: None, "config.json", "No space left on device", cmd="make-full")

# Valid variations that must keep loading (guards against refusing too much).
ok_cases = [
    ("weights behind a symlink", "single", moved_symlink(ST)),
    ("config behind a symlink", "single", moved_symlink("config.json")),
    ("shard behind a symlink", "sharded", moved_symlink("model-00001-of-00002.safetensors")),
    ("no generation_config", "single", lambda d: os.remove(os.path.join(d, "generation_config.json"))),
    # An empty tensor at the very end (no bytes; a tied model ignores lm_head.weight): the data
    # section is still fully covered.
    ("empty tensor at the end", "single", edit_header(lambda h: h.__setitem__("lm_head.weight", {
        "dtype": "BF16", "shape": [0, 64],
        "data_offsets": [max(v["data_offsets"][1] for k, v in h.items() if k != "__metadata__")] * 2}))),
]


def command(cmd, d, tmp):
    npy = os.path.join(tmp, "out.npy")
    if cmd == "logits":
        return ["logits", "--model", d, "--ids", "1", "--out", npy, "--force"], ""
    if cmd == "logits-full":
        os.symlink("/dev/full", npy)
        return ["logits", "--model", d, "--ids", "1", "--out", npy, "--force"], ""
    if cmd == "tokenize":
        return ["tokenize", "--model", d], "hello"
    if cmd == "chat-template":
        return ["chat-template", "--model", d], json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    gguf = os.path.join(tmp, "out.gguf")
    if cmd == "export-gguf":  # a link to /dev/full in a private folder: a regression replaces the link, not /dev/full
        os.symlink("/dev/full", gguf)
        return ["export-gguf", "--model", d, "--out", gguf, "--force"], ""
    if cmd == "export-gguf-fsize":  # run with a 1 MiB file-size limit
        return ["export-gguf", "--model", d, "--out", gguf, "--force"], ""
    if cmd == "quantize-full":
        out = os.path.join(tmp, "q")
        os.mkdir(out)
        os.symlink("/dev/full", os.path.join(out, ST))
        return ["quantize", "--model", d, "--quant", "q8", "--out", out, "--force"], ""
    if cmd == "quantize-config-full":
        out = os.path.join(tmp, "q")
        os.mkdir(out)
        os.symlink("/dev/full", os.path.join(out, "config.json"))
        return ["quantize", "--model", d, "--quant", "q8", "--out", out, "--force"], ""
    if cmd == "make-full":
        out = os.path.join(tmp, "mk")
        os.mkdir(out)
        os.symlink("/dev/full", os.path.join(out, "config.json"))
        return ["make-test-model", "--preset", "tiny", "--out", out, "--force"], ""
    raise ValueError(cmd)


def verdict(name, expect, fragments, rc, err, secs, rss, timed_out):
    lines = [l for l in err.splitlines() if l.strip()]
    problems = []
    if timed_out:
        problems.append(f"timed out after {TIME_LIMIT:.0f} s")
    elif rc < 0:
        problems.append(f"killed by signal {-rc}")
    if "Sanitizer" in err or "runtime error:" in err:
        problems.append("sanitizer report")
    if rss > RSS_LIMIT_KB:
        problems.append(f"max RSS {rss // 1024} MiB")
    if expect == "error":
        if not timed_out and rc <= 0:
            problems.append(f"exit status {rc}, expected an error")
        if len(lines) != 1 or not lines[0].startswith("qwen3: error: "):
            problems.append("not one 'qwen3: error:' line")
    else:
        if rc != 0:
            problems.append(f"exit status {rc}, expected 0 with a warning")
        if not any(l.startswith("qwen3: warning: ") for l in lines):
            problems.append("no 'qwen3: warning:' line")
    missing = [f for f in fragments if f not in err]
    if missing:
        problems.append(f"message lacks {missing}")
    check(name, not problems, f"{'; '.join(problems)}; rc={rc} {secs:.1f}s stderr={err.strip()[:400]!r}")
    return not problems


tmp_root = tempfile.mkdtemp(prefix="qwen3_corrupt_")
t_start = time.monotonic()
try:
    bases = {}
    for kind, extra in [("single", []), ("sharded", ["--shards", "2"])]:
        d = os.path.join(tmp_root, kind)
        rc, err, *_ = run_bin(["make-test-model", "--preset", "tiny", "--seed", "1", "--dtype", "bf16", "--out", d, *extra])
        if rc != 0:
            print(f"make-test-model failed: {err}")
            sys.exit(1)
        bases[kind] = d
    n = 0
    for name, base, make in ok_cases:
        if ONLY not in name:
            continue
        d = os.path.join(tmp_root, "case")
        shutil.copytree(bases[base], d, symlinks=True)
        make(d)
        rc, err, secs, rss, timed_out = run_bin(*command("logits", d, tmp_root))
        check(f"valid: {name}", rc == 0 and not timed_out and "warning" not in err, f"rc={rc} stderr={err.strip()[:300]!r}")
        shutil.rmtree(d)
        os.remove(os.path.join(tmp_root, "out.npy"))
    for name, base, make, cmd, expect, fragments in cases:
        if ONLY not in name:
            continue
        n += 1
        d = os.path.join(tmp_root, "case")
        work = os.path.join(tmp_root, "work")
        shutil.copytree(bases[base], d, symlinks=True)
        os.mkdir(work)
        make(d)
        if name == "hole between tensors":  # the hole's byte range is known only after the edit
            h, _ = read_st(os.path.join(d, ST))
            end = h[Q0]["data_offsets"][1]
            fragments = (ST, "not covered", f"[{end}, {end + 8})")
        if name == "trailing bytes":
            h, data = read_st(os.path.join(d, ST))
            fragments = (ST, "not covered", f"[{len(data) - 8}, {len(data)})")
        args, stdin_text = command(cmd, d, work)
        if cmd == "export-gguf-fsize":
            verdict(name, expect, fragments, *run_bin(args, stdin_text, fsize=1 << 20))
            check(f"{name}: leaves no partial file", not os.listdir(work), f"{os.listdir(work)}")
        else:
            verdict(name, expect, fragments, *run_bin(args, stdin_text))
        shutil.rmtree(d)
        shutil.rmtree(work)
    print(f"{n} corrupt cases, {len(ok_cases)} valid variations, {time.monotonic() - t_start:.1f} s")
finally:
    shutil.rmtree(tmp_root, ignore_errors=True)

finish()
