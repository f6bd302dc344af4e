// The interpreter: executes a TemplateAst with Jinja2's scoping.
//
// Scopes: the render's variables and top-level `set`s live in the root frame; every iteration of a
// for loop, every macro call and every `with` / `generation` block gets a frame of its own whose
// parent is the frame it was entered from (a macro's: the frame it was defined in). A `set`
// writes to the current frame, so a `set` inside a loop is gone after the iteration, as in
// Jinja2; namespaces carry state out. The frames of an iteration or a macro call are freed when it
// ends, unless a macro defined inside it still needs them.
//
// What a render may spend is bounded by RenderLimits (chat/template_limits.h); running past a
// bound raises the same TemplateError as any other runtime error.
#include <deque>

#include "core/error.h"

#include "jinja/builtins.h"
#include "jinja/template_ast.h"
#include "jinja/template_lexer.h"
#include "jinja/template_render.h"

namespace qwen3::jinja {
namespace {

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
  explicit Renderer(const TemplateAst& ast) : ast_(ast) {}

  std::string render(const nlohmann::ordered_json& vars, const RenderLimits& limits, RenderUsage* usage) {
    RenderBudget budget(limits);
    struct Report {
      RenderBudget& budget;
      RenderUsage* usage;
      ~Report() {
        if (usage) *usage = budget.usage();
      }
    } report{budget, usage};
    Frame* root = new_frame(nullptr);
    if (!vars.is_object()) fail("the template variables must be a JSON object");
    try {
      // JSON object keys are unique: no need for Frame::set's search.
      for (const auto& [k, v] : vars.items()) root->vars.emplace_back(k, Value::from_json(v));
    } catch (const EvalError& e) {
      error_at(0, e.what());
    }
    frame_ = root;
    std::string out;
    exec_body(ast_.body, out);
    // The frames hold the values that may form cycles; free them while the budget can break those.
    frames_.clear();
    return out;
  }

 private:
  enum class Flow { Normal, Break, Continue };

  Frame* new_frame(Frame* parent) {
    frames_.push_back(Frame{{}, parent});
    return &frames_.back();
  }

  // Frees the frames made since `mark` (an iteration's or a macro call's), unless a macro closure
  // may point into them. std::deque keeps pointers to the frames that stay valid.
  void free_frames_since(size_t mark) {
    if (pinned_ <= mark && frames_.size() > mark) frames_.resize(mark);
  }

  void emit(std::string& out, std::string_view text) {
    out += text;
    budget::check_output(out.size());
  }

  [[noreturn]] void error_at(size_t pos, const std::string& message, bool raised = false) const {
    BudgetPause pause;  // finding the line and column reads the source
    throw_template_error(ast_.name, ast_.source, pos, message, raised);
  }

  // --- statements ---

