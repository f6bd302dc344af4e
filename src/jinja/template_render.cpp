// The interpreter: executes a TemplateAst with Jinja2's scoping (renderer.h). This half runs the
// statements, loops, macros and expressions; template_render_modules.cpp the tags that name other
// templates.
//
// What a render may spend is bounded by RenderLimits (jinja/template_limits.h); running past a
// bound raises the same TemplateError as any other runtime error.
#include "core/error.h"

#include "jinja/builtins.h"
#include "jinja/renderer.h"
#include "jinja/template_lexer.h"

namespace qwen3::jinja {

std::string Renderer::render(const nlohmann::ordered_json& vars) {
  RenderBudget budget(options_.limits);
  struct Report {
    RenderBudget& budget;
    RenderUsage* usage;
    ~Report() {
      if (usage) *usage = budget.usage();
    }
  } report{budget, options_.usage};
  Frame* root = new_frame(nullptr);
  if (!vars.is_object()) fail("the template variables must be a JSON object");
  try {
    // JSON object keys are unique: no need for Frame::set's search.
    for (const auto& [k, v] : vars.items()) root->vars.emplace_back(k, Value::from_json(v));
  } catch (const EvalError& e) {
    error_at(0, e.what());
  }
  std::string out;
  run_template(top_, root, out);
  // The frames hold the values that may form cycles; free them while the budget can break those.
  frames_.clear();
  return out;
}

// Frees the frames made since `mark` (an iteration's or a macro call's), unless a macro closure
// may point into them. std::deque keeps pointers to the frames that stay valid.
void Renderer::free_frames_since(size_t mark) {
  if (pinned_ <= mark && frames_.size() > mark) frames_.resize(mark);
}

void Renderer::emit(std::string& out, std::string_view text) {
  // After {% extends %}, what the template's own top level writes is dropped (Jinja2 renders the
  // parent instead); its blocks reach the output through the parent.
  if (run_ != nullptr && run_->parent != nullptr && &out == run_->out) return;
  out += text;
  budget::check_output(out.size());
}

void Renderer::error_at(size_t pos, const std::string& message, bool raised) const {
  BudgetPause pause;  // finding the line and column reads the source
  throw_template_error(ast_->name, ast_->source, pos, message, raised);
}

Renderer::Flow Renderer::exec_body(const Body& body, std::string& out) {
  for (const StmtPtr& s : body) {
    const Flow f = exec(*s, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Renderer::Flow Renderer::exec(const Stmt& s, std::string& out) {
  try {
    return exec_inner(s, out);
  } catch (const RaisedError& e) {
    error_at(s.pos, e.what(), true);
  } catch (const EvalError& e) {
    error_at(s.pos, e.what());
  }
}

Renderer::Flow Renderer::exec_inner(const Stmt& s, std::string& out) {
  switch (s.kind) {
    case Stmt::Kind::Text: emit(out, static_cast<const TextStmt&>(s).text); return Flow::Normal;
    case Stmt::Kind::Output: emit(out, eval(*static_cast<const OutputStmt&>(s).expr).to_str()); return Flow::Normal;
    case Stmt::Kind::If: {
      const auto& st = static_cast<const IfStmt&>(s);
      for (const auto& [cond, body] : st.branches) {
        if (eval(*cond).truthy()) return exec_body(body, out);
      }
      return exec_body(st.otherwise, out);
    }
    case Stmt::Kind::For: return exec_for(static_cast<const ForStmt&>(s), out);
    case Stmt::Kind::Set: {
      const auto& st = static_cast<const SetStmt&>(s);
      assign(st.target, eval(*st.value), st.pos);
      return Flow::Normal;
    }
    case Stmt::Kind::SetBlock: {
      const auto& st = static_cast<const SetBlockStmt&>(s);
      std::string captured;
      exec_body(st.body, captured);
      Value v(std::move(captured));
      if (st.filter) v = apply_filter_chain(*st.filter, v);
      assign(st.target, v, st.pos);
      return Flow::Normal;
    }
    case Stmt::Kind::Macro: {
      const auto& st = static_cast<const MacroStmt&>(s);
      define(st.name, make_macro(st));
      return Flow::Normal;
    }
    case Stmt::Kind::FilterBlock: {
      const auto& st = static_cast<const FilterBlockStmt&>(s);
      std::string captured;
      exec_body(st.body, captured);
      emit(out, apply_filter_chain(*st.filter, Value(std::move(captured))).to_str());
      return Flow::Normal;
    }
    case Stmt::Kind::With: {
      const auto& st = static_cast<const WithStmt&>(s);
      Frame* outer = frame_;
      Frame* inner = new_frame(outer);
      // Values are computed in the outer scope, then bound in the inner one.
      std::vector<Value> values;
      for (const auto& a : st.assignments) values.push_back(eval(*a.second));
      frame_ = inner;
      for (size_t i = 0; i < values.size(); ++i) assign(st.assignments[i].first, values[i], st.pos);
      const Flow f = exec_body(st.body, out);
      frame_ = outer;
      return f;
    }
    case Stmt::Kind::Break: return Flow::Break;
    case Stmt::Kind::Continue: return Flow::Continue;
    case Stmt::Kind::CallBlock: exec_call_block(static_cast<const CallBlockStmt&>(s), out); return Flow::Normal;
    case Stmt::Kind::Include: exec_include(static_cast<const IncludeStmt&>(s), out); return Flow::Normal;
    case Stmt::Kind::Import: exec_import(static_cast<const ImportStmt&>(s)); return Flow::Normal;
    case Stmt::Kind::FromImport: exec_from_import(static_cast<const FromImportStmt&>(s)); return Flow::Normal;
    case Stmt::Kind::Extends: exec_extends(static_cast<const ExtendsStmt&>(s)); return Flow::Normal;
    case Stmt::Kind::Block: exec_block(static_cast<const BlockStmt&>(s), out); return Flow::Normal;
  }
  return Flow::Normal;
}

Renderer::Flow Renderer::exec_for(const ForStmt& st, std::string& out) {
  const Value iterable = eval(*st.iter);
  std::vector<Value> all;
  try {
    all = iterable.iterate();
  } catch (const EvalError& e) {
    error_at(st.iter->pos, e.what());
  }
  return run_loop(st, std::move(all), 0, frame_, out);
}

Renderer::Flow Renderer::run_loop(const ForStmt& st, std::vector<Value> all, size_t depth0, Frame* outer,
                                  std::string& out) {
  Frame* const saved = frame_;
  // The loop's `if` filters before iterating: loop.length and loop.index count what passes.
  if (st.filter) {
    std::vector<Value> kept;
    for (Value& item : all) {
      count_iteration(st.pos);
      const size_t mark = frames_.size();
      frame_ = new_frame(outer);
      assign(st.target, item, st.pos);
      const bool keep = eval(*st.filter).truthy();
      frame_ = saved;
      free_frames_since(mark);
      if (keep) kept.push_back(std::move(item));
    }
    all = std::move(kept);
  }
  if (all.empty()) {
    // The else block runs in the loop's scope; a break or continue in it is an outer loop's.
    frame_ = outer;
    const Flow f = exec_body(st.otherwise, out);
    frame_ = saved;
    return f;
  }
  // `loop(items)` in a recursive loop renders the body again, one level deeper, from the frame the
  // loop statement is in. A `loop` kept past the end of its loop (in a namespace) cannot recurse:
  // that frame may be gone.
  std::function<Value(CallArgs&)> recurse;
  auto alive = std::make_shared<bool>(true);
  struct EndLoop {
    std::shared_ptr<bool> alive;
    ~EndLoop() { *alive = false; }
  } end_loop{alive};
  if (st.recursive) {
    recurse = [this, &st, depth0, outer, alive](CallArgs& args) {
      if (!*alive) eval_fail("a recursive loop cannot be called after it has ended");
      if (args.positional.size() != 1 || !args.keyword.empty()) eval_fail("loop() takes exactly one argument");
      if (depth_ >= budget::limits().max_call_depth) eval_fail("maximum recursion depth exceeded in a recursive loop");
      budget::note_call_depth(depth_ + 1);
      ++depth_;
      struct Restore {
        int& depth;
        ~Restore() { --depth; }
      } restore{depth_};
      std::string text;
      run_loop(st, args.positional[0].iterate(), depth0 + 1, outer, text);
      return Value(std::move(text));
    };
  }
  // Not const: ~LoopObject releases the items one at a time (value.h).
  std::shared_ptr<const std::vector<Value>> items = std::make_shared<std::vector<Value>>(std::move(all));
  auto changed = std::make_shared<Value>();
  for (size_t i = 0; i < items->size(); ++i) {
    count_iteration(st.pos);
    const size_t mark = frames_.size();
    frame_ = new_frame(outer);
    assign(st.target, (*items)[i], st.pos);
    frame_->set("loop", Value::loop(LoopObject{items, i, depth0, changed, recurse}));
    const Flow f = exec_body(st.body, out);
    frame_ = saved;
    free_frames_since(mark);
    if (f == Flow::Break) break;
  }
  return Flow::Normal;
}

void Renderer::count_iteration(size_t pos) {
  try {
    budget::loop_iteration();
  } catch (const EvalError& e) {
    error_at(pos, e.what());
  }
}

void Renderer::assign(const Target& t, const Value& value, size_t pos) {
  if (!t.attribute.empty()) {
    Value ns = lookup(t.names[0]);
    if (!ns.is_namespace()) error_at(pos, "cannot assign attribute on non-namespace object");
    try {
      ns.set_attribute(t.attribute, value);
    } catch (const EvalError& e) {
      error_at(pos, e.what());
    }
    return;
  }
  if (!t.tuple) {
    define(t.names[0], value);
    return;
  }
  std::vector<Value> parts;
  try {
    parts = value.iterate();
  } catch (const EvalError&) {
    error_at(pos, fmt::format("cannot unpack non-iterable {} object", value.type_name()));
  }
  if (parts.size() != t.names.size()) {
    if (parts.size() > t.names.size()) error_at(pos, fmt::format("too many values to unpack (expected {})", t.names.size()));
    error_at(pos, fmt::format("not enough values to unpack (expected {}, got {})", t.names.size(), parts.size()));
  }
  for (size_t i = 0; i < parts.size(); ++i) define(t.names[i], parts[i]);
}

void Renderer::define(std::string_view name, Value value) {
  if (run_ != nullptr && frame_ == run_->root && !name.starts_with('_')) run_->exported.emplace_back(name);
  frame_->set(name, std::move(value));
}

Value Renderer::make_macro(const MacroStmt& st) {
  Frame* closure = frame_;
  const TemplateAst* ast = ast_;
  pinned_ = std::max(pinned_, frames_.size());  // the closure and every frame it may reach
  return Value::function(
      st.name, [this, &st, closure, ast](CallArgs& args) { return call_macro(st, closure, ast, args); }, true);
}

Value Renderer::call_macro(const MacroStmt& st, Frame* closure, const TemplateAst* ast, CallArgs& args) {
  if (depth_ >= budget::limits().max_call_depth) eval_fail("maximum recursion depth exceeded in macro '{}'", st.name);
  budget::note_call_depth(depth_ + 1);
  if (args.positional.size() > st.params.size() && !st.uses_varargs) {
    eval_fail("macro '{}' takes not more than {} argument(s)", st.name, st.params.size());
  }
  Frame* saved = frame_;
  const TemplateAst* saved_ast = ast_;
  const size_t mark = frames_.size();
  Frame* f = new_frame(closure);
  frame_ = f;
  ast_ = ast;
  ++depth_;
  struct Restore {
    Renderer* r;
    Frame* saved;
    const TemplateAst* saved_ast;
    size_t mark;
    ~Restore() {
      r->frame_ = saved;
      r->ast_ = saved_ast;
      --r->depth_;
      r->free_frames_since(mark);
    }
  } restore{this, saved, saved_ast, mark};
  std::vector<bool> given(st.params.size(), false);
  for (size_t i = 0; i < st.params.size() && i < args.positional.size(); ++i) {
    f->set(st.params[i].first, args.positional[i]);
    given[i] = true;
  }
  std::vector<std::pair<Value, Value>> extra_kwargs;
  bool have_caller = false;
  for (auto& [k, v] : args.keyword) {
    if (k == "caller") {
      // A call block passes `caller`; Jinja2 accepts it only in a macro that uses it.
      if (!st.uses_caller) {
        eval_fail("macro '{}' was invoked with two values for the special caller argument. This is most likely a bug.",
                  st.name);
      }
      f->set("caller", v);
      have_caller = true;
      continue;
    }
    size_t i = 0;
    while (i < st.params.size() && st.params[i].first != k) ++i;
    if (i == st.params.size()) {
      if (!st.uses_kwargs) eval_fail("macro '{}' takes no keyword argument '{}'", st.name, k);
      extra_kwargs.emplace_back(Value(k), v);
      continue;
    }
    if (given[i]) eval_fail("macro '{}' got multiple values for argument '{}'", st.name, k);
    f->set(k, v);
    given[i] = true;
  }
  // Defaults are evaluated at call time, in the macro's scope (they may use earlier arguments).
  for (size_t i = 0; i < st.params.size(); ++i) {
    if (given[i]) continue;
    const auto& [name, def] = st.params[i];
    f->set(name, def ? eval(*def) : Value::undefined(fmt::format("parameter '{}' was not provided", name)));
  }
  std::vector<Value> varargs;
  for (size_t i = st.params.size(); i < args.positional.size(); ++i) varargs.push_back(args.positional[i]);
  f->set("varargs", Value::tuple(std::move(varargs)));
  f->set("kwargs", Value::dict(std::move(extra_kwargs)));
  if (st.uses_caller && !have_caller) f->set("caller", Value::undefined("No caller defined"));
  std::string out;
  exec_body(st.body, out);
  return Value(std::move(out));
}


Value Renderer::eval(const Expr& e) {
  try {
    return eval_inner(e);
  } catch (const RaisedError& err) {
    error_at(e.pos, err.what(), true);
  } catch (const EvalError& err) {
    error_at(e.pos, err.what());
  }
}

Value Renderer::lookup(const std::string& name) {
  for (Frame* f = frame_; f != nullptr; f = f->parent) {
    if (Value* v = f->find(name)) return *v;
  }
  if (auto g = global(name)) return *g;
  return Value::undefined(fmt::format("'{}' is undefined", name));
}

CallArgs Renderer::eval_args(const Arguments& a) {
  CallArgs args;
  args.positional.reserve(a.positional.size());
  for (const ExprPtr& e : a.positional) args.positional.push_back(eval(*e));
  for (const auto& [k, e] : a.keyword) args.keyword.emplace_back(k, eval(*e));
  return args;
}

// A FilterExpr chain whose innermost operand is null, applied to `input`.
Value Renderer::apply_filter_chain(const Expr& chain, const Value& input) {
  const auto& f = static_cast<const FilterExpr&>(chain);
  const Value operand = f.operand ? apply_filter_chain(*f.operand, input) : input;
  CallArgs args = eval_args(f.args);
  try {
    return apply_filter(f.name, operand, args);
  } catch (const EvalError& err) {
    error_at(f.pos, err.what());
  }
}

Value Renderer::eval_inner(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::Literal: return static_cast<const LiteralExpr&>(e).value;
    case Expr::Kind::Name: return lookup(static_cast<const NameExpr&>(e).name);
    case Expr::Kind::List: {
      const auto& l = static_cast<const ListExpr&>(e);
      std::vector<Value> items;
      items.reserve(l.items.size());
      for (const ExprPtr& i : l.items) items.push_back(eval(*i));
      return l.tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
    }
    case Expr::Kind::Dict: {
      const auto& d = static_cast<const DictExpr&>(e);
      DictObject obj;
      for (const auto& [k, v] : d.items) obj.set(eval(*k), eval(*v));
      return Value::dict(std::move(obj.items));
    }
    case Expr::Kind::GetAttr: {
      const auto& g = static_cast<const GetAttrExpr&>(e);
      return get_attr(eval(*g.object), g.name);
    }
    case Expr::Kind::GetItem: {
      const auto& g = static_cast<const GetItemExpr&>(e);
      const Value obj = eval(*g.object);
      return get_item(obj, eval(*g.index));
    }
    case Expr::Kind::Slice: {
      const auto& s = static_cast<const SliceExpr&>(e);
      const Value obj = eval(*s.object);
      auto part = [&](const ExprPtr& p) { return p ? eval(*p) : Value::none(); };
      const Value start = part(s.start), stop = part(s.stop), step = part(s.step);
      return slice(obj, start, stop, step);
    }
    case Expr::Kind::Call: {
      const auto& c = static_cast<const CallExpr&>(e);
      const Value callee = eval(*c.callee);
      CallArgs args = eval_args(c.args);
      return call(callee, args);
    }
    case Expr::Kind::Filter: {
      const auto& f = static_cast<const FilterExpr&>(e);
      const Value operand = eval(*f.operand);
      CallArgs args = eval_args(f.args);
      return apply_filter(f.name, operand, args);
    }
    case Expr::Kind::Test: {
      const auto& t = static_cast<const TestExpr&>(e);
      const Value operand = eval(*t.operand);
      CallArgs args = eval_args(t.args);
      return Value(apply_test(t.name, operand, args) != t.negated);
    }
    case Expr::Kind::Unary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      const Value v = eval(*u.operand);
      if (u.op == UnaryExpr::Op::Not) return Value(!v.truthy());
      return unary_minus(v, u.op == UnaryExpr::Op::Neg);
    }
    case Expr::Kind::Binary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Value lhs = eval(*b.lhs);
      if (b.op == BinaryExpr::Op::And) return lhs.truthy() ? eval(*b.rhs) : lhs;
      if (b.op == BinaryExpr::Op::Or) return lhs.truthy() ? lhs : eval(*b.rhs);
      const Value rhs = eval(*b.rhs);
      return binary_op(b.op, lhs, rhs);
    }
    case Expr::Kind::Compare: {
      const auto& c = static_cast<const CompareExpr&>(e);
      Value left = eval(*c.first);
      for (const auto& [op, expr] : c.rest) {
        Value right = eval(*expr);
        if (!compare(op, left, right)) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case Expr::Kind::Cond: {
      const auto& c = static_cast<const CondExpr&>(e);
      if (eval(*c.cond).truthy()) return eval(*c.then);
      if (c.otherwise) return eval(*c.otherwise);
      const LineColumn lc = line_column(ast_->source, c.pos);
      return Value::undefined(fmt::format(
          "the inline if-expression on line {} evaluated to false and no else section was defined.", lc.line));
    }
  }
  return Value();
}

std::string render_template(const TemplateAst& ast, const nlohmann::ordered_json& vars, const RenderOptions& options) {
  return Renderer(ast, options).render(vars);
}

}  // namespace qwen3::jinja
