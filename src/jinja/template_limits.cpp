#include "jinja/template_limits.h"

#include <algorithm>

#include "jinja/value.h"

namespace qwen3::jinja {
namespace {

thread_local RenderBudget* g_current = nullptr;

const RenderLimits& default_limits() {
  static const RenderLimits limits;
  return limits;
}

}  // namespace

RenderBudget::RenderBudget(const RenderLimits& limits) : limits_(limits), previous_(g_current) { g_current = this; }

RenderBudget::~RenderBudget() {
  g_current = previous_;
  for (auto& action : at_end_) action();
}

RenderBudget* RenderBudget::current() { return g_current; }

BudgetPause::BudgetPause() : saved_(g_current) { g_current = nullptr; }
BudgetPause::~BudgetPause() { g_current = saved_; }

namespace budget {

const RenderLimits& limits() { return g_current ? g_current->limits() : default_limits(); }

void loop_iteration() {
  if (!g_current) return;
  if (++g_current->usage().loop_iterations > g_current->limits().max_loop_iterations) {
    eval_fail("loop iterations exceed the render limit of {}", g_current->limits().max_loop_iterations);
  }
}

void check_range(int64_t items) {
  // Jinja2's sandbox raises OverflowError with this text; the limit is configurable here.
  if (items > limits().max_range) {
    eval_fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE ({}).", limits().max_range);
  }
  if (g_current) g_current->usage().largest_range = std::max(g_current->usage().largest_range, items);
}

void check_string(size_t bytes) {
  if (bytes > limits().max_string_bytes) {
    eval_fail("string of {} bytes exceeds the render limit of {} bytes", bytes, limits().max_string_bytes);
  }
  if (g_current) g_current->usage().largest_string_bytes = std::max(g_current->usage().largest_string_bytes, bytes);
}

void check_list(size_t items) {
  if (items > limits().max_list_items) {
    eval_fail("list of {} items exceeds the render limit of {} items", items, limits().max_list_items);
  }
  if (g_current) g_current->usage().largest_list_items = std::max(g_current->usage().largest_list_items, items);
}

void check_output(size_t bytes) {
  if (bytes > limits().max_output_bytes) {
    eval_fail("template output exceeds the render limit of {} bytes", limits().max_output_bytes);
  }
  if (g_current) g_current->usage().output_bytes = std::max(g_current->usage().output_bytes, bytes);
}

void built(size_t bytes) {
  if (!g_current) return;
  size_t& total = g_current->usage().built_bytes;
  total += bytes;
  if (total > g_current->limits().max_built_bytes) {
    eval_fail("values built by the template exceed the render limit of {} bytes", g_current->limits().max_built_bytes);
  }
}

void scanned(size_t bytes) {
  if (!g_current) return;
  size_t& total = g_current->usage().scanned_bytes;
  total += bytes;
  if (total > g_current->limits().max_scanned_bytes) {
    eval_fail("string operations read more than the render limit of {} bytes", g_current->limits().max_scanned_bytes);
  }
}

void comparison(int64_t n) {
  if (!g_current) return;
  if ((g_current->usage().comparisons += n) > g_current->limits().max_comparisons) {
    eval_fail("comparisons exceed the render limit of {}", g_current->limits().max_comparisons);
  }
}

void note_nesting(int depth) {
  if (g_current) g_current->usage().deepest_nesting = std::max(g_current->usage().deepest_nesting, depth);
}

void note_call_depth(int depth) {
  if (g_current) g_current->usage().deepest_call = std::max(g_current->usage().deepest_call, depth);
}

void note_template_depth(int depth) {
  if (g_current) g_current->usage().deepest_template = std::max(g_current->usage().deepest_template, depth);
}

void at_end(std::function<void()> action) {
  if (g_current) g_current->at_end(std::move(action));
}

}  // namespace budget
}  // namespace qwen3::jinja
