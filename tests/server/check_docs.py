#!/usr/bin/python3
"""docs/server.md against the server's source and `qwen3 serve --help` (QWEN3_BIN): the page must
name every route (in its endpoint table, and no route the source lacks), every file of web/, every
request field the request parsers read (and its "Ignored" lists none of them), every field in its
tables must be one the parsers read, every option of `serve` (with the default and environment
variable --help prints), every metric, error type and error code. Runs `qwen3 serve --help` and reads files; no model."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from cli_check import check as named_check, finish, run  # noqa: E402  (QWEN3_BIN: the binary)

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def check(cond, what):
    named_check("server_docs", cond, what)


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as fh:
        return fh.read()


doc = read("docs", "server.md")
spans = re.findall(r"`([^`\n]+)`", doc)           # every code span of the page
words = {w for s in spans for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", s)}


def section(title_re):
    """The text of the section whose '## ' heading matches, up to the next '## ' heading."""
    m = re.search(r"^## " + title_re + r".*?$(.*?)(?=^## |\Z)", doc, re.M | re.S)
    check(m is not None, f"docs/server.md has no section '## {title_re}'")
    return m.group(1) if m else ""


def table_rows(text):
    """The cells of each table row of `text` (header and separator rows left out)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return [r for r in rows if r and r[0] not in ("endpoint", "field", "option", "status", "what")]


# --- routes: cpp-httplib registrations in the server's source -------------------------------------
http_cpp = read("src", "server", "http_server.cpp") + read("src", "server", "web_page.cpp")
routes = set()
for verb, path in re.findall(r"\b(Get|Post|post)\(\"(/[^\"]*)\"", http_cpp):
    routes.add(("GET" if verb == "Get" else "POST") + " " + path)
for paths in re.findall(r"for \(const char\* path : \{([^}]*)\}\)\s*post\(path", http_cpp):
    routes.update("POST " + p for p in re.findall(r"\"(/[^\"]*)\"", paths))
check(len(routes) >= 10, f"found only {len(routes)} routes in src/server (has the registration code changed?): {sorted(routes)}")
endpoints = section("Endpoints")
documented = set()
for row in table_rows(endpoints):
    documented.update(re.findall(r"`((?:GET|POST|OPTIONS|HEAD) /[^`<]*)`", row[0]))
for r in sorted(routes):
    check(r in documented, f"route '{r}' is registered in src/server but not in docs/server.md's endpoint table")
for r in sorted(documented - routes):
    if not r.startswith("OPTIONS"):
        check(False, f"docs/server.md lists '{r}', which src/server does not register")
for name in sorted(os.listdir(os.path.join(ROOT, "web"))):
    check(name in doc, f"web/{name} (served at /{name}) is not named in docs/server.md")

# --- request fields: the keys the request parsers read --------------------------------------------
parsers = "".join(read("src", "server", f) for f in
                  ("openai_api.cpp", "structured_request.cpp", "pooling_api.cpp", "http_server.cpp"))
keys = set()
keys.update(re.findall(r"\b(?:find|integer|number|boolean|optional_string)\([^,()]*, \"([a-z_]+)\"", parsers))
keys.update(re.findall(r"\bstr\(\"([a-z_]+)\"\)", parsers))
keys.update(re.findall(r"(?:\.|->)(?:find|contains|value)\(\"([a-z_]+)\"", parsers))
keys.update(re.findall(r"\[\"([a-z_]+)\"\](?!\s*=[^=])", parsers))  # reads, not `x["k"] = ...`
check(len(keys) >= 45, f"found only {len(keys)} request keys in src/server (has the parsing code changed?)")
for k in sorted(keys):
    check(k in words, f"request field '{k}' is read in src/server but docs/server.md never names it")
for row in table_rows(doc):
    first = row[0]
    if not first.startswith("`") or first.startswith("`-") or first.startswith("`GET") or first.startswith("`POST"):
        continue  # prose rows, options, endpoints
    for span in re.findall(r"`([^`]+)`", first):
        for part in re.findall(r"[A-Za-z_]+\*?", span):
            if part.endswith("*") or part.isupper():
                continue  # guided_*: the family; error types are not request fields
            check(part in keys or part in ("invalid_request_error", "authentication_error", "not_found_error",
                                           "server_error", "server_overloaded"),
                  f"docs/server.md's table row '{first}' names '{part}', which no request parser reads")
