#include "tokenizer/added_tokens.h"

#include <utf8proc.h>

#include <algorithm>

#include "tokenizer/utf8.h"

namespace qwen3 {
namespace {

// Rust regex's `\w` (Unicode word character): Alphabetic, marks, decimal digits, connector
// punctuation and the joiners. Alphabetic is approximated by letters, letter numbers and the
// circled / squared letters that are Other_Alphabetic symbols; it only matters for single_word
// tokens, which Qwen3 does not have.
bool is_word_char(char32_t c) {
  if (c == 0x200C || c == 0x200D) return true;
  if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
      (c >= 0x1F170 && c <= 0x1F189)) {
    return true;
  }
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s.size();
  return is_word_char(utf8::prev(s, i));
}

bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  return is_word_char(utf8::next(s, i));
}

// Start of the run of whitespace that ends `s` (s.size() when there is none).
size_t leftmost_space_at_end(std::string_view s) {
  size_t i = s.size();
  while (i > 0) {
    size_t j = i;
    if (!is_white_space(utf8::prev(s, j))) break;
    i = j;
  }
  return i;
}

// Length of the run of whitespace that starts `s`.
size_t rightmost_space_at_start(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    if (!is_white_space(utf8::next(s, j))) break;
    i = j;
  }
  return i;
}

}  // namespace

bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

AddedTokenMatcher::AddedTokenMatcher(const std::vector<const AddedToken*>& tokens,
                                     const std::vector<std::string>& patterns) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (patterns[i].empty()) continue;
    entries_.push_back({patterns[i], tokens[i]});
  }
  for (uint32_t i = 0; i < entries_.size(); ++i) {
    by_first_byte_[static_cast<unsigned char>(entries_[i].pattern[0])].push_back(i);
  }
  for (auto& bucket : by_first_byte_) {
    // Longest first, so the first hit at a position is the longest; ties keep insertion order.
    std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
      return entries_[a].pattern.size() > entries_[b].pattern.size();
    });
  }
}

bool AddedTokenMatcher::find(std::string_view text, size_t from, size_t& begin, size_t& end,
                             const AddedToken*& token) const {
  for (size_t i = from; i < text.size(); ++i) {
    const auto& bucket = by_first_byte_[static_cast<unsigned char>(text[i])];
    for (uint32_t e : bucket) {
      const std::string& p = entries_[e].pattern;
      if (text.compare(i, p.size(), p) == 0) {
        begin = i;
        end = i + p.size();
        token = entries_[e].token;
        return true;
      }
    }
  }
  return false;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<TextPiece>& pieces) const {
  // Mirrors AddedVocabulary::find_matches in Hugging Face tokenizers: matches are found
  // non-overlapping in the text as it is, and the strip flags only move the piece boundaries.
  size_t start_offset = 0;
  size_t search = 0;
  size_t begin, end;
  const AddedToken* token;
  while (!entries_.empty() && find(text, search, begin, end, token)) {
    search = end;
    if (token->single_word) {
      const bool start_space = begin == 0 || !ends_with_word(text.substr(0, begin));
      const bool stop_space = end == text.size() || !starts_with_word(text.substr(end));
      if (!start_space || !stop_space) continue;
    }
    if (token->lstrip) begin = std::max(leftmost_space_at_end(text.substr(0, begin)), start_offset);
    if (token->rstrip) end += rightmost_space_at_start(text.substr(end));
    if (start_offset < begin) pieces.push_back({start_offset, begin, -1});
    pieces.push_back({begin, end, token->id});
    start_offset = end;
  }
  if (start_offset < text.size()) pieces.push_back({start_offset, text.size(), -1});
}

}  // namespace qwen3
