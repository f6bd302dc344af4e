// The parser's class, shared by its two halves: template_parser_statements.cpp (tags) and
// template_parser.cpp (expressions). Internal to the interpreter.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "jinja/template_ast.h"
#include "jinja/template_lexer.h"

namespace qwen3::jinja {

// Deepest nesting of expressions and of blocks: deeper templates are refused rather than let to
// exhaust the stack (the parser and the renderer recurse along the nesting).
constexpr int kMaxParseNesting = 300;

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, TemplateAst& ast) : t_(tokens), ast_(ast) {}

  Body parse_template() {
    std::string found;
    Body body = parse_until({}, nullptr, 0, found);
    return body;
  }

 private:
  using T = Token::Type;

  struct NestingGuard {
    Parser& p;
    explicit NestingGuard(Parser& parser) : p(parser) {
      if (++p.nesting_ > kMaxParseNesting) p.error(p.cur().pos, fmt::format("nested more than {} levels deep", kMaxParseNesting));
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
      if (++p.nesting_ > kMaxParseNesting) p.error(p.cur().pos, fmt::format("nested more than {} levels deep", kMaxParseNesting));
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

  // --- statements (template_parser_statements.cpp) ---

  // Parses template data and statements up to a block tag named in `ends` (which is consumed
  // with its name: the caller reads the rest of that tag) and sets `found` to that name. With no
  // `ends`, parses to the end of the template. `opener` names the enclosing block for messages.
  Body parse_until(std::initializer_list<std::string_view> ends, const char* opener, size_t opener_pos,
                   std::string& found);
  // At the tag name, after '{%'.
  StmtPtr parse_statement(size_t pos);
  StmtPtr parse_if(size_t pos);
  StmtPtr parse_for(size_t pos);
  StmtPtr parse_set(size_t pos);
  StmtPtr parse_macro(size_t pos);
  StmtPtr parse_filter_block(size_t pos);
  // `with` and transformers' `generation` (a call block: a scope of its own, output unchanged).
  StmtPtr parse_with(size_t pos);
  // name | a, b | (a, b) | ns.attr (with_namespace)
  Target parse_target(bool with_namespace);
  void parse_signature(MacroStmt& macro);
  Body parse_macro_body(MacroStmt& macro, const char* tag, const char* end_tag, size_t pos);
  StmtPtr parse_call_block(size_t pos);
  bool parse_import_context(bool& with_context);
  StmtPtr parse_include(size_t pos);
  StmtPtr parse_import(size_t pos);
  StmtPtr parse_from_import(size_t pos);
  StmtPtr parse_block(size_t pos);

  // --- expressions (template_parser.cpp) ---

  // Expressions separated by commas make a tuple. Stops at the end of a tag, ')' and the names
  // in `extra_ends`.
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens, std::initializer_list<std::string_view> extra_ends);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr object);
  Arguments parse_call_args();
  ExprPtr parse_call(ExprPtr callee);
  ExprPtr parse_filter_expr(ExprPtr node);
  // One or more `| name(args)`.
  ExprPtr parse_filters(ExprPtr node, bool just_one = false);
  ExprPtr parse_one_filter(ExprPtr operand, size_t pos);
  ExprPtr parse_test(ExprPtr operand);

  const std::vector<Token>& t_;
  TemplateAst& ast_;
  size_t i_ = 0;
  std::vector<MacroStmt*> macros_;  // the macros being parsed, innermost last
  int loop_depth_ = 0;
  int nesting_ = 0;
};

}  // namespace qwen3::jinja