for para in re.findall(r"^(?:\*\*Ignored\*\*|Ignored)[^\n]*(?:\n(?!\n)[^\n]*)*", doc, re.M):
    for span in re.findall(r"`([^`]+)`", para):
        check(span not in keys, f"docs/server.md says '{span}' is ignored, but src/server reads it")

# --- options: what `qwen3 serve --help` prints ------------------------------------------------------
rc, help_text, err = run("serve", "--help")
check(rc == 0, f"qwen3 serve --help: exit {rc}: {err}")
options = {}
for m in re.finditer(r"^\s+(--[a-z0-9-]+)(?: [A-Z]+(?:=(\S+))?)?(?: REQUIRED)?(?: \(Env:(\w+)\))?", help_text, re.M):
    options[m.group(1)] = (m.group(2), m.group(3))
check(len(options) >= 30, f"parsed only {len(options)} options from `qwen3 serve --help`")
table = {row[0].strip("`"): row for row in table_rows(section("Options")) if row[0].startswith("`--")}
own = set(re.findall(r"add_(?:option|flag)\(\"(--[a-z0-9-]+)\"", read("src", "tools", "cmd_serve.cpp")))
check(len(own) >= 20, f"found only {len(own)} options in src/tools/cmd_serve.cpp")
for opt, (default, env) in sorted(options.items()):
    check(f"`{opt}`" in doc, f"`qwen3 serve {opt}` is not named in docs/server.md")
    if env:
        check(opt in table, f"{opt} reads ${env}: it needs a row in docs/server.md's Options table")
for opt in sorted(own | {"--model", "--quiet"}):
    check(opt in table, f"{opt} (src/tools/cmd_serve.cpp) has no row in docs/server.md's Options table")
for opt, row in sorted(table.items()):
    if opt not in options:
        check(False, f"docs/server.md's Options table has {opt}, which `qwen3 serve --help` does not")
        continue
    default, env = options[opt]
    cell = row[1].strip("`")
    if default is not None:
        check(cell == default, f"{opt}: docs/server.md says default '{cell}', --help says '{default}'")
    check(row[2].strip("`") == (env or ""), f"{opt}: docs/server.md says environment '{row[2]}', --help says '{env or ''}'")

# --- metrics, error types and codes -----------------------------------------------------------------
metrics = set(re.findall(r"(?:scalar|histogram)\((?:out, )?\"([a-z0-9_]+)\"", http_cpp))
metrics.update(re.findall(r"(qwen3_[a-z_]+)\{\{", http_cpp))
check(len(metrics) >= 20, f"found only {len(metrics)} metrics in src/server/http_server.cpp")
for name in sorted(metrics):
    check(name in words, f"metric {name} is not named in docs/server.md")
for name in sorted({w for w in words if re.match(r"(qwen3|process)_[a-z0-9_]+$", w)} - metrics):
    check(False, f"docs/server.md names the metric {name}, which /metrics does not have")
api = read("src", "server", "openai_api.cpp")
types = set(re.findall(r"return \"([a-z_]+)\";", api[api.index("ApiError::type_for"):]))
check(len(types) >= 4, f"found only {len(types)} error types in ApiError::type_for")
for t in sorted(types):
    check(t in words, f"error type {t} is not named in docs/server.md")
sources = parsers + read("src", "server", "web_page.cpp")
codes = {c for call in re.findall(r"ApiError\(.*?\);", sources, re.S)
         for c in re.findall(r"\"([a-z]+(?:_[a-z]+)+)\"", call)}
check({"model_not_found", "wrong_task", "context_length_exceeded", "invalid_api_key"} <= codes,
      f"expected error codes not found in src/server (found {sorted(codes)})")
for c in sorted(codes):
    check(c in words, f"error code or parameter {c} (an ApiError in src/server) is not named in docs/server.md")

print(f"docs/server.md: {len(routes)} routes, {len(keys)} request fields, {len(metrics)} metrics, "
      f"{len(types)} error types")
finish()
