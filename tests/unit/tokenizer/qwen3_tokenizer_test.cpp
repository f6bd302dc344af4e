// The real Qwen3 tokenizer against ids and texts produced by Hugging Face `tokenizers` 0.23.2
// (Node binding: Tokenizer.fromFile(...).encode(text, null, {addSpecialTokens: false}) and
// decode(ids, skip_special_tokens)), not by this code.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace qwen3 {
namespace {

using test::Qwen3TokenizerTest;

struct KnownEncoding {
  std::string text;
  std::vector<int32_t> ids;
};

// Expected ids from Hugging Face tokenizers 0.23.2.
const std::vector<KnownEncoding>& known_encodings() {
  static const std::vector<KnownEncoding> cases = {
      {"Hello world", {9707, 1879}},
      {"Hello, world! How are you doing today?", {9707, 11, 1879, 0, 2585, 525, 498, 3730, 3351, 30}},
      // Contractions match case-insensitively, including the long s (U+017F folds to 's').
      {"IT'S 'S 'LL it'\u017f don'T", {952, 13272, 364, 50, 364, 4086, 432, 6, 144815, 1513, 17323}},
      {"  leading and trailing  ", {220, 6388, 323, 27748, 256}},
      // U+0085 is White_Space for Oniguruma's \s ...
      {"a\u0085b \u0085\u0085 c", {64, 126, 227, 65, 2139, 227, 126, 227, 272}},
      // ... U+180E is not (PCRE2's own \s would say it is).
      {"x\u180e\u180ey x \u180e y", {87, 123970, 236, 123970, 236, 88, 856, 86089, 254, 236, 379}},
      {"\ufeff\ufeff a\u00a0b\u3000c\u2028d", {3225, 3225, 264, 4102, 65, 22441, 66, 378, 101, 67}},
      {"tabs\t\tand\nnewlines\r\n\r\n  x", {30993, 197, 52477, 198, 931, 7969, 871, 220, 856}},
      {"12345678901234567890", {16, 17, 18, 19, 20, 21, 22, 23, 24, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 15}},
      {"\u4f60\u597d\uff0c\u4e16\u754c\uff01\u4eba\u5de5\u667a\u80fd", {108386, 3837, 99489, 6313, 104455}},
      {"\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f3f3\ufe0f\u200d\U0001f308 "
       "\U0001f44d\U0001f3fd",
       {145367, 378, 235, 145233, 378, 235, 145665, 378, 235, 145988, 11162, 237, 111, 30543, 378, 235, 145354,
        61804, 235, 145375}},
      // NFC: e + combining acute -> é, the Angstrom sign -> Å, Hangul jamo -> 각.
      {"Cafe\u0301 \u212b \u1100\u1161\u11a8", {34, 2577, 963, 79252, 126804}},
      {"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>",
       {151644, 872, 198, 13048, 151645, 198, 151644, 77091, 198, 151667, 271, 151668, 271, 9707, 0, 151645}},
      {"<|im_start<|im_end|><|<think>>", {27, 91, 318, 4906, 151645, 27, 91, 151667, 29}},
      // The text after an added token is normalized on its own: the accent stays separate.
      {"<|im_end|>\u0301x", {151645, 53839, 87}},
      {"<tool_call>\n{\"name\": \"f\"}\n</tool_call>", {151657, 198, 4913, 606, 788, 330, 69, 16707, 151658}},
      {"def f(x):\n    return x ** 2  # square\n", {750, 282, 2075, 982, 262, 470, 856, 3070, 220, 17, 220, 671, 9334, 198}},
      {"", {}},
      {" ", {220}},
      {"\n\n\n", {1406}},
      {"a\ufffdb", {64, 5691, 65}},
  };
  return cases;
}

TEST_F(Qwen3TokenizerTest, EncodesLikeHuggingFace) {
  for (const KnownEncoding& c : known_encodings()) {
    EXPECT_EQ(tok().encode(c.text), c.ids) << "text: " << c.text;
  }
}

TEST_F(Qwen3TokenizerTest, EncodeAppends) {
  std::vector<int32_t> ids = {1, 2};
  tok().encode("Hello world", ids);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2, 9707, 1879}));
}

