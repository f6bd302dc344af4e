// Tokens -> TemplateAst, following the grammar of Jinja2's parser (jinja2/parser.py): the same
// precedence and the same places where tuples, conditional expressions and filters are allowed.
#include <initializer_list>

#include "jinja/builtins.h"
#include "jinja/template_ast.h"
#include "jinja/template_lexer.h"

namespace qwen3::jinja {
namespace {

using T = Token::Type;

// Deepest nesting of expressions and of blocks: deeper templates are refused rather than let to
// exhaust the stack (the parser and the renderer recurse along the nesting).
constexpr int kMaxNesting = 300;

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, TemplateAst& ast) : t_(tokens), ast_(ast) {}

  Body parse_template() {
    std::string found;
    Body body = parse_until({}, nullptr, 0, found);
    return body;
  }

 private:
  struct NestingGuard {
    Parser& p;
    explicit NestingGuard(Parser& parser) : p(parser) {
      if (++p.nesting_ > kMaxNesting) p.error(p.cur().pos, fmt::format("nested more than {} levels deep", kMaxNesting));
    }
    ~NestingGuard() { --p.nesting_; }
  };
  // A left-associative chain (a + b + c, x.a.b, x | f | g) nests one level per link.
  struct ChainGuard {
    Parser& p;
    int links = 0;
    explicit ChainGuard(Parser& parser) : p(parser) {}
    void link() {
      ++links;
      if (++p.nesting_ > kMaxNesting) p.error(p.cur().pos, fmt::format("nested more than {} levels deep", kMaxNesting));
    }
    ~ChainGuard() { p.nesting_ -= links; }
  };