  Flow exec_body(const Body& body, std::string& out) {
    for (const StmtPtr& s : body) {
      const Flow f = exec(*s, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  Flow exec(const Stmt& s, std::string& out) {
    try {
      return exec_inner(s, out);
    } catch (const RaisedError& e) {
      error_at(s.pos, e.what(), true);
    } catch (const EvalError& e) {
      error_at(s.pos, e.what());
    }
  }

  Flow exec_inner(const Stmt& s, std::string& out) {
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
        Frame* closure = frame_;
        pinned_ = std::max(pinned_, frames_.size());  // the closure and every frame it may reach
        frame_->set(st.name, Value::function(
                                 st.name, [this, &st, closure](CallArgs& args) { return call_macro(st, closure, args); },
                                 true));
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
    }
    return Flow::Normal;
  }

  Flow exec_for(const ForStmt& st, std::string& out) {
    const Value iterable = eval(*st.iter);
    std::vector<Value> all;
    try {
      all = iterable.iterate();
    } catch (const EvalError& e) {
      error_at(st.iter->pos, e.what());
    }
    Frame* outer = frame_;
    // The loop's `if` filters before iterating: loop.length and loop.index count what passes.
    if (st.filter) {
      std::vector<Value> kept;
      for (Value& item : all) {
        count_iteration(st.pos);
        const size_t mark = frames_.size();
        frame_ = new_frame(outer);
        assign(st.target, item, st.pos);
        const bool keep = eval(*st.filter).truthy();
        frame_ = outer;
        free_frames_since(mark);
        if (keep) kept.push_back(std::move(item));
      }
      all = std::move(kept);
    }
    if (all.empty()) return exec_body(st.otherwise, out);
    // Not const: ~LoopObject releases the items one at a time (value.h).
    std::shared_ptr<const std::vector<Value>> items = std::make_shared<std::vector<Value>>(std::move(all));
    auto changed = std::make_shared<Value>();
    for (size_t i = 0; i < items->size(); ++i) {
      count_iteration(st.pos);
      const size_t mark = frames_.size();
      frame_ = new_frame(outer);
      assign(st.target, (*items)[i], st.pos);
      frame_->set("loop", Value::loop(LoopObject{items, i, 0, changed}));
      const Flow f = exec_body(st.body, out);
      frame_ = outer;
      free_frames_since(mark);
      if (f == Flow::Break) break;
    }
    return Flow::Normal;
  }

  void count_iteration(size_t pos) {
    try {
      budget::loop_iteration();
    } catch (const EvalError& e) {
      error_at(pos, e.what());
    }
  }

  void assign(const Target& t, const Value& value, size_t pos) {
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
      frame_->set(t.names[0], value);
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
    for (size_t i = 0; i < parts.size(); ++i) frame_->set(t.names[i], parts[i]);
  }

  Value call_macro(const MacroStmt& st, Frame* closure, CallArgs& args) {
    if (depth_ >= budget::limits().max_call_depth) eval_fail("maximum recursion depth exceeded in macro '{}'", st.name);
    budget::note_call_depth(depth_ + 1);
    if (args.positional.size() > st.params.size() && !st.uses_varargs) {
      eval_fail("macro '{}' takes not more than {} argument(s)", st.name, st.params.size());
    }
    Frame* saved = frame_;
    const size_t mark = frames_.size();
    Frame* f = new_frame(closure);
    frame_ = f;
    ++depth_;
    struct Restore {
      Renderer* r;
      Frame* saved;
      size_t mark;
      ~Restore() {
        r->frame_ = saved;
        --r->depth_;
        r->free_frames_since(mark);
      }
    } restore{this, saved, mark};
    std::vector<bool> given(st.params.size(), false);
    for (size_t i = 0; i < st.params.size() && i < args.positional.size(); ++i) {
      f->set(st.params[i].first, args.positional[i]);
      given[i] = true;
    }
    std::vector<std::pair<Value, Value>> extra_kwargs;
    for (auto& [k, v] : args.keyword) {
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
    std::string out;
    exec_body(st.body, out);
    return Value(std::move(out));
  }

  // --- expressions ---

  Value eval(const Expr& e) {
    try {
      return eval_inner(e);
    } catch (const RaisedError& err) {
      error_at(e.pos, err.what(), true);
    } catch (const EvalError& err) {
      error_at(e.pos, err.what());
    }
  }

  Value lookup(const std::string& name) {
    for (Frame* f = frame_; f != nullptr; f = f->parent) {
      if (Value* v = f->find(name)) return *v;
    }
    if (auto g = global(name)) return *g;
    return Value::undefined(fmt::format("'{}' is undefined", name));
  }

  CallArgs eval_args(const Arguments& a) {
    CallArgs args;
    args.positional.reserve(a.positional.size());
    for (const ExprPtr& e : a.positional) args.positional.push_back(eval(*e));
    for (const auto& [k, e] : a.keyword) args.keyword.emplace_back(k, eval(*e));
    return args;
  }

  // A FilterExpr chain whose innermost operand is null, applied to `input`.
  Value apply_filter_chain(const Expr& chain, const Value& input) {
    const auto& f = static_cast<const FilterExpr&>(chain);
    const Value operand = f.operand ? apply_filter_chain(*f.operand, input) : input;
    CallArgs args = eval_args(f.args);
    try {
      return apply_filter(f.name, operand, args);
    } catch (const EvalError& err) {
      error_at(f.pos, err.what());
    }
  }

  Value eval_inner(const Expr& e) {
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
        const LineColumn lc = line_column(ast_.source, c.pos);
        return Value::undefined(fmt::format(
            "the inline if-expression on line {} evaluated to false and no else section was defined.", lc.line));
      }
    }
    return Value();
  }

  const TemplateAst& ast_;
  std::deque<Frame> frames_;  // the frames in use; closures point into it
  size_t pinned_ = 0;         // frames before this index may be reached by a macro closure
  Frame* frame_ = nullptr;
  int depth_ = 0;
};

}  // namespace

std::string render_template(const TemplateAst& ast, const nlohmann::ordered_json& vars, const RenderLimits& limits,
                            RenderUsage* usage) {
  return Renderer(ast).render(vars, limits, usage);
}

}  // namespace qwen3::jinja
