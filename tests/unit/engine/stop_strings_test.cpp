#include <gtest/gtest.h>

#include <random>

#include "engine/stop_strings.h"

namespace qwen3::engine {
namespace {

TEST(StopStrings, MatchAcrossPieces) {
  StopMatcher m({"lo W"});
  std::string out = m.feed("Hel");
  out += m.feed("lo");
  EXPECT_EQ(out, "Hel");  // "lo" is held back: it may start the stop string
  out += m.feed(" World");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(out, "Hel");
  EXPECT_EQ(m.feed("more"), "");
  EXPECT_EQ(m.finish(), "");
}

TEST(StopStrings, HeldBackTextIsReleased) {
  StopMatcher m({"abc"});
  EXPECT_EQ(m.feed("xa"), "x");
  EXPECT_EQ(m.feed("b"), "");
  EXPECT_EQ(m.feed("d"), "abd");
  EXPECT_EQ(m.feed("ab"), "");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.finish(), "ab");
}

TEST(StopStrings, EarliestOfSeveralWinsAndMultibyte) {
  StopMatcher m({"world", "é!", "o w"});
  std::string out = m.feed("hell");
  out += m.feed("o wé!");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(out, "hell");
  StopMatcher u({"é!"});
  EXPECT_EQ(u.feed("caf\xc3\xa9"), "caf");
  EXPECT_EQ(u.feed("?"), "\xc3\xa9?");
}

// Any split of a text gives what one search of the whole text gives.
TEST(StopStrings, AnySplitEqualsWholeTextSearch) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab c";
  for (int iter = 0; iter < 2000; ++iter) {
    std::string text;
    for (int i = 0; i < 30; ++i) text += alphabet[rng() % alphabet.size()];
    std::vector<std::string> stops;
    for (int k = 0; k < 2; ++k) {
      std::string s;
      for (int i = 0, n = 1 + int(rng() % 4); i < n; ++i) s += alphabet[rng() % alphabet.size()];
      stops.push_back(s);
    }
    size_t first = std::string::npos;
    for (auto& s : stops) first = std::min(first, text.find(s));
    const std::string expect = first == std::string::npos ? text : text.substr(0, first);
    StopMatcher m(stops);
    std::string out;
    for (size_t i = 0; i < text.size();) {
      const size_t n = 1 + rng() % 5;
      out += m.feed(std::string_view(text).substr(i, n));
      i += n;
    }
    out += m.finish();
    ASSERT_EQ(out, expect) << text << " stops [" << stops[0] << "] [" << stops[1] << "]";
    ASSERT_EQ(m.stopped(), first != std::string::npos);
  }
}

}  // namespace
}  // namespace qwen3::engine
