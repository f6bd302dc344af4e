// Tags: the statements of Jinja2's parser (jinja2/parser.py, parse_* of each tag).
#include "jinja/template_parser.h"

#include <fmt/format.h>

namespace qwen3::jinja {

using T = Token::Type;

// Parses template data and statements up to a block tag named in `ends` (which is consumed
// with its name: the caller reads the rest of that tag) and sets `found` to that name. With no
// `ends`, parses to the end of the template. `opener` names the enclosing block for messages.
Body Parser::parse_until(std::initializer_list<std::string_view> ends, const char* opener, size_t opener_pos,
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
StmtPtr Parser::parse_statement(size_t pos) {
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
  if (n == "call") return parse_call_block(pos);
  if (n == "include") return parse_include(pos);
  if (n == "import") return parse_import(pos);
  if (n == "from") return parse_from_import(pos);
  if (n == "extends") {
    auto stmt = std::make_unique<ExtendsStmt>(pos);
    advance();
    stmt->name = parse_expression(true);
    expect_block_end();
    return stmt;
  }
  if (n == "block") return parse_block(pos);
  static constexpr std::string_view unsupported[] = {"do", "autoescape"};
  for (std::string_view u : unsupported) {
    if (n == u) error(name.pos, fmt::format("the '{}' tag is not supported", n));
  }
  if (n.rfind("end", 0) == 0 || n == "elif" || n == "else") error(name.pos, fmt::format("unexpected '{}'", n));
  error(name.pos, fmt::format("unknown tag '{}'", n));
}

StmtPtr Parser::parse_if(size_t pos) {
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

StmtPtr Parser::parse_for(size_t pos) {
  auto stmt = std::make_unique<ForStmt>(pos);
  advance();  // for
  stmt->target = parse_target(false);
  if (!skip_name("in")) unexpected("'in'");
  stmt->iter = parse_tuple(false, false, {"recursive"});
  if (skip_name("if")) stmt->filter = parse_expression(true);
  stmt->recursive = skip_name("recursive");
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

StmtPtr Parser::parse_set(size_t pos) {
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

StmtPtr Parser::parse_macro(size_t pos) {
  auto stmt = std::make_unique<MacroStmt>(pos);
  advance();  // macro
  stmt->name = expect_name();
  parse_signature(*stmt);
  expect_block_end();
  stmt->body = parse_macro_body(*stmt, "macro", "endmacro", pos);
  if (cur().type == T::Name) advance();  // {% endmacro name %}
  expect_block_end();
  return stmt;
}

StmtPtr Parser::parse_filter_block(size_t pos) {
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
StmtPtr Parser::parse_with(size_t pos) {
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
Target Parser::parse_target(bool with_namespace) {
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

// The parameters of a macro or a call block, after its name: `(a, b=1)`.
void Parser::parse_signature(MacroStmt& macro) {
  expect_op("(");
  while (!at_op(")")) {
    if (!macro.params.empty()) expect_op(",");
    if (at_op(")")) break;
    const size_t param_pos = cur().pos;
    std::string param = expect_name();
    ExprPtr def;
    if (skip_op("=")) {
      def = parse_expression(true);
    } else if (!macro.params.empty() && macro.params.back().second) {
      error(param_pos, "non-default argument follows default argument");
    }
    macro.params.emplace_back(std::move(param), std::move(def));
  }
  advance();  // )
}

// A macro's body (or a call block's): `varargs`, `kwargs` and `caller` in it are its own, and
// break / continue cannot reach a loop outside it.
Body Parser::parse_macro_body(MacroStmt& macro, const char* tag, const char* end_tag, size_t pos) {
  macros_.push_back(&macro);
  const int saved = loop_depth_;
  loop_depth_ = 0;
  std::string found;
  Body body = parse_until({end_tag}, tag, pos, found);
  loop_depth_ = saved;
  macros_.pop_back();
  return body;
}

// {% call(params) callee(args) %}body{% endcall %}
StmtPtr Parser::parse_call_block(size_t pos) {
  auto stmt = std::make_unique<CallBlockStmt>(pos);
  advance();  // call
  if (at_op("(")) parse_signature(stmt->caller);
  const size_t call_pos = cur().pos;
  stmt->call = parse_expression(true);
  if (stmt->call->kind != Expr::Kind::Call) error(call_pos, "expected call");
  expect_block_end();
  stmt->caller.body = parse_macro_body(stmt->caller, "call", "endcall", pos);
  expect_block_end();
  return stmt;
}

// `with context` / `without context` at the end of include, import and from-import.
bool Parser::parse_import_context(bool& with_context) {
  if ((at_name("with") || at_name("without")) && peek().type == T::Name && peek().value == "context") {
    with_context = advance().value == "with";
    advance();  // context
    return true;
  }
  return false;
}

StmtPtr Parser::parse_include(size_t pos) {
  auto stmt = std::make_unique<IncludeStmt>(pos);
  advance();  // include
  stmt->name = parse_expression(true);
  if (at_name("ignore") && peek().type == T::Name && peek().value == "missing") {
    stmt->ignore_missing = true;
    i_ += 2;
  }
  parse_import_context(stmt->with_context);
  expect_block_end();
  return stmt;
}

StmtPtr Parser::parse_import(size_t pos) {
  auto stmt = std::make_unique<ImportStmt>(pos);
  advance();  // import
  stmt->name = parse_expression(true);
  if (!skip_name("as")) unexpected("'as'");
  stmt->target = expect_name();
  parse_import_context(stmt->with_context);
  expect_block_end();
  return stmt;
}

StmtPtr Parser::parse_from_import(size_t pos) {
  auto stmt = std::make_unique<FromImportStmt>(pos);
  advance();  // from
  stmt->name = parse_expression(true);
  if (!skip_name("import")) unexpected("'import'");
  while (true) {
    if (!stmt->names.empty()) expect_op(",");
    if (cur().type != T::Name) unexpected("a name");
    if (parse_import_context(stmt->with_context)) break;
    const size_t name_pos = cur().pos;
    std::string name = expect_name();
    if (name[0] == '_') error(name_pos, "names starting with an underline can not be imported");
    std::string alias = skip_name("as") ? expect_name() : name;
    stmt->names.emplace_back(std::move(name), std::move(alias));
    if (parse_import_context(stmt->with_context) || !at_op(",")) break;
  }
  expect_block_end();
  return stmt;
}

StmtPtr Parser::parse_block(size_t pos) {
  auto stmt = std::make_unique<BlockStmt>(pos);
  advance();  // block
  stmt->name = expect_name();
  if (at_op("-")) {
    error(cur().pos, "Block names in Jinja have to be valid Python identifiers and may not contain hyphens, use an underscore instead.");
  }
  stmt->scoped = skip_name("scoped");
  stmt->required = skip_name("required");
  expect_block_end();
  for (const BlockStmt* b : ast_.blocks) {
    if (b->name == stmt->name) error(pos, fmt::format("block '{}' defined twice", stmt->name));
  }
  ast_.blocks.push_back(stmt.get());
  // A block is rendered on its own (from the template that overrides it, or by super()): break
  // and continue cannot reach a loop around it.
  const int saved = loop_depth_;
  loop_depth_ = 0;
  std::string found;
  stmt->body = parse_until({"endblock"}, "block", pos, found);
  loop_depth_ = saved;
  if (stmt->required) {
    for (const StmtPtr& b : stmt->body) {
      const bool blank = b->kind == Stmt::Kind::Text &&
                         static_cast<const TextStmt&>(*b).text.find_first_not_of(" \t\r\n") == std::string::npos;
      if (!blank) error(b->pos, "Required blocks can only contain comments or whitespace");
    }
  }
  if (at_name(stmt->name)) advance();  // {% endblock name %}
  expect_block_end();
  return stmt;
}

}  // namespace qwen3::jinja
