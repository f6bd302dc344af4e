#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/normalizer.h"

namespace qwen3 {
namespace {

// Qwen2/Qwen3's pattern, as in tokenizer.json.
const std::string kQwenPattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::vector<std::string> split(const RegexSplitter& r, std::string_view text) {
  std::vector<std::string_view> pieces;
  r.split(text, pieces);
  return {pieces.begin(), pieces.end()};
}

TEST(PreTokenizerTest, RewritesWhitespaceClasses) {
  const std::string ws =
      "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
  EXPECT_EQ(oniguruma_to_pcre2("a\\sb"), "a[" + ws + "]b");
  EXPECT_EQ(oniguruma_to_pcre2("\\S+"), "[^" + ws + "]+");
  EXPECT_EQ(oniguruma_to_pcre2("[^\\s\\d]"), "[^" + ws + "\\d]");
  // \p{L} and \p{N} gain the letters and numbers of Unicode 15 and 16, inside or outside a class.
  EXPECT_TRUE(oniguruma_to_pcre2("\\p{N}").starts_with("[\\p{N}\\x{10D40}-\\x{10D49}"));
  EXPECT_TRUE(oniguruma_to_pcre2("[^\\p{L}]").starts_with("[^\\p{L}\\x{1C89}-\\x{1C8A}"));
  EXPECT_EQ(oniguruma_to_pcre2("\\p{Lu}"), "\\p{Lu}");
  EXPECT_EQ(oniguruma_to_pcre2("[]\\s]"), "[]" + ws + "]");
  EXPECT_EQ(oniguruma_to_pcre2("\\\\s"), "\\\\s");  // an escaped backslash, then 's'
  EXPECT_EQ(oniguruma_to_pcre2("[[:alpha:]\\s]"), "[[:alpha:]" + ws + "]");
  EXPECT_THROW(oniguruma_to_pcre2("[\\S]"), Error);
}

// Pieces as Hugging Face's pre-tokenizer gives them (preTokenizeString in the Node binding).
TEST(PreTokenizerTest, SplitsLikeHuggingFace) {
  const RegexSplitter r(kQwenPattern);
  using V = std::vector<std::string>;
  EXPECT_EQ(split(r, "Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split(r, "a \u0085\u0085 b"), (V{"a", " \u0085\u0085", " b"}));
  EXPECT_EQ(split(r, "x\u180e\u180ey"), (V{"x", "\u180e\u180e", "y"}));  // U+180E is not \s
  EXPECT_EQ(split(r, "x \u180e y"), (V{"x", " \u180e", " y"}));
  EXPECT_EQ(split(r, "x\ufeff\ufeffy"), (V{"x", "\ufeff\ufeff", "y"}));  // nor is U+FEFF
  EXPECT_EQ(split(r, "x\u2028\u2028y"), (V{"x", "\u2028", "\u2028y"}));  // U+2028 is
  EXPECT_EQ(split(r, "it'\u017fx IT'S"), (V{"it", "'\u017f", "x", " IT", "'S"}));
  EXPECT_EQ(split(r, "  \n\n  x"), (V{"  \n\n", " ", " x"}));
  EXPECT_EQ(split(r, "123"), (V{"1", "2", "3"}));
  // Unicode 15/16 letters and numbers that PCRE2 10.42 does not know: CJK Extension H is a letter,
  // a Kaktovik numeral a number (Hugging Face: ["x𱍐y", " ", "𝋀", "1"]).
  EXPECT_EQ(split(r, "x\U00031350y \U0001d2c01"), (V{"x\U00031350y", " ", "\U0001d2c0", "1"}));
  EXPECT_EQ(split(r, ""), V{});
}

TEST(PreTokenizerTest, KeepsGapsAndHandlesEmptyMatches) {
  // Text the pattern does not match is a piece of its own ("Isolated" keeps both).
  EXPECT_EQ(split(RegexSplitter("[0-9]+"), "ab12cd3"), (std::vector<std::string>{"ab", "12", "cd", "3"}));
  // An empty match ends the gap before it (as in Hugging Face), and adds no piece.
  EXPECT_EQ(split(RegexSplitter("x*"), "abxxc"), (std::vector<std::string>{"a", "b", "xx", "c"}));
  EXPECT_THROW(RegexSplitter("(unclosed"), Error);
}

TEST(NormalizerTest, Nfc) {
  auto nfc = [](std::string_view s) {
    std::string out;
    normalize(Normalization::kNfc, s, out);
    return out;
  };
  EXPECT_EQ(nfc("Cafe\u0301"), "Caf\u00e9");
  EXPECT_EQ(nfc("\u212b"), "\u00c5");  // singleton
  EXPECT_EQ(nfc("\u1100\u1161\u11a8"), "\uac01");
  EXPECT_EQ(nfc("a\u0301\u0323"), "\u1ea1\u0301");  // reordered: dot below (220) before acute (230)
  EXPECT_EQ(nfc("\u0915\u093c"), "\u0915\u093c");  // composition exclusion stays decomposed
  // Characters newer than Hugging Face's Unicode 9.0 tables neither reorder nor compose
  // (Hugging Face: "a" U+1DF6 U+0323 stays; U+11935 U+11930 stays; U+07FD stays before U+0301).
  EXPECT_EQ(nfc("a\u1df6\u0323"), "a\u1df6\u0323");
  EXPECT_EQ(nfc("\U00011935\U00011930"), "\U00011935\U00011930");
  EXPECT_EQ(nfc("\u0301\u07fd"), "\u0301\u07fd");
  EXPECT_EQ(nfc("e\u0301\u07fde\u0301"), "\u00e9\u07fd\u00e9");  // each side still normalized
  EXPECT_EQ(nfc(std::string("a\0b", 3)), std::string("a\0b", 3));
  // Runs of 4-byte characters fill the composition buffer with UTF-8 exactly: utf8proc's NUL
  // terminator needs one more byte (it was written past the buffer; the tokenizer fuzzer found it,
  // ASan sees it at the lengths where the buffer's capacity is its size).
  for (int n = 1; n <= 64; ++n) {
    std::string emoji;
    for (int i = 0; i < n; ++i) emoji += "\U0001F600";
    EXPECT_EQ(nfc(emoji), emoji);
    EXPECT_EQ(nfc("\u00e9" + emoji + "e\u0301"), "\u00e9" + emoji + "\u00e9");
  }
  // A long run of marks is sorted without quadratic time (and stably: equal classes keep order).
  std::string marks = "a";
  for (int i = 0; i < 20000; ++i) marks += "\u0301\u0323";
  const std::string n = nfc(marks);
  EXPECT_EQ(n.substr(0, 3), "\u1ea1");  // a + dot below composes; the acutes follow
  std::string out;
  normalize(Normalization::kNone, "e\u0301", out);
  EXPECT_EQ(out, "e\u0301");
}

}  // namespace
}  // namespace qwen3
