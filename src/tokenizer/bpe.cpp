#include "tokenizer/bpe.h"

#include <algorithm>
#include <bit>
#include <mutex>
#include <functional>
#include <queue>

namespace qwen3 {

// ---- MergeTable ----

MergeTable::MergeTable(size_t expected_size) {
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, expected_size * 2));
  slots_.assign(capacity, Slot{kEmpty, {0, 0}});
  shift_ = 64 - std::countr_zero(capacity);
}

size_t MergeTable::slot_of(uint64_t key) const {
  // Fibonacci hashing: the top bits of key * 2^64/phi.
  return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
}

void MergeTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.size() * 2, Slot{kEmpty, {0, 0}});
  shift_ -= 1;
  size_ = 0;
  for (const Slot& s : old) {
    if (s.key != kEmpty) insert(static_cast<int32_t>(s.key >> 32), static_cast<int32_t>(s.key), s.merge);
  }
}

void MergeTable::insert(int32_t left, int32_t right, Merge merge) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (slots_[i].key == key) {
      slots_[i].merge = merge;
      return;
    }
    if (slots_[i].key == kEmpty) {
      slots_[i] = Slot{key, merge};
      ++size_;
      return;
    }
  }
}

const MergeTable::Merge* MergeTable::find(int32_t left, int32_t right) const {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  const size_t mask = slots_.size() - 1;
  for (size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (slots_[i].key == key) return &slots_[i].merge;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

// ---- BpeModel ----

// Words up to kMaxCachedBytes are cached; when the cache holds kCacheCapacity words it is cleared
// (a bounded memory cost; natural text keeps refilling it with its frequent words).
namespace {
constexpr size_t kMaxCachedBytes = 64;
constexpr size_t kCacheCapacity = 1 << 16;

// Heterogeneous lookup: find() takes the word as a string_view without building a std::string.
struct WordHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

struct BpeModel::Cache {
  std::shared_mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>, WordHash, std::equal_to<>> words;
};

BpeModel::BpeModel(std::array<int32_t, 256> byte_ids, MergeTable merges, bool ignore_merges,
                   std::unordered_map<std::string, int32_t> whole_words)
    : byte_ids_(byte_ids),
      merges_(std::move(merges)),
      ignore_merges_(ignore_merges),
      whole_words_(std::move(whole_words)),
      cache_(std::make_unique<Cache>()) {}

BpeModel::~BpeModel() = default;
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.size() > kMaxCachedBytes) {
    encode_word_uncached(word, ids);
    return;
  }
  {
    std::shared_lock lock(cache_->mutex);
    auto it = cache_->words.find(word);
    if (it != cache_->words.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids.size();
  encode_word_uncached(word, ids);
  std::vector<int32_t> tokens(ids.begin() + static_cast<ptrdiff_t>(first), ids.end());
  std::unique_lock lock(cache_->mutex);
  if (cache_->words.size() >= kCacheCapacity) cache_->words.clear();
  cache_->words.emplace(std::string(word), std::move(tokens));
}

void BpeModel::encode_word_uncached(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = whole_words_.find(std::string(word));
    if (it != whole_words_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  // One symbol per byte, in a doubly linked list over an array; a merged-away symbol has id -1.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (unsigned char b : word) {
    const int32_t id = byte_ids_[b];
    if (id < 0) continue;
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, n - 1, n + 1});
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;
  if (symbols.size() == 1) {
    ids.push_back(symbols[0].id);
    return;
  }

  // Candidate merge of symbols[pos] with its right neighbour; lowest rank first, then leftmost.
  struct Candidate {
    int32_t rank, pos, new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Candidate> storage;
  storage.reserve(symbols.size());
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue(std::greater<>{},
                                                                              std::move(storage));
  auto push_candidate = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    if (const MergeTable::Merge* m = merges_.find(symbols[pos].id, symbols[next].id)) {
      queue.push({m->rank, pos, m->new_id});
    }
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_candidate(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.id < 0 || left.next < 0) continue;
    // Stale when either symbol changed since the candidate was pushed.
    const MergeTable::Merge* m = merges_.find(left.id, symbols[left.next].id);
    if (m == nullptr || m->new_id != top.new_id) continue;
    Symbol& right = symbols[left.next];
    left.id = top.new_id;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) push_candidate(left.prev);
    push_candidate(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace qwen3
