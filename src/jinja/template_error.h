// The one error the template interpreter raises to its callers: a syntax error found by
// parse_template() or a runtime error raised by render_template(), including the template's own
// raise_exception(...). what() is "NAME:LINE:COLUMN: message".
#pragma once

#include <string>

#include "core/error.h"

namespace qwen3 {

class TemplateError : public Error {
 public:
  TemplateError(const std::string& what, int line, int column, bool raised_by_template)
      : Error(what), line_(line), column_(column), raised_by_template_(raised_by_template) {}
  int line() const { return line_; }
  int column() const { return column_; }  // 1-based, in code points
  // True for raise_exception(...) called by the template: the input broke the template's rules
  // (e.g. roles that do not alternate), not the engine.
  bool raised_by_template() const { return raised_by_template_; }

 private:
  int line_, column_;
  bool raised_by_template_;
};

}  // namespace qwen3
