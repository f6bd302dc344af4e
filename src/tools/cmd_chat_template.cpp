// qwen3 chat-template: render a model's chat template, as transformers' apply_chat_template(...,
// tokenize=False) does.
//
//   qwen3 chat-template --model DIR < vars.json
//   qwen3 chat-template --template FILE [--model DIR] [--template-dir DIR] < vars.json
//
// stdin: one JSON object, {"messages": [...], "tools"?: [...], "add_generation_prompt"?: bool,
// "enable_thinking"?: bool, ...any other template variable}. stdout: the rendered text, nothing
// added. Like transformers, the template also sees the model's special tokens (bos_token,
// eos_token, ... from tokenizer_config.json) and tools = None, documents = None and
// add_generation_prompt = False unless stdin gives them. The template is DIR/chat_template.jinja
// when present, else tokenizer_config.json's chat_template ("tool_use" when tools are given and the
// file names such a template, else "default"); --template FILE renders FILE instead, and
// --template-dir DIR lets its include / import / extends read DIR/NAME (no loader otherwise).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"
#include "tools/command.h"
#include "tools/model_flags.h"

namespace qwen3::tools {
namespace {

using nlohmann::ordered_json;

struct Opts {
  std::string model;
  std::string template_file;
  std::string template_dir;
};

// The templates a --template FILE names with include / import / extends: files under DIR, by a
// relative name without "..".
jinja::TemplateLoader dir_loader(const std::string& dir) {
  return [dir](const std::string& name) -> std::optional<std::string> {
    const std::filesystem::path rel(name);
    if (name.empty() || rel.is_absolute()) return std::nullopt;
    for (const auto& part : rel) {
      if (part == "..") return std::nullopt;
    }
    std::ifstream in(std::filesystem::path(dir) / rel, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
}

std::string read_all(std::FILE* f) {
  std::string s;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  if (std::ferror(f)) fail("cannot read stdin");
  return s;
}

int run(const Opts& o) {
  if (o.model.empty() && o.template_file.empty()) fail("chat-template: give --model DIR or --template FILE");

  ordered_json input;
  try {
    input = ordered_json::parse(read_all(stdin));
  } catch (const ordered_json::exception& e) {  // parse_error, and out_of_range for 1e999
    fail("stdin: not valid JSON: {}", e.what());
  }
  if (!input.is_object()) fail("stdin: expected a JSON object with \"messages\"");

  ChatTemplateFiles files;
  if (!o.model.empty()) files = ChatTemplateFiles::load(o.model);

  const auto tools = input.find("tools");
  const bool with_tools = tools != input.end() && !tools->is_null();
  std::string source, name;
  if (!o.template_file.empty()) {
    std::ifstream in(o.template_file, std::ios::binary);
    if (!in) fail("cannot open {}", o.template_file);
    std::ostringstream s;
    s << in.rdbuf();
    source = s.str();
    name = o.template_file;
  } else {
    source = files.select(with_tools);
    name = files.origin;
  }

  const ChatTemplate t = ChatTemplate::parse(std::move(source), std::move(name));
  const std::string out =
      o.template_dir.empty() ? t.render(files.variables(input)) : t.render(files.variables(input), dir_loader(o.template_dir));
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    fail("cannot write stdout");
  }
  return 0;
}

const bool registered = register_command(
    "chat-template", "Render the model's chat template with the JSON object on stdin (messages, tools, ...)",
    [](CLI::App& app) {
      auto opts = std::make_shared<Opts>();
      add_model_path_option(app, "--model", opts->model, "Model (tokenizer_config.json or chat_template.jinja)", true);
      app.add_option("--template", opts->template_file, "Render this Jinja file instead of the model's template");
      app.add_option("--template-dir", opts->template_dir,
                     "Resolve include / import / extends to files in this folder (default: no loader)");
      return [opts] { return run(*opts); };
    });

}  // namespace
}  // namespace qwen3::tools
