// The tags that name other templates (include, import, from ... import, extends, block), resolved
// through the caller's TemplateLoader, and call blocks. Jinja2's semantics: an include renders
// with the includer's variables (locals too) unless `without context`; an import renders without
// them unless `with context`, and gives the template's exported names (top-level macros and sets
// not starting with '_'); after `extends`, the template's own top-level output is dropped and the
// parent renders, with the most derived definition of each block.
#include "jinja/renderer.h"
#include "jinja/template_lexer.h"

namespace qwen3::jinja {

void Renderer::run_template(const TemplateAst& ast, Frame* root, std::string& out, std::vector<std::string>* exported) {
  if (template_depth_ >= budget::limits().max_template_depth) {
    eval_fail("templates nested more than {} deep (include, import, extends)", budget::limits().max_template_depth);
  }
  Run run;
  run.root = root;
  run.out = &out;
  for (const BlockStmt* b : ast.blocks) run.blocks[b->name].push_back(BlockRef{b, &ast});
  Run* const saved_run = run_;
  const TemplateAst* const saved_ast = ast_;
  Frame* const saved_frame = frame_;
  const int saved_depth = template_depth_;
  struct Restore {
    Renderer& r;
    Run* run;
    const TemplateAst* ast;
    Frame* frame;
    int depth;
    ~Restore() {
      r.run_ = run;
      r.ast_ = ast;
      r.frame_ = frame;
      r.template_depth_ = depth;
    }
  } restore{*this, saved_run, saved_ast, saved_frame, saved_depth};
  run_ = &run;
  frame_ = root;
  const TemplateAst* current = &ast;
  while (true) {
    ++template_depth_;
    budget::note_template_depth(template_depth_);
    ast_ = current;
    exec_body(current->body, out);
    if (run.parent == nullptr) break;
    // The parent renders in the same run: the child's top-level sets and macros are visible to
    // it, and its blocks come after the child's in each chain.
    current = run.parent;
    run.parent = nullptr;
    for (const BlockStmt* b : current->blocks) run.blocks[b->name].push_back(BlockRef{b, current});
  }
  if (exported != nullptr) *exported = std::move(run.exported);
}

const TemplateAst* Renderer::load(const std::string& name, const char* verb) {
  if (!options_.loader) eval_fail("no loader: cannot {} '{}'", verb, name);
  if (auto it = loaded_.find(name); it != loaded_.end()) return it->second.get();
  std::optional<std::string> source = options_.loader(name);
  if (!source) return nullptr;
  budget::scanned(source->size());  // parsing reads it
  // A syntax error names the loaded template, its line and column (TemplateError passes through).
  auto ast = parse_template(*source, name);
  return loaded_.emplace(name, std::move(ast)).first->second.get();
}

const TemplateAst* Renderer::load_named(const Value& name, const char* verb, bool ignore_missing) {
  if (name.is_string()) {
    const TemplateAst* t = load(name.str(), verb);
    if (t == nullptr && !ignore_missing) eval_fail("template '{}' not found", name.str());
    return t;
  }
  if (name.is_list() && std::string_view(verb) == "include") {
    std::string tried;
    for (const Value& n : name.items()) {
      if (!n.is_string()) eval_fail("template names must be strings, not {}", n.type_name());
      if (const TemplateAst* t = load(n.str(), verb)) return t;
      tried += (tried.empty() ? "" : ", ") + n.str();
    }
    if (!ignore_missing) eval_fail("none of the templates given were found: {}", tried);
    return nullptr;
  }
  if (name.is_undefined()) eval_fail("{}", name.undefined_hint());
  eval_fail("template name must be a string, not {}", name.type_name());
}

Frame* Renderer::context_frame() {
  Frame* context = new_frame(nullptr);
  for (Frame* f = frame_; f != nullptr; f = f->parent) {
    for (const auto& [k, v] : f->vars) {
      if (k == "loop") continue;  // Jinja2 does not pass a loop's `loop` on
      bool shadowed = false;
      for (const auto& [seen, unused] : context->vars) {
        if (seen == k) {
          shadowed = true;
          break;
        }
      }
      budget::comparison(static_cast<int64_t>(context->vars.size()));
      if (!shadowed) context->vars.emplace_back(k, v);
    }
  }
  return context;
}

void Renderer::exec_include(const IncludeStmt& st, std::string& out) {
  const TemplateAst* t = load_named(eval(*st.name), "include", st.ignore_missing);
  if (t == nullptr) return;
  Frame* root = st.with_context ? context_frame() : new_frame(nullptr);
  const size_t mark = frames_.size() - 1;
  std::string text;
  run_template(*t, root, text);
  free_frames_since(mark);
  emit(out, text);
}

Value Renderer::import_module(const Expr& name, bool with_context, std::string* template_name) {
  const Value n = eval(name);
  const TemplateAst* t = load_named(n, "import", false);
  if (template_name != nullptr) *template_name = n.str();
  Frame* root = with_context ? context_frame() : new_frame(nullptr);
  // The imported template's macros keep its root frame as their closure.
  pinned_ = std::max(pinned_, frames_.size());
  std::string discarded;
  std::vector<std::string> exported;
  run_template(*t, root, discarded, &exported);
  // The names the template defined at its top level, with their final values.
  std::vector<std::pair<Value, Value>> attrs;
  for (const std::string& k : exported) {
    bool seen = false;
    for (const auto& [a, unused] : attrs) seen = seen || a.str() == k;
    if (seen) continue;
    if (const Value* v = root->find(k)) attrs.emplace_back(Value(k), *v);
  }
  budget::comparison(static_cast<int64_t>(exported.size() * exported.size()));
  return Value::dict(std::move(attrs));
}

void Renderer::exec_import(const ImportStmt& st) {
  // Imports are not exported: `{% import %}` at the top level binds without define().
  frame_->set(st.target, import_module(*st.name, st.with_context, nullptr));
}

void Renderer::exec_from_import(const FromImportStmt& st) {
  std::string template_name;
  const Value module = import_module(*st.name, st.with_context, &template_name);
  const LineColumn lc = line_column(ast_->source, st.pos);
  for (const auto& [name, alias] : st.names) {
    const Value* v = module.dict_obj().find(std::string_view(name));
    frame_->set(alias, v != nullptr ? *v
                                    : Value::undefined(fmt::format(
                                          "the template {} (imported on line {}) does not export the requested name '{}'",
                                          Value(template_name).repr(), lc.line, name)));
  }
}

void Renderer::exec_extends(const ExtendsStmt& st) {
  if (run_->parent != nullptr) eval_fail("extended multiple times");
  // Each template of an extends chain counts as one level (a cycle ends here).
  if (template_depth_ >= budget::limits().max_template_depth) {
    eval_fail("templates nested more than {} deep (include, import, extends)", budget::limits().max_template_depth);
  }
  const TemplateAst* t = load_named(eval(*st.name), "extend", false);
  run_->parent = t;
}

void Renderer::exec_block(const BlockStmt& st, std::string& out) {
  // After {% extends %}, the template's own top-level blocks are not rendered where they stand:
  // the parent renders them in its place.
  if (run_->parent != nullptr && frame_ == run_->root) return;
  Frame* scope = st.scoped ? frame_ : run_->root;
  auto it = run_->blocks.find(st.name);
  if (it == run_->blocks.end()) {
    // A block met outside its template's run (in a macro imported from it): itself.
    run_->blocks[st.name].push_back(BlockRef{&st, ast_});
  }
  render_block(st.name, 0, scope, out);
}

void Renderer::render_block(const std::string& name, size_t level, Frame* scope, std::string& out) {
  const std::vector<BlockRef>& chain = run_->blocks.at(name);
  const BlockRef ref = chain[level];
  if (ref.block->required) eval_fail("Required block '{}' not found", name);
  const TemplateAst* const saved_ast = ast_;
  Frame* const saved_frame = frame_;
  const size_t mark = frames_.size();
  frame_ = new_frame(scope);
  ast_ = ref.ast;
  struct Restore {
    Renderer& r;
    const TemplateAst* ast;
    Frame* frame;
    size_t mark;
    ~Restore() {
      r.ast_ = ast;
      r.frame_ = frame;
      r.free_frames_since(mark);
    }
  } restore{*this, saved_ast, saved_frame, mark};
  // super() renders the next definition up from this block's scope, which lives as long as this
  // call: a super kept in a namespace past it refuses.
  auto alive = std::make_shared<bool>(true);
  struct EndBlock {
    std::shared_ptr<bool> alive;
    ~EndBlock() { *alive = false; }
  } end_block{alive};
  Run* const run = run_;
  frame_->set("super", Value::function("super", [this, run, name, level, scope, alive](CallArgs&) {
    if (!*alive) eval_fail("super() cannot be called after its block has ended");
    const std::vector<BlockRef>& c = run->blocks.at(name);
    if (level + 1 >= c.size()) eval_fail("there is no parent block called '{}'.", name);
    std::string text;
    Run* const saved = run_;
    run_ = run;
    render_block(name, level + 1, scope, text);
    run_ = saved;
    return Value(std::move(text));
  }));
  exec_body(ref.block->body, out);
}

void Renderer::exec_call_block(const CallBlockStmt& st, std::string& out) {
  const auto& c = static_cast<const CallExpr&>(*st.call);
  const Value callee = eval(*c.callee);
  CallArgs args = eval_args(c.args);
  args.keyword.emplace_back("caller", make_macro(st.caller));
  Value result;
  try {
    result = call(callee, args);
  } catch (const EvalError& e) {
    error_at(c.pos, e.what());
  }
  emit(out, result.to_str());
}

}  // namespace qwen3::jinja