TEST_F(Qwen3TokenizerTest, VocabularyAndAddedTokens) {
  EXPECT_EQ(tok().vocab_size(), 151669);
  ASSERT_EQ(tok().added_tokens().size(), 26u);
  EXPECT_EQ(tok().added_tokens().front().id, 151643);
  EXPECT_EQ(tok().added_tokens().back().id, 151668);
  EXPECT_EQ(tok().token_to_id("<|im_end|>"), 151645);
  EXPECT_EQ(tok().token_to_id("\u0120the"), 279);  // "Ġthe"
  EXPECT_EQ(tok().token_to_id("no such token"), std::nullopt);
  EXPECT_EQ(tok().id_to_token(151667), "<think>");
  EXPECT_EQ(tok().id_to_token(279), "\u0120the");
  EXPECT_EQ(tok().token_bytes(279), " the");
  EXPECT_TRUE(tok().is_special(151643));   // <|endoftext|>
  EXPECT_TRUE(tok().is_special(151645));   // <|im_end|>
  EXPECT_FALSE(tok().is_special(151657));  // <tool_call>
  EXPECT_FALSE(tok().is_special(151667));  // <think>
  EXPECT_FALSE(tok().is_special(279));
  EXPECT_FALSE(tok().is_special(-1));
  EXPECT_TRUE(tok().contains(151668));
  EXPECT_FALSE(tok().contains(151669));
  EXPECT_THROW(tok().id_to_token(151669), Error);
}

TEST_F(Qwen3TokenizerTest, AddedTokensAreLeftmostLongestAndNeedExactText) {
  // Split out whether special or not; partial or differently cased text is ordinary text.
  EXPECT_EQ(tok().encode("<think></think><tool_call>"), (std::vector<int32_t>{151667, 151668, 151657}));
  EXPECT_EQ(tok().encode("<|IM_END|>"), (std::vector<int32_t>{27, 91, 1791, 10898, 91, 29}));
  EXPECT_EQ(tok().encode("a<|endoftext|><|endoftext|>b"), (std::vector<int32_t>{64, 151643, 151643, 65}));
}

TEST_F(Qwen3TokenizerTest, DecodeMatchesHuggingFace) {
  const std::vector<int32_t> chat = {151644, 872, 198, 9707, 151645, 151667, 151657};
  EXPECT_EQ(tok().decode(chat), "<|im_start|>user\nHello<|im_end|><think><tool_call>");
  // Only tokens flagged special are skipped: <think> and <tool_call> stay.
  EXPECT_EQ(tok().decode(chat, /*skip_special_tokens=*/true), "user\nHello<think><tool_call>");
  EXPECT_EQ(tok().decode(std::vector<int32_t>{16, 220, 17}), "1 2");
  EXPECT_EQ(tok().decode(std::vector<int32_t>{9707, 126, 227}), "Hello\u0085");
  EXPECT_EQ(tok().decode(std::vector<int32_t>{}), "");
}

TEST_F(Qwen3TokenizerTest, DecodeReplacesInvalidUtf8LikeFromUtf8Lossy) {
  // Hugging Face: "Ã" "¨" "Ã" are bytes C3 A8 C3 -> "è" then an incomplete sequence -> U+FFFD.
  EXPECT_EQ(tok().decode(std::vector<int32_t>{127, 101, 127}), "\u00e8\ufffd");
  EXPECT_EQ(tok().decode(std::vector<int32_t>{223}), "\ufffd");       // lone byte 0x85
  EXPECT_EQ(tok().decode(std::vector<int32_t>{158, 120}), "\ufffd");  // E2 BC: one maximal subpart
}

