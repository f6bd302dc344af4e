// The Split pre-tokenizer of tokenizer.json (behavior "Isolated", invert false): the text is cut
// into the matches of one regex and the gaps between them, in order, dropping empty pieces.
//
// Hugging Face runs the pattern with Oniguruma; we run it with PCRE2 (UTF + UCP, JIT). The two
// agree on the constructs Qwen's pattern uses except
//   - `\s`: PCRE2's includes U+180E (Mongolian vowel separator, Cf since Unicode 6.3), Oniguruma's
//     is exactly Unicode White_Space (which has U+0085 and not U+180E or U+FEFF);
//   - `\p{L}`, `\p{N}`: Oniguruma in tokenizers 0.23 has Unicode 16.0 data, PCRE2 10.42 has 14.0.
// So `\s` and `\S` are rewritten into explicit classes, and `\p{L}`, `\p{N}` get the letters and
// numbers of Unicode 15.0 and 16.0 added. Over every code point in several contexts the split then
// equals Hugging Face's (tests/tokenizer/README.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

// Rewrites an Oniguruma pattern into a PCRE2 pattern with the same meaning (see above). Throws
// qwen3::Error on a construct it cannot translate (`\S` inside a character class).
std::string oniguruma_to_pcre2(std::string_view pattern);

class RegexSplitter {
 public:
  // `pattern` is in Oniguruma syntax, as found in tokenizer.json. Throws qwen3::Error when it does
  // not compile.
  explicit RegexSplitter(std::string_view pattern);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&& other) noexcept;
  RegexSplitter& operator=(RegexSplitter&& other) noexcept;
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the non-empty pieces of `text` to `pieces` (views into `text`). Precondition: `text`
  // is valid UTF-8 (it is not re-checked: PCRE2 would otherwise validate the whole subject on
  // every match call, which is quadratic). Thread-safe.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace qwen3
