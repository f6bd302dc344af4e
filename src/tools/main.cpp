#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "tools/command.h"
#include "tools/model_flags.h"
#include "tools/tp_launch.h"
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
  std::map<std::string, Action> actions;
  for (auto& r : registry()) {
    CLI::App* sub = app.add_subcommand(r.name, r.description);
    actions[r.name] = r.setup(*sub);
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
    std::fprintf(stderr, "qwen3: error: %s (see qwen3 --help)\n", e.what());
    return 2;
  }
  int rc = 0;
  bool has_model = false;
  try {
    for (auto* sub : app.get_subcommands()) {
      has_model = model_flags_of(sub) != nullptr;
      resolve_model_paths(sub);  // --model as a folder or a Hugging Face repo id
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