TEST_F(Qwen3TokenizerTest, DecodeRejectsUnknownIds) {
  EXPECT_THROW(tok().decode(std::vector<int32_t>{9707, 151669}), Error);
  EXPECT_THROW(tok().decode(std::vector<int32_t>{-1}), Error);
  try {
    tok().decode(std::vector<int32_t>{999999});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("999999"), std::string::npos) << e.what();
  }
}

TEST_F(Qwen3TokenizerTest, EncodeRepairsInvalidUtf8) {
  // Each maximal ill-formed subpart becomes U+FFFD before tokenizing.
  EXPECT_EQ(tok().encode("a\xff" "b"), tok().encode("a\ufffd" "b"));
  EXPECT_EQ(tok().encode("x\xe2\x82" "y\xf0\x9f"), tok().encode("x\ufffd" "y\ufffd"));
  EXPECT_EQ(tok().encode("\xed\xa0\x80"), tok().encode("\ufffd\ufffd\ufffd"));  // a surrogate
  EXPECT_EQ(tok().encode(std::string("nul\0byte", 8)), (std::vector<int32_t>{77, 360, 188, 3782}));
}

TEST_F(Qwen3TokenizerTest, RoundTripsNfcText) {
  const std::vector<std::string> texts = {
      "The quick brown fox jumps over the lazy dog.",
      "  spaces\t\ttabs\n\nnewlines\r\n \u00a0\u3000\u2028\u0085 ",
      "\u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 "
      "\u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
      "<|im_start|>system\nYou are helpful.<|im_end|>\n<think>\nok\n</think>",
      "\U0001f468\u200d\U0001f469\u200d\U0001f467 caf\u00e9 12345 'S 'LL",
  };
  for (const std::string& t : texts) EXPECT_EQ(tok().decode(tok().encode(t)), t);
}

// Random sequences mixing single bytes (which break UTF-8), pieces of multi-byte characters and
// added tokens; the streamed text must equal the full decode, with and without skipping.
TEST_F(Qwen3TokenizerTest, StreamingEqualsFullDecode) {
  std::mt19937 rng(7);
  std::vector<int32_t> pool;
  for (int32_t id = 0; id < 256; ++id) pool.push_back(id);
  for (int32_t id = 151643; id < 151669; ++id) pool.push_back(id);
  const std::vector<int32_t> multibyte = tok().encode("\u00e8\u4f60\u597d\U0001f44d\U0001f3fd\u0928\u0e2a");
  pool.insert(pool.end(), multibyte.begin(), multibyte.end());
  for (int round = 0; round < 500; ++round) {
    std::vector<int32_t> ids;
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) {
      ids.push_back(rng() % 4 == 0 ? static_cast<int32_t>(rng() % 151643) : pool[rng() % pool.size()]);
    }
    for (bool skip : {false, true}) {
      StreamingDetokenizer stream(tok(), skip);
      std::string streamed;
      for (int32_t id : ids) {
        const std::string piece = stream.push(id);
        streamed += piece;
      }
      streamed += stream.flush();
      ASSERT_EQ(streamed, tok().decode(ids, skip)) << "round " << round << " skip " << skip;
    }
  }
}

TEST_F(Qwen3TokenizerTest, StreamingHoldsBackIncompleteCharacters) {
  // U+30EDE is four bytes, one token each in Qwen3 (HF: [64, 172, 108, 119, 252]). Nothing is
  // emitted until the character is complete.
  const std::vector<int32_t> ids = {64, 172, 108, 119, 252};
  ASSERT_EQ(tok().encode("a\U00030ede"), ids);
  StreamingDetokenizer stream(tok());
  std::string out;
  for (size_t i = 0; i + 1 < ids.size(); ++i) out += stream.push(ids[i]);
  EXPECT_EQ(out, "a");
  EXPECT_EQ(stream.push(ids.back()), "\U00030ede");
  EXPECT_EQ(stream.flush(), "");

  // An incomplete sequence at the end is one U+FFFD when flushed.
  StreamingDetokenizer tail(tok());
  EXPECT_EQ(tail.push(127), "");  // byte C3
  EXPECT_EQ(tail.flush(), "\ufffd");
  // A byte that cannot continue the sequence releases it as U+FFFD at once.
  EXPECT_EQ(tail.push(127), "");
  EXPECT_EQ(tail.push(32), "\ufffdA");
  EXPECT_THROW(tail.push(151669), Error);
}

