#include "tokenizer/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace qwen3::utf8 {
namespace {

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

TEST(Utf8Test, Validates) {
  EXPECT_TRUE(is_valid(""));
  EXPECT_TRUE(is_valid("plain ascii text that is longer than eight bytes"));
  EXPECT_TRUE(is_valid("\u00e9\u4e2d\U0001f600\U0010ffff"));
  EXPECT_TRUE(is_valid(std::string("a\0b", 3)));
  EXPECT_FALSE(is_valid("\x80"));
  EXPECT_FALSE(is_valid("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(is_valid("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid("\xf5\x80\x80\x80"));
  EXPECT_FALSE(is_valid("abcdefgh\xe2\x82"));  // truncated after an ASCII block
}

// Expected strings are what Rust's String::from_utf8_lossy returns (the Unicode "maximal subpart"
// rule; Table 3-8 of the Unicode Standard is the first case).
TEST(Utf8Test, LossyReplacesMaximalSubparts) {
  EXPECT_EQ(lossy("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + R + R + R + "b" + R + "c" + R + R + "d");
  EXPECT_EQ(lossy("\xC0\xAF"), R + R);
  EXPECT_EQ(lossy("\xE0\x80\xAF"), R + R + R);
  EXPECT_EQ(lossy("\xED\xA0\x80"), R + R + R);
  EXPECT_EQ(lossy("\xF4\x90\x80\x80"), R + R + R + R);
  EXPECT_EQ(lossy("\xE2\x82"), R);          // incomplete at the end: one U+FFFD
  EXPECT_EQ(lossy("\xE2\x82" "A"), R + "A");  // broken by 'A'
  EXPECT_EQ(lossy("\xF0\x9F\x98"), R);
  EXPECT_EQ(lossy("\xF0\x9F\x98\x80"), "\U0001f600");
  EXPECT_EQ(lossy("\xFF\xFE"), R + R);
  EXPECT_EQ(lossy("ok \u00e9"), "ok \u00e9");
}

TEST(Utf8Test, StreamingKeepsOnlyAnIncompleteTail) {
  std::string out;
  EXPECT_EQ(append_lossy("ab\xE2\x82", out, /*final=*/false), 2u);
  EXPECT_EQ(out, "ab");
  out.clear();
  EXPECT_EQ(append_lossy("\xE2\x82\xAC", out, false), 3u);
  EXPECT_EQ(out, "\u20ac");
  out.clear();
  // Known to be invalid already: nothing is held back.
  EXPECT_EQ(append_lossy("x\xE2" "A", out, false), 3u);
  EXPECT_EQ(out, "x" + R + "A");
  out.clear();
  EXPECT_EQ(append_lossy("\xF0", out, false), 0u);
  EXPECT_EQ(out, "");
  EXPECT_EQ(append_lossy("\xF0", out, true), 1u);
  EXPECT_EQ(out, R);
}

TEST(Utf8Test, DecodesCodePoints) {
  const std::string s = "a\u00e9\u4e2d\U0001f600";
  size_t i = 0;
  EXPECT_EQ(next(s, i), U'a');
  EXPECT_EQ(next(s, i), U'\u00e9');
  EXPECT_EQ(next(s, i), U'\u4e2d');
  EXPECT_EQ(next(s, i), U'\U0001f600');
  EXPECT_EQ(i, s.size());
  EXPECT_EQ(prev(s, i), U'\U0001f600');
  EXPECT_EQ(prev(s, i), U'\u4e2d');
  std::string out;
  for (char32_t c : {U'a', U'\u00e9', U'\u4e2d', U'\U0001f600'}) append(out, c);
  EXPECT_EQ(out, s);
}

}  // namespace
}  // namespace qwen3::utf8
