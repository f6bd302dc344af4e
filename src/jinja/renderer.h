// The interpreter's class, shared by its two halves: template_render.cpp (statements, loops,
// macros, expressions) and template_render_modules.cpp (the tags that name other templates:
// include, import, extends and blocks; and call blocks). Internal to the interpreter.
//
// Scopes: the render's variables and top-level `set`s live in the root frame; every iteration of a
// for loop, every macro call and every `with` / `generation` block gets a frame of its own whose
// parent is the frame it was entered from (a macro's: the frame it was defined in). A `set`
// writes to the current frame, so a `set` inside a loop is gone after the iteration, as in
// Jinja2; namespaces carry state out. The frames of an iteration or a macro call are freed when it
// ends, unless a macro defined inside it still needs them.
//
// Templates: every template rendered (the first, an include, an import) is a run with a root frame
// of its own; a template that extends another shares its run (and root frame) with the templates
// it extends, as Jinja2's one context, and the most derived template's block of each name wins.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "jinja/builtins.h"
#include "jinja/template_ast.h"
#include "jinja/template_render.h"

namespace qwen3::jinja {

struct Frame {
  std::vector<std::pair<std::string, Value>> vars;
  Frame* parent = nullptr;

  Value* find(std::string_view name) {
    // The root frame holds every input variable, and a request may send many: searching a large
    // frame counts as comparisons (small ones, every loop's and macro's, are not worth counting).
    if (vars.size() > 32) budget::comparison(static_cast<int64_t>(vars.size()));
    for (auto& [k, v] : vars) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  void set(std::string_view name, Value value) {
    if (Value* v = find(name)) {
      *v = std::move(value);
    } else {
      vars.emplace_back(std::string(name), std::move(value));
    }
  }
};

class Renderer {
 public:
  Renderer(const TemplateAst& ast, const RenderOptions& options) : top_(ast), options_(options), ast_(&ast) {}
  std::string render(const nlohmann::ordered_json& vars);

 private:
  enum class Flow { Normal, Break, Continue };

  // A block definition and the template it is written in (errors name that template).
  struct BlockRef {
    const BlockStmt* block;
    const TemplateAst* ast;
  };

  // One template being rendered: its root frame and output, and (for `extends`) the template it
  // extends and the blocks of every template of the chain, most derived first.
  struct Run {
    Frame* root = nullptr;
    std::string* out = nullptr;
    const TemplateAst* parent = nullptr;  // set by {% extends %}: the root output is discarded
    std::map<std::string, std::vector<BlockRef>, std::less<>> blocks;
    std::vector<std::string> exported;    // top-level set and macro names, for import
  };

  // --- template_render.cpp ---
  Frame* new_frame(Frame* parent) {
    frames_.push_back(Frame{{}, parent});
    return &frames_.back();
  }
  void free_frames_since(size_t mark);
  void emit(std::string& out, std::string_view text);
  [[noreturn]] void error_at(size_t pos, const std::string& message, bool raised = false) const;
  Flow exec_body(const Body& body, std::string& out);
  Flow exec(const Stmt& s, std::string& out);
  Flow exec_inner(const Stmt& s, std::string& out);
  Flow exec_for(const ForStmt& st, std::string& out);
  // The loop's iterations over `all` (before the loop's `if`), `depth0` levels deep in a
  // recursive loop; the frames of the body have `outer` as parent.
  Flow run_loop(const ForStmt& st, std::vector<Value> all, size_t depth0, Frame* outer, std::string& out);
  void count_iteration(size_t pos);
  void assign(const Target& t, const Value& value, size_t pos);
  void define(std::string_view name, Value value);  // a top-level name is exported
  Value make_macro(const MacroStmt& st);
  Value call_macro(const MacroStmt& st, Frame* closure, const TemplateAst* ast, CallArgs& args);
  Value eval(const Expr& e);
  Value lookup(const std::string& name);
  CallArgs eval_args(const Arguments& a);
  Value apply_filter_chain(const Expr& chain, const Value& input);
  Value eval_inner(const Expr& e);

  // --- template_render_modules.cpp ---
  // Runs `ast` as a template of its own with `root` as its root frame (and, through `extends`,
  // the templates it extends), writing to `out`; `exported`, when given, receives the names its
  // top level defined.
  void run_template(const TemplateAst& ast, Frame* root, std::string& out, std::vector<std::string>* exported = nullptr);
  // The parsed template `name` from the loader, or null when the loader has none. `verb`
  // ("include", "import", "extend") names the tag in the error raised without a loader.
  const TemplateAst* load(const std::string& name, const char* verb);
  // A template name given to a tag: a string (or, for include, a list of them).
  const TemplateAst* load_named(const Value& name, const char* verb, bool ignore_missing);
  // Every variable visible from the current frame, innermost first: the context `include` and
  // `with context` pass on.
  Frame* context_frame();
  // The exported names of the template `name` evaluates to, as a dict; `template_name` receives it.
  Value import_module(const Expr& name, bool with_context, std::string* template_name);
  void exec_call_block(const CallBlockStmt& st, std::string& out);
  void exec_include(const IncludeStmt& st, std::string& out);
  void exec_import(const ImportStmt& st);
  void exec_from_import(const FromImportStmt& st);
  void exec_extends(const ExtendsStmt& st);
  void exec_block(const BlockStmt& st, std::string& out);
  // The `level`-th definition (0: the most derived) of block `name`, in a frame under `scope`.
  void render_block(const std::string& name, size_t level, Frame* scope, std::string& out);

  const TemplateAst& top_;
  const RenderOptions& options_;
  const TemplateAst* ast_;    // the template whose statements run now: errors name it
  std::deque<Frame> frames_;  // the frames in use; closures point into it
  size_t pinned_ = 0;         // frames before this index may be reached by a macro closure
  Frame* frame_ = nullptr;
  Run* run_ = nullptr;
  int depth_ = 0;             // macro, caller() and loop(...) calls in progress
  int template_depth_ = 0;    // templates being rendered inside one another
  std::map<std::string, std::unique_ptr<TemplateAst>, std::less<>> loaded_;
};

}  // namespace qwen3::jinja