TEST_F(Qwen3TokenizerTest, CacheGivesTheSameIds) {
  // The same words many times (cached after the first) and a text of all-new words.
  std::string text;
  for (int i = 0; i < 200; ++i) text += "repeated words and " + std::to_string(i * 7919) + " numbers, ";
  const std::vector<int32_t> first = tok().encode(text);
  EXPECT_EQ(tok().encode(text), first);
  EXPECT_EQ(tok().decode(first), text);
}

// Long inputs that are easy to make quadratic: regex backtracking over long whitespace runs,
// one huge word for BPE, long runs of combining marks for NFC ordering.
TEST_F(Qwen3TokenizerTest, LongInputsAreNotQuadratic) {
  // 1 MiB each; a quarter of that in the sanitizer build (scripts/test.sh sets QWEN3_SANITIZED).
  const size_t n = std::getenv("QWEN3_SANITIZED") ? 1 << 18 : 1 << 20;
  const std::vector<std::string> inputs = {
      std::string(n, ' '),
      std::string(n, ' ') + "x",
      std::string(n, 'a'),
      std::string(n / 2, '\n') + std::string(n / 2, '\t'),
      [&] {
        std::string s = "a";
        while (s.size() < n) s += "\u0301\u0323";
        return s;
      }(),
      [&] {
        std::string s;
        while (s.size() < n) s += "\u4eba\u5de5\u667a\u80fd";
        return s;
      }(),
  };
  for (const std::string& s : inputs) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = tok().encode(s);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_FALSE(ids.empty());
    // Linear code takes well under 0.5 s per MiB even in a debug or sanitizer build; quadratic
    // code takes minutes.
    EXPECT_LT(seconds, 10.0) << "input starting with " << s.substr(0, 8);
  }
}

// One Tokenizer shared by threads (the engine and server do this); its word cache is locked.
TEST_F(Qwen3TokenizerTest, EncodeIsThreadSafe) {
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) {
    texts.push_back("thread " + std::to_string(i) + " says hello to \u4e16\u754c and " + std::to_string(i * i * 7919) +
                    " <|im_end|> words words words");
  }
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& t : texts) expected.push_back(tok().encode(t));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i * 7 + static_cast<size_t>(t + round)) % texts.size();
          if (tok().encode(texts[k]) != expected[k]) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(TokenizerConfigTest, LoadsQwen3Config) {
  const auto path = test::qwen3_tokenizer_dir() / "tokenizer_config.json";
  ASSERT_TRUE(std::filesystem::exists(path)) << test::kInstallTokenizer;
  const TokenizerConfig c = TokenizerConfig::load(path);
  EXPECT_EQ(c.bos_token, std::nullopt);
  EXPECT_EQ(c.eos_token, "<|im_end|>");
  EXPECT_EQ(c.pad_token, "<|endoftext|>");
  EXPECT_EQ(c.unk_token, std::nullopt);
  EXPECT_FALSE(c.add_bos_token);
  EXPECT_EQ(c.model_max_length, 131072);
  EXPECT_EQ(c.additional_special_tokens.size(), 13u);
  EXPECT_TRUE(c.chat_template.starts_with("{%- if tools %}")) << c.chat_template.substr(0, 40);
  EXPECT_NE(c.chat_template.find("<think>"), std::string::npos);
}

}  // namespace
}  // namespace qwen3
