// A small byte-level BPE tokenizer (tiny_tokenizer.json: the 256 byte tokens, 12 merges, added
// tokens with every flag) against ids from Hugging Face `tokenizers` 0.23.2 on the same file.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../source_tree.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace qwen3 {
namespace {

using nlohmann::json;

std::filesystem::path tiny_path() {
  return test::source_dir() / "tests/unit/tokenizer/tiny_tokenizer.json";
}

json tiny_json() {
  std::ifstream in(tiny_path());
  return json::parse(in);
}

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

// From Hugging Face. Its ids for the added tokens are 268.. (after the 268 vocabulary entries),
// not the 300.. written in the file: it assigns them in order when it reads the file, and so do we.
// "ñ" is already a vocabulary entry (the byte-level character of byte F1), so it keeps id 241.
const std::vector<Case> kCases = {
    {"the hello aaaa", {116, 257, 32, 257, 261, 111, 32, 259, 259}},
    {"hello hello", {257, 261, 111, 32, 257, 261, 111}},
    {"aaaaaaa", {259, 259, 260}},
    {" [L]x", {269, 120}},                 // lstrip swallows the space on the left
    {"x   [L]y", {120, 269, 121}},
    {"a[R]   b", {97, 270, 98}},            // rstrip swallows the spaces on the right
    {"a [L] [R] b", {97, 269, 32, 270, 98}},
    // single_word: "word" only where it is not inside a word.
    {"words word sword word_ word", {119, 111, 114, 100, 115, 32, 271, 32, 115, 119, 111, 114, 100, 32, 119, 111, 114, 100, 95, 32, 271}},
    // normalized: "n" + U+0303 is NFC "ñ", which matches the added token.
    {"n\u0303 \u00f1", {241, 32, 241}},
    {"<special>x <special>y", {272, 32, 268, 121}},  // leftmost-longest: "<special>x" wins
    {"h\u00e9llo", {104, 195, 169, 261, 111}},
    {"\u00e9", {195, 169}},
    {"[L][L]", {269, 269}},
    {"  [R][R]  ", {32, 32, 270, 270}},
};

TEST(TinyTokenizerTest, EncodesLikeHuggingFace) {
  const Tokenizer tok = Tokenizer::load(tiny_path());
  for (const Case& c : kCases) EXPECT_EQ(tok.encode(c.text), c.ids) << c.text;
  EXPECT_EQ(tok.vocab_size(), 273);
  EXPECT_EQ(tok.token_to_id("<special>"), 268);
  EXPECT_TRUE(tok.is_special(268));
  EXPECT_FALSE(tok.is_special(272));
}

TEST(TinyTokenizerTest, MergesAsPairsGiveTheSameIds) {
  json j = tiny_json();
  for (json& m : j["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    const size_t space = s.find(' ');
    m = json::array({s.substr(0, space), s.substr(space + 1)});
  }
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  for (const Case& c : kCases) EXPECT_EQ(tok.encode(c.text), c.ids) << c.text;
}

TEST(TinyTokenizerTest, DecodesLikeHuggingFace) {
  const Tokenizer tok = Tokenizer::load(tiny_path());
  // HF: decode([268, 272, 84, 258]) = "<special><special>xT the"; skipping specials drops 268 only.
  const std::vector<int32_t> ids = {268, 272, 84, 258};
  EXPECT_EQ(tok.decode(ids), "<special><special>xT the");
  EXPECT_EQ(tok.decode(ids, true), "<special>xT the");
  // The added token "ñ" decodes through the byte-level map to byte F1: invalid UTF-8.
  EXPECT_EQ(tok.decode(std::vector<int32_t>{241}), "\ufffd");
  // Hugging Face silently drops unknown ids; we refuse them.
  EXPECT_THROW(tok.decode(std::vector<int32_t>{273}), Error);
}

// The least-rank merge applies first, and among equal ranks the leftmost.
TEST(TinyTokenizerTest, MergesByRankThenLeftmost) {
  const Tokenizer tok = Tokenizer::load(tiny_path());
  // "aaa": (a,a) at 0 and 1 have the same rank; the leftmost merges -> "aa" "a" -> "aaa".
  EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{260}));
  // "hell": "h e"(1) before "l l"(5) -> he, ll; "he ll" is not a merge ("h ell" is).
  EXPECT_EQ(tok.encode("hell"), (std::vector<int32_t>{257, 261}));
}