  // --- token stream ---
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(i_ + n, t_.size() - 1)]; }
  const Token& advance() { return t_[i_ < t_.size() - 1 ? i_++ : i_]; }
  bool at_op(std::string_view op) const { return cur().type == T::Op && cur().value == op; }
  bool at_name(std::string_view name) const { return cur().type == T::Name && cur().value == name; }
  bool skip_op(std::string_view op) {
    if (!at_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!at_name(name)) return false;
    advance();
    return true;
  }

  [[noreturn]] void error(size_t pos, const std::string& message) const {
    throw_template_error(ast_.name, ast_.source, pos, message);
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case T::Text: return "template text";
      case T::VarBegin: return "'{{'";
      case T::VarEnd: return "end of print statement '}}'";
      case T::BlockBegin: return "'{%'";
      case T::BlockEnd: return "end of statement block '%}'";
      case T::Name: return "'" + t.value + "'";
      case T::String: return "string";
      case T::Int: return "integer";
      case T::Float: return "float";
      case T::Op: return "'" + t.value + "'";
      case T::Eof: return "end of template";
    }
    return "token";
  }

  [[noreturn]] void unexpected(const std::string& expected) const {
    error(cur().pos, fmt::format("expected {}, got {}", expected, describe(cur())));
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) unexpected(fmt::format("'{}'", op));
  }
  std::string expect_name() {
    if (cur().type != T::Name) unexpected("a name");
    return advance().value;
  }
  void expect_block_end() {
    if (cur().type != T::BlockEnd) unexpected("end of statement block '%}'");
    advance();
  }

  // --- statements ---

  // Parses template data and statements up to a block tag named in `ends` (which is consumed
  // with its name: the caller reads the rest of that tag) and sets `found` to that name. With no
  // `ends`, parses to the end of the template. `opener` names the enclosing block for messages.
  Body parse_until(std::initializer_list<std::string_view> ends, const char* opener, size_t opener_pos,
                   std::string& found) {
    Body body;
    while (true) {
      const Token& tok = cur();
      switch (tok.type) {
        case T::Text:
          body.push_back(std::make_unique<TextStmt>(tok.pos, tok.value));
          advance();
          break;
        case T::VarBegin: {
          advance();
          ExprPtr e = parse_tuple(true, false, {});
          if (cur().type != T::VarEnd) unexpected("end of print statement '}}'");
          advance();
          body.push_back(std::make_unique<OutputStmt>(tok.pos, std::move(e)));
          break;
        }
        case T::BlockBegin: {
          const Token& name = peek();
          if (name.type != T::Name) error(name.pos, "expected a tag name after '{%'");
          for (std::string_view end : ends) {
            if (name.value == end) {
              found = name.value;
              i_ += 2;
              return body;
            }
          }
          advance();
          body.push_back(parse_statement(tok.pos));
          break;
        }
        case T::Eof: {
          if (ends.size() == 0) return body;
          std::string wanted;
          for (std::string_view end : ends) wanted += (wanted.empty() ? "'" : " or '") + std::string(end) + "'";
          const LineColumn lc = line_column(ast_.source, opener_pos);
          error(tok.pos, fmt::format("unexpected end of template, expected {} to close the '{}' block at line {} column {}",
                                     wanted, opener, lc.line, lc.column));
        }
        default:
          error(tok.pos, fmt::format("unexpected {}", describe(tok)));
      }
    }
  }

  // At the tag name, after '{%'.
  StmtPtr parse_statement(size_t pos) {
    NestingGuard guard(*this);
    const Token& name = cur();
    const std::string& n = name.value;
    if (n == "if") return parse_if(pos);
    if (n == "for") return parse_for(pos);
    if (n == "set") return parse_set(pos);
    if (n == "macro") return parse_macro(pos);
    if (n == "filter") return parse_filter_block(pos);
    if (n == "with" || n == "generation") return parse_with(pos);
    if (n == "break" || n == "continue") {
      if (loop_depth_ == 0) error(name.pos, fmt::format("'{}' outside of a for loop", n));
      advance();
      expect_block_end();
      return std::make_unique<LoopControlStmt>(pos, n == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue);
    }
    static constexpr std::string_view unsupported[] = {"extends", "block", "include", "import", "from", "call", "do", "autoescape"};
    for (std::string_view u : unsupported) {
      if (n == u) error(name.pos, fmt::format("the '{}' tag is not supported", n));
    }
    if (n.rfind("end", 0) == 0 || n == "elif" || n == "else") error(name.pos, fmt::format("unexpected '{}'", n));
    error(name.pos, fmt::format("unknown tag '{}'", n));
  }

  StmtPtr parse_if(size_t pos) {
    auto stmt = std::make_unique<IfStmt>(pos);
    advance();  // if
    while (true) {
      ExprPtr cond = parse_tuple(false, false, {});
      expect_block_end();
      std::string found;
      Body body = parse_until({"elif", "else", "endif"}, "if", pos, found);
      stmt->branches.emplace_back(std::move(cond), std::move(body));
      if (found == "elif") continue;
      if (found == "else") {
        expect_block_end();
        stmt->otherwise = parse_until({"endif"}, "if", pos, found);
      }
      expect_block_end();
      return stmt;
    }
  }

  StmtPtr parse_for(size_t pos) {
    auto stmt = std::make_unique<ForStmt>(pos);
    advance();  // for
    stmt->target = parse_target(false);
    if (!skip_name("in")) unexpected("'in'");
    stmt->iter = parse_tuple(false, false, {"recursive"});
    if (skip_name("if")) stmt->filter = parse_expression(true);
    if (at_name("recursive")) error(cur().pos, "recursive for loops are not supported");
    expect_block_end();
    std::string found;
    ++loop_depth_;
    stmt->body = parse_until({"else", "endfor"}, "for", pos, found);
    --loop_depth_;
    if (found == "else") {
      expect_block_end();
      const int saved = loop_depth_;
      loop_depth_ = 0;  // break / continue in a loop's else belong to an outer loop, if any
      stmt->otherwise = parse_until({"endfor"}, "for", pos, found);
      loop_depth_ = saved;
    }
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_set(size_t pos) {
    advance();  // set
    Target target = parse_target(true);
    if (skip_op("=")) {
      auto stmt = std::make_unique<SetStmt>(pos);
      stmt->target = std::move(target);
      stmt->value = parse_tuple(true, false, {});
      expect_block_end();
      return stmt;
    }
    auto stmt = std::make_unique<SetBlockStmt>(pos);
    if (target.tuple) error(pos, "a block set assigns one name");
    stmt->target = std::move(target);
    if (at_op("|")) stmt->filter = parse_filters(nullptr);
    expect_block_end();
    std::string found;
    stmt->body = parse_until({"endset"}, "set", pos, found);
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_macro(size_t pos) {
    auto stmt = std::make_unique<MacroStmt>(pos);
    advance();  // macro
    stmt->name = expect_name();
    expect_op("(");
    while (!at_op(")")) {
      if (!stmt->params.empty()) expect_op(",");
      if (at_op(")")) break;
      const size_t param_pos = cur().pos;
      std::string param = expect_name();
      ExprPtr def;
      if (skip_op("=")) {
        def = parse_expression(true);
      } else if (!stmt->params.empty() && stmt->params.back().second) {
        error(param_pos, "non-default argument follows default argument");
      }
      stmt->params.emplace_back(std::move(param), std::move(def));
    }
    advance();  // )
    expect_block_end();
    macros_.push_back(stmt.get());
    const int saved = loop_depth_;
    loop_depth_ = 0;
    std::string found;
    stmt->body = parse_until({"endmacro"}, "macro", pos, found);
    loop_depth_ = saved;
    macros_.pop_back();
    if (cur().type == T::Name) advance();  // {% endmacro name %}
    expect_block_end();
    return stmt;
  }

  StmtPtr parse_filter_block(size_t pos) {
    auto stmt = std::make_unique<FilterBlockStmt>(pos);
    advance();  // filter
    // The first filter has no '|': `{% filter upper | trim %}`.
    stmt->filter = parse_one_filter(nullptr, cur().pos);
    if (at_op("|")) stmt->filter = parse_filters(std::move(stmt->filter));
    expect_block_end();
    std::string found;
    stmt->body = parse_until({"endfilter"}, "filter", pos, found);
    expect_block_end();
    return stmt;
  }

  // `with` and transformers' `generation` (a call block: a scope of its own, output unchanged).
  StmtPtr parse_with(size_t pos) {
    auto stmt = std::make_unique<WithStmt>(pos);
    const std::string tag = advance().value;
    if (tag == "with") {
      while (cur().type != T::BlockEnd) {
        if (!stmt->assignments.empty()) expect_op(",");
        Target target = parse_target(false);
        expect_op("=");
        stmt->assignments.emplace_back(std::move(target), parse_expression(true));
      }
    }
    expect_block_end();
    std::string found;
    stmt->body = parse_until({tag == "with" ? "endwith" : "endgeneration"}, tag.c_str(), pos, found);
    expect_block_end();
    return stmt;
  }

  // name | a, b | (a, b) | ns.attr (with_namespace)
  Target parse_target(bool with_namespace) {
    Target target;
    if (with_namespace && cur().type == T::Name && peek().type == T::Op && peek().value == ".") {
      target.names.push_back(advance().value);
      advance();  // .
      target.attribute = expect_name();
      return target;
    }
    const bool parens = skip_op("(");
    target.names.push_back(expect_name());
    while (skip_op(",")) {
      target.tuple = true;
      if (cur().type != T::Name) break;  // trailing comma
      target.names.push_back(expect_name());
    }
    if (parens) {
      target.tuple = true;
      expect_op(")");
    }
    for (const std::string& n : target.names) {
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None") {
        error(cur().pos, fmt::format("cannot assign to '{}'", n));
      }
    }
    return target;
  }

  // --- expressions ---

  // Expressions separated by commas make a tuple. Stops at the end of a tag, ')' and the names
  // in `extra_ends`.
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens, std::initializer_list<std::string_view> extra_ends) {
    const size_t pos = cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    auto at_end = [&] {
      if (cur().type == T::VarEnd || cur().type == T::BlockEnd || cur().type == T::Eof || at_op(")")) return true;
      for (std::string_view e : extra_ends) {
        if (at_name(e)) return true;
      }
      return false;
    };
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) break;
        is_tuple = true;
      }
      if (at_end()) break;
      items.push_back(parse_expression(with_condexpr));
    }
    if (!is_tuple && items.size() == 1) return std::move(items[0]);
    if (items.empty() && !explicit_parens) unexpected("an expression");
    auto list = std::make_unique<ListExpr>(pos, true);
    list->items = std::move(items);
    return list;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    NestingGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    ExprPtr expr = parse_or();
    ChainGuard chain(*this);
    while (at_name("if")) {
      chain.link();
      const size_t pos = advance().pos;
      auto cond = std::make_unique<CondExpr>(pos);
      cond->then = std::move(expr);
      cond->cond = parse_or();
      if (skip_name("else")) cond->otherwise = parse_condexpr();
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    ChainGuard chain(*this);
    while (at_name("or")) {
      chain.link();
      const size_t pos = advance().pos;
      left = std::make_unique<BinaryExpr>(pos, BinaryExpr::Op::Or, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    ChainGuard chain(*this);
    while (at_name("and")) {
      chain.link();
      const size_t pos = advance().pos;
      left = std::make_unique<BinaryExpr>(pos, BinaryExpr::Op::And, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    NestingGuard guard(*this);
    if (at_name("not")) {
      const size_t pos = advance().pos;
      return std::make_unique<UnaryExpr>(pos, UnaryExpr::Op::Not, parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const size_t pos = cur().pos;
    ExprPtr first = parse_math1();
    std::unique_ptr<CompareExpr> cmp;
    while (true) {
      CompareExpr::Op op;
      if (at_op("==")) op = CompareExpr::Op::Eq;
      else if (at_op("!=")) op = CompareExpr::Op::Ne;
      else if (at_op("<")) op = CompareExpr::Op::Lt;
      else if (at_op("<=")) op = CompareExpr::Op::Le;
      else if (at_op(">")) op = CompareExpr::Op::Gt;
      else if (at_op(">=")) op = CompareExpr::Op::Ge;
      else if (at_name("in")) op = CompareExpr::Op::In;
      else if (at_name("not") && peek().type == T::Name && peek().value == "in") {
        op = CompareExpr::Op::NotIn;
        advance();
      } else {
        break;
      }
      advance();
      if (!cmp) cmp = std::make_unique<CompareExpr>(pos, std::move(first));
      cmp->rest.emplace_back(op, parse_math1());
    }
    if (cmp) return cmp;
    return first;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    ChainGuard chain(*this);
    while (at_op("+") || at_op("-")) {
      chain.link();
      const Token& op = advance();
      left = std::make_unique<BinaryExpr>(op.pos, op.value == "+" ? BinaryExpr::Op::Add : BinaryExpr::Op::Sub,
                                          std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    ChainGuard chain(*this);
    while (at_op("~")) {
      chain.link();
      const size_t pos = advance().pos;
      left = std::make_unique<BinaryExpr>(pos, BinaryExpr::Op::Concat, std::move(left), parse_math2());
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    ChainGuard chain(*this);
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      chain.link();
      const Token& op = advance();
      const BinaryExpr::Op o = op.value == "*"    ? BinaryExpr::Op::Mul
                               : op.value == "/"  ? BinaryExpr::Op::Div
                               : op.value == "//" ? BinaryExpr::Op::FloorDiv
                                                  : BinaryExpr::Op::Mod;
      left = std::make_unique<BinaryExpr>(op.pos, o, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {  // left-associative, as in Jinja2: 2 ** 3 ** 2 == 64
    ExprPtr left = parse_unary(true);
    ChainGuard chain(*this);
    while (at_op("**")) {
      chain.link();
      const size_t pos = advance().pos;
      left = std::make_unique<BinaryExpr>(pos, BinaryExpr::Op::Pow, std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    NestingGuard guard(*this);
    ExprPtr node;
    if (at_op("-") || at_op("+")) {
      const Token& op = advance();
      node = std::make_unique<UnaryExpr>(op.pos, op.value == "-" ? UnaryExpr::Op::Neg : UnaryExpr::Op::Pos,
                                         parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& tok = cur();
    switch (tok.type) {
      case T::Name: {
        advance();
        const std::string& n = tok.value;
        if (n == "true" || n == "True") return std::make_unique<LiteralExpr>(tok.pos, Value(true));
        if (n == "false" || n == "False") return std::make_unique<LiteralExpr>(tok.pos, Value(false));
        if (n == "none" || n == "None") return std::make_unique<LiteralExpr>(tok.pos, Value::none());
        if (!macros_.empty() && n == "varargs") macros_.back()->uses_varargs = true;
        if (!macros_.empty() && n == "kwargs") macros_.back()->uses_kwargs = true;
        return std::make_unique<NameExpr>(tok.pos, n);
      }
      case T::String: {
        std::string s = advance().value;
        while (cur().type == T::String) s += advance().value;  // "a" "b" is "ab"
        return std::make_unique<LiteralExpr>(tok.pos, Value(std::move(s)));
      }
      case T::Int: advance(); return std::make_unique<LiteralExpr>(tok.pos, Value(tok.int_value));
      case T::Float: advance(); return std::make_unique<LiteralExpr>(tok.pos, Value(tok.float_value));
      case T::Op:
        if (tok.value == "(") {
          advance();
          ExprPtr e = parse_tuple(true, true, {});
          expect_op(")");
          return e;
        }
        if (tok.value == "[") {
          advance();
          auto list = std::make_unique<ListExpr>(tok.pos, false);
          while (!at_op("]")) {
            if (!list->items.empty()) expect_op(",");
            if (at_op("]")) break;
            list->items.push_back(parse_expression(true));
          }
          advance();
          return list;
        }
        if (tok.value == "{") {
          advance();
          auto dict = std::make_unique<DictExpr>(tok.pos);
          while (!at_op("}")) {
            if (!dict->items.empty()) expect_op(",");
            if (at_op("}")) break;
            ExprPtr key = parse_expression(true);
            expect_op(":");
            dict->items.emplace_back(std::move(key), parse_expression(true));
          }
          advance();
          return dict;
        }
        break;
      default: break;
    }
    unexpected("an expression");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    ChainGuard chain(*this);
    while (true) {
      chain.link();
      if (at_op(".")) {
        const size_t pos = advance().pos;
        if (cur().type == T::Name) {
          node = std::make_unique<GetAttrExpr>(pos, std::move(node), advance().value);
        } else if (cur().type == T::Int) {
          auto index = std::make_unique<LiteralExpr>(cur().pos, Value(advance().int_value));
          node = std::make_unique<GetItemExpr>(pos, std::move(node), std::move(index));
        } else {
          unexpected("an attribute name");
        }
      } else if (at_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr object) {
    const size_t pos = advance().pos;  // [
    ExprPtr parts[3];
    int colons = 0;
    while (!at_op("]")) {
      if (at_op(":")) {
        if (++colons > 2) unexpected("']'");
        advance();
        continue;
      }
      if (parts[colons]) unexpected(colons < 2 ? "':' or ']'" : "']'");
      parts[colons] = parse_expression(true);
    }
    advance();  // ]
    if (colons == 0) {
      if (!parts[0]) error(pos, "expected an index");
      return std::make_unique<GetItemExpr>(pos, std::move(object), std::move(parts[0]));
    }
    auto s = std::make_unique<SliceExpr>(pos);
    s->object = std::move(object);
    s->start = std::move(parts[0]);
    s->stop = std::move(parts[1]);
    s->step = std::move(parts[2]);
    return s;
  }

  Arguments parse_call_args() {
    expect_op("(");
    Arguments args;
    while (!at_op(")")) {
      if (!args.positional.empty() || !args.keyword.empty()) expect_op(",");
      if (at_op(")")) break;
      if (at_op("*") || at_op("**")) error(cur().pos, "*args and **kwargs in calls are not supported");
      if (cur().type == T::Name && peek().type == T::Op && peek().value == "=") {
        std::string key = advance().value;
        advance();  // =
        args.keyword.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!args.keyword.empty()) error(cur().pos, "positional argument follows keyword argument");
        args.positional.push_back(parse_expression(true));
      }
    }
    advance();  // )
    return args;
  }

  ExprPtr parse_call(ExprPtr callee) {
    const size_t pos = callee->pos;  // errors point at the start of `f(...)`
    auto call = std::make_unique<CallExpr>(pos, std::move(callee));
    call->args = parse_call_args();
    return call;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    ChainGuard chain(*this);
    while (true) {
      chain.link();
      if (at_op("|")) {
        node = parse_filters(std::move(node), true);
      } else if (at_name("is")) {
        node = parse_test(std::move(node));
      } else if (at_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  // One or more `| name(args)`.
  ExprPtr parse_filters(ExprPtr node, bool just_one = false) {
    ChainGuard chain(*this);
    do {
      chain.link();
      const size_t pos = advance().pos;  // |
      node = parse_one_filter(std::move(node), pos);
    } while (!just_one && at_op("|"));
    return node;
  }

  ExprPtr parse_one_filter(ExprPtr operand, size_t pos) {
    const size_t name_pos = cur().pos;
    std::string name = expect_name();
    while (at_op(".")) {
      advance();
      name += '.';
      name += expect_name();
    }
    if (!is_filter(name)) error(name_pos, fmt::format("no filter named '{}'", name));
    auto f = std::make_unique<FilterExpr>(pos, std::move(operand), std::move(name));
    if (at_op("(")) f->args = parse_call_args();
    return f;
  }

  ExprPtr parse_test(ExprPtr operand) {
    const size_t pos = advance().pos;  // is
    const bool negated = skip_name("not");
    const size_t name_pos = cur().pos;
    std::string name = expect_name();
    while (at_op(".")) {
      advance();
      name += '.';
      name += expect_name();
    }
    if (!is_test(name)) error(name_pos, fmt::format("no test named '{}'", name));
    auto test = std::make_unique<TestExpr>(pos, std::move(operand), std::move(name));
    test->negated = negated;
    if (at_op("(")) {
      test->args = parse_call_args();
    } else if ((cur().type == T::Name || cur().type == T::String || cur().type == T::Int || cur().type == T::Float ||
                at_op("(") || at_op("[") || at_op("{")) &&
               !at_name("else") && !at_name("or") && !at_name("and")) {
      // One argument without parentheses: `x is divisibleby 3`, `x is sameas none`.
      if (at_name("is")) error(cur().pos, "you cannot chain multiple tests with is");
      test->args.positional.push_back(parse_postfix(parse_primary()));
    }
    return test;
  }

  const std::vector<Token>& t_;
  TemplateAst& ast_;
  size_t i_ = 0;
  std::vector<MacroStmt*> macros_;  // the macros being parsed, innermost last
  int loop_depth_ = 0;
  int nesting_ = 0;
};

}  // namespace

std::unique_ptr<TemplateAst> parse_template(std::string_view source, std::string name) {
  auto ast = std::make_unique<TemplateAst>();
  ast->name = std::move(name);
  ast->source = normalize_source(source);
  const std::vector<Token> tokens = lex(ast->source, ast->name);
  ast->body = Parser(tokens, *ast).parse_template();
  return ast;
}

}  // namespace qwen3::jinja
