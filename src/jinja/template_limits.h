// What one render may spend. A chat template runs on request data (messages, tools, documents),
// so a template bug or a hostile input must end in a TemplateError (HTTP 400), never in a crash,
// an out-of-memory kill or a render that runs for minutes.
//
// The defaults are as tight as Jinja2's sandbox where it has a limit (range(): MAX_RANGE) and
// elsewhere sized against the server's 8 MiB request body: a prompt longer than 4× the largest
// body cannot be an honest one, and the real Qwen3 template rendering 200 messages and 20 tools
// stays below 10% of every bound (tests/unit/chat/template_limits_qwen3_test.cpp). Each limit is
// tested reaching its error in tests/unit/jinja/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace qwen3::jinja {

struct RenderLimits {
  int64_t max_range = 100'000;               // items of one range(); Jinja2's sandbox MAX_RANGE
  int64_t max_loop_iterations = 1'000'000;   // for-loop bodies and loop `if` tests, all loops together
  size_t max_output_bytes = size_t{32} << 20;  // the rendered text
  size_t max_string_bytes = size_t{32} << 20;  // any one string a template builds
  size_t max_list_items = 1'000'000;         // any one list a template builds (or iterates)
  size_t max_built_bytes = size_t{256} << 20;  // all strings and lists built by one render, summed:
                                              // a bound on its memory and on its copying work
  size_t max_scanned_bytes = size_t{1} << 30;  // string bytes read by str operations (find, `in`, split,
                                              // strip, ==, indexing non-ASCII text...), summed
  int64_t max_comparisons = 10'000'000;      // ==, <, `in`, sort, unique, dict keys: one per pair of values
  int max_call_depth = 256;                  // macro, caller() and recursive loop(...) calls in progress;
                                             // Python's stack stops Jinja2 near here
  int max_template_depth = 32;               // templates being rendered inside one another (include,
                                             // import, extends chains); Jinja2: the recursion limit
  int max_nesting_depth = 512;               // of values (lists, dicts, generators) that print, compare or
                                             // serialise by recursion; Python's recursion limit is 1000
};

// What a render used: totals, and for sizes and depths the largest seen.
struct RenderUsage {
  int64_t loop_iterations = 0;
  size_t output_bytes = 0;
  size_t largest_string_bytes = 0;
  size_t largest_list_items = 0;
  size_t built_bytes = 0;
  size_t scanned_bytes = 0;
  int64_t comparisons = 0;
  int deepest_call = 0;
  int deepest_template = 0;
  int deepest_nesting = 0;
  int64_t largest_range = 0;
};

// The limits and counters of the render running on this thread. The value operations and
// builtins are free functions reached from deep inside Python-like semantics (constructors,
// comparisons, bound methods); rather than thread a context through every one of them, the
// renderer installs its budget here for the duration of a render. A render never migrates
// between threads, and several renders may run at once on different threads.
//
// Without a render in progress (unit tests of values, parse-time constants) the per-value limits
// of RenderLimits{} still apply, and the per-render totals are not counted.
class RenderBudget {
 public:
  explicit RenderBudget(const RenderLimits& limits);  // installs itself for this thread
  ~RenderBudget();                                     // runs the at_end actions, uninstalls
  RenderBudget(const RenderBudget&) = delete;
  RenderBudget& operator=(const RenderBudget&) = delete;

  static RenderBudget* current();
  const RenderLimits& limits() const { return limits_; }
  const RenderUsage& usage() const { return usage_; }
  RenderUsage& usage() { return usage_; }

  // Run when the render ends, even by an error: breaks the reference cycles a template may have
  // made (`l.append(l)`), which shared ownership would otherwise leak.
  void at_end(std::function<void()> action) { at_end_.push_back(std::move(action)); }

 private:
  RenderLimits limits_;
  RenderUsage usage_;
  std::vector<std::function<void()>> at_end_;
  RenderBudget* previous_;
};

// Stops counting for a scope: the renderer's own work (formatting an error message) is not the
// template's, and must not fail because the template used up the budget.
class BudgetPause {
 public:
  BudgetPause();
  ~BudgetPause();
  BudgetPause(const BudgetPause&) = delete;
  BudgetPause& operator=(const BudgetPause&) = delete;

 private:
  RenderBudget* saved_;
};

// Checks against the current render's limits; each throws EvalError naming the limit.
namespace budget {
const RenderLimits& limits();             // the current render's, else the defaults
void loop_iteration();                    // one for-loop body or loop `if` test
void check_range(int64_t items);          // before range() builds its list
void check_string(size_t bytes);          // before or after building a string of `bytes`
void check_list(size_t items);            // before or after building a list of `items`
void check_output(size_t bytes);          // the render's output so far
void built(size_t bytes);                 // a new string or list of about `bytes`
void scanned(size_t bytes);               // a string operation read `bytes`
void comparison(int64_t n = 1);           // n equality or ordering tests (or name look-ups)
void note_nesting(int depth);             // for the usage record; limits are checked by the caller
void note_call_depth(int depth);
void note_template_depth(int depth);
void at_end(std::function<void()> action);  // RenderBudget::at_end, when a render is running
}  // namespace budget

}  // namespace qwen3::jinja