std::string load_error(const json& j) {
  try {
    Tokenizer::from_json(j.dump(), "bad/tokenizer.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TinyTokenizerTest, RejectsMalformedFilesNamingFileAndField) {
  EXPECT_THROW(Tokenizer::load("/no/such/dir/tokenizer.json"), Error);
  try {
    Tokenizer::from_json("{\"model\": ", "bad/tokenizer.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad/tokenizer.json: not valid JSON"), std::string::npos) << e.what();
  }

  struct Bad {
    std::function<void(json&)> edit;
    std::string expected;  // in the message
  };
  const std::vector<Bad> bad = {
      {[](json& j) { j.erase("model"); }, "missing \"model\""},
      {[](json& j) { j["model"].erase("vocab"); }, "missing \"vocab\""},
      {[](json& j) { j["model"]["vocab"] = json::array(); }, "model.vocab"},
      {[](json& j) { j["model"]["vocab"]["x"] = -3; }, "model.vocab[\"x\"]"},
      {[](json& j) { j["model"]["vocab"]["dup"] = 5; }, "both have id 5"},
      // Ids are stored densely: one far past the vocabulary's size is refused instead of allocated.
      {[](json& j) { j["model"]["vocab"]["far"] = 100000000; }, "model.vocab[\"far\"]: id 100000000 is far past"},
      {[](json& j) { j["model"]["merges"][3] = "aa"; }, "model.merges[3]"},
      {[](json& j) { j["model"]["merges"][3] = "a b c"; }, "model.merges[3]"},
      {[](json& j) { j["model"]["merges"][0] = json::array({"x"}); }, "model.merges[0]"},
      {[](json& j) { j["model"]["merges"][1] = "\u00f1 zz"; }, "token \"zz\" is not in model.vocab"},
      {[](json& j) { j["model"]["type"] = "WordPiece"; }, "model.type"},
      {[](json& j) { j["model"]["byte_fallback"] = true; }, "model.byte_fallback"},
      {[](json& j) { j["added_tokens"][0].erase("content"); }, "added_tokens[0]: missing \"content\""},
      {[](json& j) { j["added_tokens"][1]["lstrip"] = "yes"; }, "added_tokens[1].lstrip"},
      {[](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }, "normalizer"},
      {[](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }, "pre_tokenizer"},
      {[](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }, "pre_tokenizer"},
      {[](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; }, "pattern"},
      {[](json& j) { j["decoder"] = nullptr; }, "decoder"},
      {[](json& j) { j["normalizer"] = {{"type", 5}}; }, "unexpected structure"},
  };
  for (const Bad& b : bad) {
    json j = tiny_json();
    b.edit(j);
    const std::string message = load_error(j);
    EXPECT_NE(message.find("bad/tokenizer.json: "), std::string::npos) << message;
    EXPECT_NE(message.find(b.expected), std::string::npos) << "expected \"" << b.expected << "\" in: " << message;
  }
}

TEST(TinyTokenizerTest, AcceptsVersionHeaderInMergesAndMissingNormalizer) {
  json j = tiny_json();
  j["model"]["merges"].insert(j["model"]["merges"].begin(), "#version: 0.2");
  j["normalizer"] = nullptr;
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  EXPECT_EQ(tok.encode("hello"), (std::vector<int32_t>{257, 261, 111}));
  // Without NFC, "n" + U+0303 stays two characters and is not the added token.
  EXPECT_EQ(tok.encode("n\u0303"), (std::vector<int32_t>{110, 204, 131}));
}

}  // namespace
}  // namespace qwen3

namespace qwen3 {
namespace {

// post_processor TemplateProcessing (Qwen3-Embedding appends <|endoftext|>): encode() is Hugging
// Face's add_special_tokens=False and ignores it; encode_with_special_tokens() wraps the ids in the
// single template's special tokens. A template we cannot apply is an error naming the field.
TEST(TinyTokenizerTest, TemplateProcessingSingle) {
  json j = tiny_json();
  const Tokenizer plain = Tokenizer::from_json(j.dump());
  EXPECT_EQ(plain.encode_with_special_tokens("aaa"), (std::vector<int32_t>{260}));  // ByteLevel only: nothing added
  const json special = {{"SpecialToken", {{"id", "<special>"}, {"type_id", 0}}}};
  const json seq = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  j["post_processor"] = {{"type", "Sequence"},
                         {"processors", json::array({j["post_processor"],
                                                     {{"type", "TemplateProcessing"},
                                                      {"single", json::array({special, seq, special})},
                                                      {"special_tokens", {{"<special>", {{"id", "<special>"}, {"ids", {268}},
                                                                                          {"tokens", {"<special>"}}}}}}}})}};
  const Tokenizer tok = Tokenizer::from_json(j.dump());
  EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{260}));
  EXPECT_EQ(tok.encode_with_special_tokens("aaa"), (std::vector<int32_t>{268, 260, 268}));
  EXPECT_EQ(tok.encode_with_special_tokens(""), (std::vector<int32_t>{268, 268}));

  json no_ids = j;
  no_ids["post_processor"]["processors"][1]["special_tokens"] = json::object();
  EXPECT_NE(load_error(no_ids).find("post_processor.special_tokens: no ids for \"<special>\""), std::string::npos)
      << load_error(no_ids);
  json other = j;
  other["post_processor"] = {{"type", "BertProcessing"}};
  EXPECT_NE(load_error(other).find("post_processor"), std::string::npos) << load_error(other);
}

}  // namespace
}  // namespace qwen3
