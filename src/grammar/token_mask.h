// Token masks: which ids of a vocabulary the grammar allows next.
//
// TokenVocabulary holds each id's decoded bytes (a byte-level BPE token may be part of a UTF-8
// character), which ids are special (never matched as text) and which of those end the sequence.
// It sorts the ordinary tokens by bytes once, so that a walk over all of them shares the work of
// common prefixes (a byte trie laid out flat).
//
// TokenMasker computes masks for matchers of one grammar over one vocabulary, XGrammar-style: for
// each automaton state on top of a stack it precomputes, with the caller unknown, which tokens are
// accepted whatever the caller (a bitset), and which depend on it (they complete the state's rule and
// go on in the caller); only the latter are checked at run time against the real stack. Those
// per-state entries are kept in an LRU cache bounded in bytes, one per class of states that no
// token can tell apart (state_classes.h: the long chains of a bounded repetition share entries).
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "grammar/grammar.h"

namespace qwen3::grammar {

class TokenVocabulary {
 public:
  // token_bytes[id] are the bytes the id decodes to; special ids are matched only as end ids.
  TokenVocabulary(std::vector<std::string> token_bytes, std::span<const int32_t> special_ids,
                  std::span<const int32_t> end_ids);

  size_t size() const { return bytes_.size(); }
  size_t mask_words() const { return (bytes_.size() + 31) / 32; }  // uint32_t words of a mask
  std::string_view bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  bool is_special(int32_t id) const { return special_[static_cast<size_t>(id)]; }
  bool is_end(int32_t id) const;
  size_t max_token_bytes() const { return max_token_bytes_; }  // of the ordinary tokens
  const std::vector<int32_t>& end_ids() const { return end_ids_; }

  // The ordinary non-empty tokens sorted by bytes, and lcp[i] = the common prefix length of
  // sorted[i - 1] and sorted[i] (lcp[0] = 0).
  const std::vector<int32_t>& sorted() const { return sorted_; }
  const std::vector<uint16_t>& lcp() const { return lcp_; }
  // The bytes of sorted()[pos], from one buffer laid out in sorted order (walks read it in sequence).
  std::string_view sorted_bytes(size_t pos) const {
    return std::string_view(sorted_text_).substr(sorted_offset_[pos], sorted_offset_[pos + 1] - sorted_offset_[pos]);
  }

 private:
  std::vector<std::string> bytes_;
  std::vector<bool> special_;
  std::vector<int32_t> end_ids_, sorted_;
  std::vector<uint16_t> lcp_;
  std::string sorted_text_;
  std::vector<size_t> sorted_offset_;
  size_t max_token_bytes_ = 0;
};

struct MaskCacheOptions {
  size_t max_bytes = 64u << 20;  // per-state entries kept (the most recently used one always is)
};

class TokenMasker {
 public:
  TokenMasker(std::shared_ptr<const CompiledGrammar> grammar, std::shared_ptr<const TokenVocabulary> vocab,
              MaskCacheOptions options = {});
  ~TokenMasker();

  // bits[w] bit b set <=> id 32 * w + b may come next; bits holds vocab.mask_words() words. A matcher
  // that can end allows the end ids; a terminated or dead one allows nothing.
  void fill_mask(const Matcher& m, uint32_t* bits);
  // Computes the entries of the states that read a byte, in state order, until `budget` has
  // passed (each entry walks the whole vocabulary) and as far as the cache holds them; the rest are
  // computed when a mask first needs them. Which entries are cached never changes a mask.
  void precompute_all(std::chrono::milliseconds budget = std::chrono::milliseconds::max());

  struct Stats {
    size_t cache_bytes = 0, entries = 0, hits = 0, misses = 0, evictions = 0;
    size_t context_checks = 0;  // context-dependent tokens checked against a real stack
    size_t states = 0, classes = 0;  // automaton states, and the classes that share an entry
  };
  const Stats& stats() const { return stats_; }
  const std::shared_ptr<const TokenVocabulary>& vocabulary() const { return vocab_; }
  const std::shared_ptr<const CompiledGrammar>& grammar() const { return grammar_; }

 private:
  struct Entry {
    uint32_t state = 0;                // the class's representative
    std::vector<uint32_t> accepted;    // bitset over ids
    std::vector<uint32_t> dependent;   // positions in vocab.sorted(), ascending
    uint32_t max_depth = 0;            // deepest local stack met in the walk (for the depth limit)
    std::list<uint32_t>::iterator lru;
    size_t bytes() const { return accepted.size() * 4 + dependent.size() * 4 + 64; }
  };
  Entry& entry(uint32_t state);
  void compute(Entry& e);
  void add_checked(StackPool& pool, uint32_t node, std::span<const uint32_t> positions, uint32_t* bits);

  std::shared_ptr<const CompiledGrammar> grammar_;
  std::shared_ptr<const TokenVocabulary> vocab_;
  MaskCacheOptions options_;
  std::unique_ptr<StackPool> local_;        // stacks over kContext, for precomputation
  std::vector<uint32_t> class_of_, class_rep_;  // [state] -> class, [class] -> a state (state_classes.h)
  std::vector<std::unique_ptr<Entry>> entries_;  // [class]
  std::list<uint32_t> lru_;                 // classes, most recent first
  std::vector<uint32_t> all_positions_;     // 0 .. sorted().size() - 1
  Stats stats_;
};

}  // namespace qwen3::grammar
