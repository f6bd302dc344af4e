// The parsed form of a Jinja template.
//
// Statements: text, {{ expr }}, if/elif/else, for (tuple targets, `if` filter, else, loop.*),
// set (name, tuple, namespace attribute, block set with filters), macro (default arguments,
// varargs, kwargs), filter blocks, with, break / continue (transformers loads loopcontrols),
// generation (transformers' AssistantTracker: renders its body), raw, comments, call blocks
// (`{% call(args) m() %}` with `caller()`), recursive loops, and the tags that name other
// templates (extends / block, include, import, from ... import), which the caller's loader
// resolves (template_render.h).
//
// Expressions, loosest binding first (as Jinja2's parser): `a if c else b`, or, and, not,
// comparisons (== != < <= > >= in, not in; chained), + -, ~, * / // %, **, unary - +, then
// filters `|f(args)` and tests `is [not] t(args)`, then postfix .attr [index] [a:b:c] (call).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/value.h"

namespace qwen3::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct Expr {
  enum class Kind { Literal, Name, List, Dict, GetAttr, GetItem, Slice, Call, Filter, Test, Unary, Binary, Compare, Cond };
  Kind kind;
  size_t pos;  // byte offset in the normalised source
  explicit Expr(Kind k, size_t p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
};

struct LiteralExpr : Expr {
  Value value;
  LiteralExpr(size_t p, Value v) : Expr(Kind::Literal, p), value(std::move(v)) {}
};

struct NameExpr : Expr {
  std::string name;
  NameExpr(size_t p, std::string n) : Expr(Kind::Name, p), name(std::move(n)) {}
};

struct ListExpr : Expr {  // [a, b] or (a, b)
  std::vector<ExprPtr> items;
  bool tuple;
  ListExpr(size_t p, bool t) : Expr(Kind::List, p), tuple(t) {}
};

struct DictExpr : Expr {
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
  explicit DictExpr(size_t p) : Expr(Kind::Dict, p) {}
};

struct GetAttrExpr : Expr {  // object.name
  ExprPtr object;
  std::string name;
  GetAttrExpr(size_t p, ExprPtr o, std::string n) : Expr(Kind::GetAttr, p), object(std::move(o)), name(std::move(n)) {}
};

struct GetItemExpr : Expr {  // object[index], object.0
  ExprPtr object, index;
  GetItemExpr(size_t p, ExprPtr o, ExprPtr i) : Expr(Kind::GetItem, p), object(std::move(o)), index(std::move(i)) {}
};

struct SliceExpr : Expr {  // object[start:stop:step]; absent parts are null
  ExprPtr object, start, stop, step;
  explicit SliceExpr(size_t p) : Expr(Kind::Slice, p) {}
};

struct CallExpr : Expr {
  ExprPtr callee;
  Arguments args;
  CallExpr(size_t p, ExprPtr c) : Expr(Kind::Call, p), callee(std::move(c)) {}
};

// operand | name(args). The operand is null for the filters of `{% filter %}` and block `set`,
// which apply to the block's output.
struct FilterExpr : Expr {
  ExprPtr operand;
  std::string name;
  Arguments args;
  FilterExpr(size_t p, ExprPtr o, std::string n) : Expr(Kind::Filter, p), operand(std::move(o)), name(std::move(n)) {}
};

struct TestExpr : Expr {  // operand is [not] name(args)
  ExprPtr operand;
  std::string name;
  Arguments args;
  bool negated = false;
  TestExpr(size_t p, ExprPtr o, std::string n) : Expr(Kind::Test, p), operand(std::move(o)), name(std::move(n)) {}
};

struct UnaryExpr : Expr {
  enum class Op { Not, Neg, Pos };
  Op op;
  ExprPtr operand;
  UnaryExpr(size_t p, Op o, ExprPtr e) : Expr(Kind::Unary, p), op(o), operand(std::move(e)) {}
};

struct BinaryExpr : Expr {
  enum class Op { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Concat, And, Or };
  Op op;
  ExprPtr lhs, rhs;
  BinaryExpr(size_t p, Op o, ExprPtr l, ExprPtr r) : Expr(Kind::Binary, p), op(o), lhs(std::move(l)), rhs(std::move(r)) {}
};

struct CompareExpr : Expr {  // first op1 e1 op2 e2 ...: (first op1 e1) and (e1 op2 e2) ...
  enum class Op { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };
  ExprPtr first;
  std::vector<std::pair<Op, ExprPtr>> rest;
  CompareExpr(size_t p, ExprPtr f) : Expr(Kind::Compare, p), first(std::move(f)) {}
};

struct CondExpr : Expr {  // then if cond else otherwise; otherwise may be null (-> undefined)
  ExprPtr then, cond, otherwise;
  explicit CondExpr(size_t p) : Expr(Kind::Cond, p) {}
};

// What `set` and `for` assign to: one name, several names (tuple unpacking), or a namespace
// attribute (`ns.attr`, set only).
struct Target {
  std::vector<std::string> names;
  bool tuple = false;
  std::string attribute;  // non-empty: names[0].attribute
};

struct Stmt {
  enum class Kind {
    Text, Output, If, For, Set, SetBlock, Macro, FilterBlock, With, Break, Continue,
    CallBlock, Include, Import, FromImport, Extends, Block,
  };
  Kind kind;
  size_t pos;
  explicit Stmt(Kind k, size_t p) : kind(k), pos(p) {}
  virtual ~Stmt() = default;
};

struct TextStmt : Stmt {
  std::string text;
  TextStmt(size_t p, std::string t) : Stmt(Kind::Text, p), text(std::move(t)) {}
};

struct OutputStmt : Stmt {
  ExprPtr expr;
  OutputStmt(size_t p, ExprPtr e) : Stmt(Kind::Output, p), expr(std::move(e)) {}
};

struct IfStmt : Stmt {
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body otherwise;
  explicit IfStmt(size_t p) : Stmt(Kind::If, p) {}
};

struct ForStmt : Stmt {
  Target target;
  ExprPtr iter;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  bool recursive = false;  // `for x in xs recursive`: loop(children) renders the body again, one level deeper
  Body body, otherwise;
  explicit ForStmt(size_t p) : Stmt(Kind::For, p) {}
};

struct SetStmt : Stmt {
  Target target;
  ExprPtr value;
  explicit SetStmt(size_t p) : Stmt(Kind::Set, p) {}
};

struct SetBlockStmt : Stmt {  // {% set x | filters %}body{% endset %}
  Target target;
  ExprPtr filter;  // a FilterExpr chain whose innermost operand is null; may be null
  Body body;
  explicit SetBlockStmt(size_t p) : Stmt(Kind::SetBlock, p) {}
};

struct MacroStmt : Stmt {
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // default expression or null
  bool uses_varargs = false, uses_kwargs = false, uses_caller = false;
  Body body;
  explicit MacroStmt(size_t p) : Stmt(Kind::Macro, p) {}
};

// {% call(params) callee(args) %}body{% endcall %}: calls `call` with the keyword argument
// `caller`, a macro named "caller" whose parameters and body are the block's.
struct CallBlockStmt : Stmt {
  ExprPtr call;  // a CallExpr
  MacroStmt caller;
  explicit CallBlockStmt(size_t p) : Stmt(Kind::CallBlock, p), caller(p) { caller.name = "caller"; }
};

// {% include name [ignore missing] [with context | without context] %}; name may evaluate to a
// list of names (the first that exists is used).
struct IncludeStmt : Stmt {
  ExprPtr name;
  bool ignore_missing = false;
  bool with_context = true;
  explicit IncludeStmt(size_t p) : Stmt(Kind::Include, p) {}
};

// {% import name as target [with context] %}: the template's exported names (top-level macros and
// sets, not those starting with '_') as one object.
struct ImportStmt : Stmt {
  ExprPtr name;
  std::string target;
  bool with_context = false;
  explicit ImportStmt(size_t p) : Stmt(Kind::Import, p) {}
};

// {% from name import a, b as c [with context] %}
struct FromImportStmt : Stmt {
  ExprPtr name;
  std::vector<std::pair<std::string, std::string>> names;  // exported name, local name
  bool with_context = false;
  explicit FromImportStmt(size_t p) : Stmt(Kind::FromImport, p) {}
};

struct ExtendsStmt : Stmt {  // {% extends name %}
  ExprPtr name;
  explicit ExtendsStmt(size_t p) : Stmt(Kind::Extends, p) {}
};

// {% block name [scoped] [required] %}body{% endblock %}: renders the most derived template's
// block of that name; `super()` inside renders the next one up.
struct BlockStmt : Stmt {
  std::string name;
  bool scoped = false;    // sees the variables of the scope it is in (else only the template's)
  bool required = false;  // must be overridden by a template that extends this one
  Body body;
  explicit BlockStmt(size_t p) : Stmt(Kind::Block, p) {}
};

struct FilterBlockStmt : Stmt {  // {% filter upper | trim %}body{% endfilter %}
  ExprPtr filter;                // a FilterExpr chain whose innermost operand is null
  Body body;
  explicit FilterBlockStmt(size_t p) : Stmt(Kind::FilterBlock, p) {}
};

struct WithStmt : Stmt {
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
  explicit WithStmt(size_t p) : Stmt(Kind::With, p) {}
};

struct LoopControlStmt : Stmt {  // Break or Continue
  LoopControlStmt(size_t p, Kind k) : Stmt(k, p) {}
};

struct TemplateAst {
  std::string name;
  std::string source;  // normalised; positions refer to it
  Body body;
  std::vector<const BlockStmt*> blocks;  // every block of the template, at any depth; names unique
};

// Throws qwen3::TemplateError naming line and column.
std::unique_ptr<TemplateAst> parse_template(std::string_view source, std::string name);

}  // namespace qwen3::jinja
