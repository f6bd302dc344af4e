// Added tokens (tokenizer.json "added_tokens"): strings that are cut out of the text before
// normalization and pre-tokenization and become their own id, whether special or not. Matching is
// leftmost-longest over all tokens, as Hugging Face's AddedVocabulary does with Aho-Corasick
// (MatchKind::LeftmostLongest), with the same handling of the lstrip / rstrip / single_word flags.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

struct AddedToken {
  int32_t id = -1;           // as Hugging Face assigns it (see Tokenizer::load)
  std::string content;
  bool special = false;      // skipped by decode(skip_special_tokens=true)
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool normalized = false;   // matched in the normalized text rather than the raw text
  bool single_word = false;  // only matches when not inside a word
};

// A span of the input: an added token (id >= 0) or text to normalize and tokenize (id == -1).
struct TextPiece {
  size_t begin, end;
  int32_t id;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // `patterns[i]` is the string to find for `tokens[i]` (its content, or its content normalized
  // when the token is matched in normalized text). Empty patterns are ignored.
  AddedTokenMatcher(const std::vector<const AddedToken*>& tokens, const std::vector<std::string>& patterns);

  bool empty() const { return entries_.empty(); }

  // Appends the pieces of `text` (valid UTF-8) in order, as offsets into `text`. Empty pieces of
  // plain text are not appended.
  void split(std::string_view text, std::vector<TextPiece>& pieces) const;

 private:
  struct Entry {
    std::string pattern;
    const AddedToken* token;
  };
  // Leftmost-longest match at or after `from`; returns false when there is none.
  bool find(std::string_view text, size_t from, size_t& begin, size_t& end, const AddedToken*& token) const;

  std::vector<Entry> entries_;
  // For each first byte, the entries starting with it, longest first.
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

// Unicode White_Space (what Rust's char::is_whitespace and regex `\s` test).
bool is_white_space(char32_t c);

}  // namespace qwen3
