// The qwen3 binary is one CLI11 app with subcommands. Each subcommand lives in its own file
// (cmd_<name>.cpp) and registers itself at static-initialisation time:
//
//   static const bool registered = qwen3::tools::register_command(
//       "logits", "Write float32 logits of every position as .npy",
//       [](CLI::App& app) { auto opts = std::make_shared<Opts>(); app.add_option(...);
//                           return [opts] { return run(*opts); }; });
//
// The setup function adds options to its subcommand and returns the action to run; the action
// returns the process exit code. Errors are thrown as qwen3::Error and printed by main as one line.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace qwen3::tools {

using Action = std::function<int()>;
using Setup = std::function<Action(CLI::App&)>;

bool register_command(std::string name, std::string description, Setup setup);

}  // namespace qwen3::tools
