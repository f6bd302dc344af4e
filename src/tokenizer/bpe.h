// The BPE model of tokenizer.json over byte-level symbols: a word (one pre-token, as raw bytes)
// starts as one symbol per byte and adjacent pairs are merged lowest rank first, leftmost first
// among equal ranks, until no listed merge applies — the same result as Hugging Face's
// Word::merge_all, computed the same way (a min-heap of candidate merges over a linked list of
// symbols, O(n log n) in the word's length, so a 100 KB run of letters is not quadratic).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace qwen3 {

// Open-addressing map from a pair of token ids to (rank, merged id). Built once at load.
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  explicit MergeTable(size_t expected_size = 0);
  // A later insert of the same pair replaces the earlier one (Hugging Face collects merges into a
  // HashMap, where the last duplicate wins).
  void insert(int32_t left, int32_t right, Merge merge);
  const Merge* find(int32_t left, int32_t right) const;
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key;  // (left << 32) | right; kEmpty when unused
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t slot_of(uint64_t key) const;
  void grow();
  std::vector<Slot> slots_;
  size_t size_ = 0;
  int shift_ = 64;
};

class BpeModel {
 public:
  // `byte_ids[b]` is the id of the one-symbol token for byte b (its byte-level character), or -1
  // when the vocabulary lacks it: such bytes are dropped, as Hugging Face drops characters that
  // are not in the vocabulary when there is no unk_token.
  // With `ignore_merges`, a word that is itself in the vocabulary (`whole_words`, keyed by raw
  // bytes) is one token without merging.
  BpeModel(std::array<int32_t, 256> byte_ids, MergeTable merges, bool ignore_merges,
           std::unordered_map<std::string, int32_t> whole_words);
  ~BpeModel();
  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;

  // Appends the tokens of one word (raw bytes, before the byte-level mapping). Thread-safe.
  void encode_word(std::string_view word, std::vector<int32_t>& ids) const;

  // The same without the cache (for tests of the cache).
  void encode_word_uncached(std::string_view word, std::vector<int32_t>& ids) const;

 private:
  struct Cache;
  std::array<int32_t, 256> byte_ids_;
  MergeTable merges_;
  bool ignore_merges_;
  std::unordered_map<std::string, int32_t> whole_words_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace qwen3
