#include "core/error.h"
#include "grammar/grammar.h"
#include "grammar/stack_pool.h"
#include "grammar/token_mask.h"

namespace qwen3::grammar {

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar, std::shared_ptr<const TokenVocabulary> vocab)
    : grammar_(std::move(grammar)), vocab_(std::move(vocab)), pool_(std::make_shared<StackPool>(*grammar_)) {
  current_ = pool_->start_set(grammar_->rule_start[grammar_->root], StackPool::kBottom);
}

bool Matcher::accept_bytes(std::string_view bytes) {
  if (current_ == StackPool::kTerminatedSet) return false;
  uint32_t cur = current_;
  for (char c : bytes) {
    cur = pool_->step(cur, static_cast<uint8_t>(c));
    if (cur == StackPool::kDeadSet) return false;
  }
  history_.push_back(current_);
  current_ = cur;
  return true;
}

bool Matcher::accept_token(int32_t id) {
  if (!vocab_) fail("grammar: accept_token needs a Matcher built with a TokenVocabulary");
  if (id < 0 || static_cast<size_t>(id) >= vocab_->size()) fail("grammar: token id {} is outside the vocabulary", id);
  if (vocab_->is_special(id)) {
    if (!vocab_->is_end(id) || !can_end()) return false;
    history_.push_back(current_);
    current_ = StackPool::kTerminatedSet;
    return true;
  }
  std::string_view b = vocab_->bytes(id);
  if (b.empty()) return false;
  return accept_bytes(b);
}

void Matcher::rollback(size_t n) {
  if (n > history_.size()) fail("grammar: rollback of {} steps, but only {} were taken", n, history_.size());
  if (n == 0) return;
  current_ = history_[history_.size() - n];
  history_.resize(history_.size() - n);
}

bool Matcher::can_end() const {
  return current_ != StackPool::kTerminatedSet && pool_->contains(current_, StackPool::kEnd);
}
bool Matcher::is_dead() const { return current_ == StackPool::kDeadSet; }
bool Matcher::is_terminated() const { return current_ == StackPool::kTerminatedSet; }

}  // namespace qwen3::grammar
