#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "tools/cli_util.h"
#include "tools/command.h"
#include "tools/model_flags.h"
#include "tools/tp_launch.h"
#include "tools/version.h"
#include "parallel/communicator.h"

namespace qwen3::tools {
namespace {

struct Registered {
  std::string name, description;
  Setup setup;
};

std::vector<Registered>& registry() {
  static std::vector<Registered> r;
  return r;
}

// "unknown command 'gnerate'; did you mean 'generate'?" for a first argument that names no command.
std::string unknown_command(const std::string& typed) {
  std::vector<std::string> names;
  for (auto& r : registry()) names.push_back(r.name);
  if (auto m = closest_match(typed, names)) return fmt::format("unknown command '{}'; did you mean '{}'?", typed, *m);
  std::string all;
  for (auto& n : names) all += (all.empty() ? "" : ", ") + n;
  return fmt::format("unknown command '{}' (commands: {})", typed, all);
}

// The first argument after the subcommand that looks like an option and is none of its options,
// with the closest of its option names when one is close: "unknown option '--modle'; did you mean
// '--model'?". Empty when every option is known (the parse error is about something else).
std::string unknown_option(const CLI::App& sub, int argc, char** argv) {
  std::vector<std::string> names = {"--help"};
  for (const CLI::Option* o : sub.get_options()) {
    for (auto& l : o->get_lnames()) names.push_back("--" + l);
    for (auto& s : o->get_snames()) names.push_back("-" + s);
  }
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a.size() < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9') || a[1] == '.') continue;  // a value, or -1
    const bool inline_value = a.find('=') != std::string::npos;
    a = a.substr(0, a.find('='));
    if (const CLI::Option* o = sub.get_option_no_throw(a)) {
      if (!inline_value && o->get_expected_min() > 0) ++i;  // skip its value, which may start with '-'
      continue;
    }
    if (a == "--help" || a == "-h") continue;
    if (auto m = closest_match(a, names)) return fmt::format("unknown option '{}'; did you mean '{}'?", a, *m);
    return fmt::format("unknown option '{}'", a);
  }
  return {};
}

}  // namespace

bool register_command(std::string name, std::string description, Setup setup) {
  registry().push_back({std::move(name), std::move(description), std::move(setup)});
  return true;
}

}  // namespace qwen3::tools

int main(int argc, char** argv) {
  using namespace qwen3::tools;
  CLI::App app{"qwen3.cpp: exact, fast inference for Qwen3 models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] {
    std::string v = version_text();
    if (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  }, "print the version, git commit, build type and kernel instruction set, and exit");
  set_examples(app, {"qwen3 make-test-model --preset tiny --out /tmp/tiny",
                     "qwen3 generate --model /tmp/tiny --prompt \"Once upon a time\"",
                     "qwen3 serve --model ~/models/Qwen3-8B --port 8080", "qwen3 COMMAND --help"});
  std::map<std::string, Action> actions;
  for (auto& r : registry()) {
    CLI::App* sub = app.add_subcommand(r.name, r.description);
    actions[r.name] = r.setup(*sub);
  }
  if (argc >= 2 && argv[1][0] != '-' && !actions.count(argv[1])) {
    std::fprintf(stderr, "qwen3: error: %s (see qwen3 --help)\n", unknown_command(argv[1]).c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One clear line on stderr for bad arguments (CLI11 prints a multi-line hint by default).
    if (e.get_exit_code() == 0) return app.exit(e);
    if (argc >= 2 && actions.count(argv[1])) {
      const std::string unknown = unknown_option(*app.get_subcommand(argv[1]), argc, argv);
      if (!unknown.empty()) {
        std::fprintf(stderr, "qwen3: error: %s: %s (see qwen3 %s --help)\n", argv[1], unknown.c_str(), argv[1]);
        return 2;
      }
    }
    std::fprintf(stderr, "qwen3: error: %s (see qwen3 --help)\n", e.what());
    return 2;
  }
  int rc = 0;
  bool has_model = false;
  try {
    for (auto* sub : app.get_subcommands()) {
      has_model = model_flags_of(sub) != nullptr;
      resolve_model_paths(sub);  // --model as a folder or a Hugging Face repo id
      if (const CLI::Option* q = sub->get_option_no_throw("--quiet"); q && q->count() > 0)
        qwen3::set_progress_output(qwen3::ProgressOutput::Off);
      // Under mpirun, ranks other than 0 only mirror rank 0's model (tools/tp_launch.h).
      if (qwen3::launched_tensor_parallel() && qwen3::launcher_rank() != 0) return run_tp_worker(model_flags_of(sub));
      rc = actions.at(sub->get_name())();
      break;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwen3: error: %s\n", e.what());
    rc = 1;
  }
  return finish_tp(rc, has_model);
}
