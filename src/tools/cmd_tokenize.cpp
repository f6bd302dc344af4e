// qwen3 tokenize / detokenize: the tokenizer on stdin and stdout, for tests against Hugging Face.
//
//   qwen3 tokenize --model DIR            all of stdin is the text; stdout: one JSON array of ids
//   qwen3 tokenize --model DIR --jsonl    each line a JSON string; each output line a JSON array
//   qwen3 detokenize --model DIR [--skip-special-tokens]
//                                         stdin: a JSON array of ids; stdout: the text, nothing added
//   qwen3 detokenize --model DIR --jsonl  each line a JSON array; each output line a JSON string
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/json_brief.h"
#include "tokenizer/tokenizer.h"
#include "tools/command.h"
#include "tools/model_flags.h"

namespace qwen3::tools {
namespace {

using nlohmann::json;

struct Opts {
  std::string model;
  bool jsonl = false;
  bool skip_special_tokens = false;
};

std::string read_stdin() {
  std::string s;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) s.append(buf, n);
  if (std::ferror(stdin)) fail("cannot read stdin");
  return s;
}

void write_stdout(std::string_view s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0) {
    fail("cannot write stdout");
  }
}

// Calls f(line, line_number) for each line of `text` (a final line without '\n' counts; the empty
// string after a final '\n' does not).
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  size_t number = 1;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    f(line, number++);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

json parse_line(std::string_view line, size_t number) {
  try {
    return json::parse(line);
  } catch (const json::exception& e) {
    fail("stdin line {}: not valid JSON: {}", number, e.what());
  }
}

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += ']';
  return out;
}

// The ids of a JSON array; `where` prefixes error messages.
std::vector<int32_t> ids_from_json(const json& j, const std::string& where) {
  if (!j.is_array()) fail("{}: expected a JSON array of token ids", where);
  std::vector<int32_t> ids;
  ids.reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    const json& v = j[i];
    if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX) {
      fail("{}: element {} ({}) is not a token id", where, i, json_brief(v));
    }
    ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return ids;
}

int run_tokenize(const Opts& o) {
  const Tokenizer tok = Tokenizer::load(std::filesystem::path(o.model) / "tokenizer.json");
  const std::string input = read_stdin();
  std::string out;
  if (!o.jsonl) {
    out = ids_json(tok.encode(input));
    out += '\n';
  } else {
    for_each_line(input, [&](std::string_view line, size_t number) {
      const json j = parse_line(line, number);
      if (!j.is_string()) fail("stdin line {}: expected a JSON string, got {}", number, j.type_name());
      out += ids_json(tok.encode(j.get_ref<const std::string&>()));
      out += '\n';
    });
  }
  write_stdout(out);
  return 0;
}

int run_detokenize(const Opts& o) {
  const Tokenizer tok = Tokenizer::load(std::filesystem::path(o.model) / "tokenizer.json");
  const std::string input = read_stdin();
  std::string out;
  if (!o.jsonl) {
    json j;
    try {
      j = json::parse(input);
    } catch (const json::exception& e) {
      fail("stdin: not valid JSON: {}", e.what());
    }
    out = tok.decode(ids_from_json(j, "stdin"), o.skip_special_tokens);
  } else {
    for_each_line(input, [&](std::string_view line, size_t number) {
      const std::string where = fmt::format("stdin line {}", number);
      const std::string text = tok.decode(ids_from_json(parse_line(line, number), where), o.skip_special_tokens);
      out += json(text).dump();
      out += '\n';
    });
  }
  write_stdout(out);
  return 0;
}

const bool registered_tokenize = register_command(
    "tokenize", "Text on stdin -> token ids (JSON) on stdout, as Hugging Face tokenizers", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      add_model_path_option(app, "--model", o->model, "Model (with tokenizer.json)", true)->required();
      app.add_flag("--jsonl", o->jsonl, "Each input line is a JSON string; print one JSON array per line");
      return [o] { return run_tokenize(*o); };
    });

const bool registered_detokenize = register_command(
    "detokenize", "Token ids (a JSON array) on stdin -> text on stdout", [](CLI::App& app) {
      auto o = std::make_shared<Opts>();
      add_model_path_option(app, "--model", o->model, "Model (with tokenizer.json)", true)->required();
      app.add_flag("--skip-special-tokens", o->skip_special_tokens, "Leave out tokens flagged special");
      app.add_flag("--jsonl", o->jsonl, "Each input line is a JSON array; print one JSON string per line");
      return [o] { return run_detokenize(*o); };
    });

}  // namespace
}  // namespace qwen3::tools
