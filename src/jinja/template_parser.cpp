// Tokens -> TemplateAst, following the grammar of Jinja2's parser (jinja2/parser.py): the same
// precedence and the same places where tuples, conditional expressions and filters are allowed.
#include "jinja/template_parser.h"

#include "jinja/builtins.h"

namespace qwen3::jinja {

using T = Token::Type;

// Expressions separated by commas make a tuple. Stops at the end of a tag, ')' and the names
// in `extra_ends`.
ExprPtr Parser::parse_tuple(bool with_condexpr, bool explicit_parens, std::initializer_list<std::string_view> extra_ends) {
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

ExprPtr Parser::parse_expression(bool with_condexpr) {
  NestingGuard guard(*this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
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

ExprPtr Parser::parse_or() {
  ExprPtr left = parse_and();
  ChainGuard chain(*this);
  while (at_name("or")) {
    chain.link();
    const size_t pos = advance().pos;
    left = std::make_unique<BinaryExpr>(pos, BinaryExpr::Op::Or, std::move(left), parse_and());
  }
  return left;
}

ExprPtr Parser::parse_and() {
  ExprPtr left = parse_not();
  ChainGuard chain(*this);
  while (at_name("and")) {
    chain.link();
    const size_t pos = advance().pos;
    left = std::make_unique<BinaryExpr>(pos, BinaryExpr::Op::And, std::move(left), parse_not());
  }
  return left;
}

ExprPtr Parser::parse_not() {
  NestingGuard guard(*this);
  if (at_name("not")) {
    const size_t pos = advance().pos;
    return std::make_unique<UnaryExpr>(pos, UnaryExpr::Op::Not, parse_not());
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
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

ExprPtr Parser::parse_math1() {
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

ExprPtr Parser::parse_concat() {
  ExprPtr left = parse_math2();
  ChainGuard chain(*this);
  while (at_op("~")) {
    chain.link();
    const size_t pos = advance().pos;
    left = std::make_unique<BinaryExpr>(pos, BinaryExpr::Op::Concat, std::move(left), parse_math2());
  }
  return left;
}

ExprPtr Parser::parse_math2() {
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

// Left-associative, as in Jinja2: 2 ** 3 ** 2 == 64.
ExprPtr Parser::parse_pow() {
  ExprPtr left = parse_unary(true);
  ChainGuard chain(*this);
  while (at_op("**")) {
    chain.link();
    const size_t pos = advance().pos;
    left = std::make_unique<BinaryExpr>(pos, BinaryExpr::Op::Pow, std::move(left), parse_unary(true));
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
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

ExprPtr Parser::parse_primary() {
  const Token& tok = cur();
  switch (tok.type) {
    case T::Name: {
      advance();
      const std::string& n = tok.value;
      if (n == "true" || n == "True") return std::make_unique<LiteralExpr>(tok.pos, Value(true));
      if (n == "false" || n == "False") return std::make_unique<LiteralExpr>(tok.pos, Value(false));
      if (n == "none" || n == "None") return std::make_unique<LiteralExpr>(tok.pos, Value::none());
      if (!macros_.empty() && n == "varargs") macros_.back()->uses_varargs = true;
      if (!macros_.empty() && n == "caller") macros_.back()->uses_caller = true;
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

ExprPtr Parser::parse_postfix(ExprPtr node) {
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

ExprPtr Parser::parse_subscript(ExprPtr object) {
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

Arguments Parser::parse_call_args() {
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

ExprPtr Parser::parse_call(ExprPtr callee) {
  const size_t pos = callee->pos;  // errors point at the start of `f(...)`
  auto call = std::make_unique<CallExpr>(pos, std::move(callee));
  call->args = parse_call_args();
  return call;
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
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
ExprPtr Parser::parse_filters(ExprPtr node, bool just_one) {
  ChainGuard chain(*this);
  do {
    chain.link();
    const size_t pos = advance().pos;  // |
    node = parse_one_filter(std::move(node), pos);
  } while (!just_one && at_op("|"));
  return node;
}

ExprPtr Parser::parse_one_filter(ExprPtr operand, size_t pos) {
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

ExprPtr Parser::parse_test(ExprPtr operand) {
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

std::unique_ptr<TemplateAst> parse_template(std::string_view source, std::string name) {
  auto ast = std::make_unique<TemplateAst>();
  ast->name = std::move(name);
  ast->source = normalize_source(source);
  const std::vector<Token> tokens = lex(ast->source, ast->name);
  ast->body = Parser(tokens, *ast).parse_template();
  return ast;
}

}  // namespace qwen3::jinja
