// Cache and batch semantics of the one forward pass. Exactness against the float64 reference is
// tested in tests/reference/; here every comparison is between two runs of our own forward, which
// must agree bit for bit (the kernels are batch-invariant by construction).
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "model/qwen3_model.h"
#include "model_fixture.h"

namespace qwen3 {
namespace {

using testing::tiny_model;

std::vector<int32_t> ids(int n, int seed) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[size_t(i)] = int32_t((uint64_t(seed) * 7919 + uint64_t(i) * 104729) % 151000);
  return v;
}

std::vector<float> row_of(const Logits& l, size_t r) { return {l.row(r).begin(), l.row(r).end()}; }

class Forward : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { model_ = Qwen3Model::load(tiny_model("fwd", DType::BF16)).release(); }
  static void TearDownTestSuite() { delete model_; }
  KvCache cache(int64_t pages = 64) { return KvCache(model_->kv_options(pages)); }
  // Logits of every position of `toks`, computed alone in a fresh cache with one prefill.
  std::vector<std::vector<float>> alone(const std::vector<int32_t>& toks) {
    KvCache kv = cache();
    kv.add_sequence(1);
    SeqChunk ch{1, toks, LogitsWanted::All};
    Logits l = model_->forward({&ch, 1}, kv);
    std::vector<std::vector<float>> out;
    for (size_t r = 0; r < l.rows.size(); ++r) out.push_back(row_of(l, r));
    return out;
  }
  static Qwen3Model* model_;
};
Qwen3Model* Forward::model_ = nullptr;

TEST_F(Forward, PrefillThenDecodeEqualsOnePrefill) {
  auto p = ids(21, 1);
  auto ref = alone(p);
  KvCache kv = cache();
  kv.add_sequence(5);
  Logits a = model_->prefill(5, std::span(p).first(20), kv);
  EXPECT_EQ(row_of(a, 0), ref[19]);
  const SeqId s = 5;
  Logits b = model_->decode({&s, 1}, std::span(p).subspan(20, 1), kv);
  EXPECT_EQ(row_of(b, 0), ref[20]);
  EXPECT_EQ(kv.num_tokens(5), 21);
}

TEST_F(Forward, RaggedBatchGivesEachSequenceItsOwnLogits) {
  // Sequence 1: prefills 7 tokens. Sequence 2: has 5 in the cache, decodes 1. Sequence 3: has 18,
  // adds a chunk of 4 and wants all of them. Sequence 4: has 3, adds 2 and wants none.
  auto s1 = ids(7, 11), s2 = ids(6, 12), s3 = ids(22, 13), s4 = ids(5, 14);
  KvCache kv = cache();
  for (SeqId s : {1, 2, 3, 4}) kv.add_sequence(s);
  model_->prefill(2, std::span(s2).first(5), kv);
  model_->prefill(3, std::span(s3).first(18), kv);
  model_->prefill(4, std::span(s4).first(3), kv);
  std::vector<SeqChunk> batch = {{1, s1, LogitsWanted::Last},
                                 {2, std::span(s2).subspan(5), LogitsWanted::Last},
                                 {3, std::span(s3).subspan(18), LogitsWanted::All},
                                 {4, std::span(s4).subspan(3), LogitsWanted::None}};
  Logits l = model_->batch_prefill(batch, kv);
  ASSERT_EQ(l.rows.size(), 6u);
  EXPECT_EQ(row_of(l, 0), alone(s1)[6]);
  EXPECT_EQ(row_of(l, 1), alone(s2)[5]);
  auto r3 = alone(s3);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(l.rows[size_t(2 + i)].chunk, 2u);
    EXPECT_EQ(l.rows[size_t(2 + i)].token, i);
    EXPECT_EQ(row_of(l, size_t(2 + i)), r3[size_t(18 + i)]);
  }
  EXPECT_EQ(kv.num_tokens(4), 5);
  // And the batch keeps going: one decode step for all four.
  std::vector<SeqId> seqs = {1, 2, 3, 4};
  std::vector<int32_t> next = {9, 10, 11, 12};
  Logits d = model_->batch_decode(seqs, next, kv);
  auto cat = [](std::vector<int32_t> v, int32_t t) { v.push_back(t); return v; };
  EXPECT_EQ(row_of(d, 0), alone(cat(s1, 9)).back());
  EXPECT_EQ(row_of(d, 1), alone(cat(s2, 10)).back());
  EXPECT_EQ(row_of(d, 2), alone(cat(s3, 11)).back());
  EXPECT_EQ(row_of(d, 3), alone(cat(s4, 12)).back());
}

TEST_F(Forward, VerifyThenPopLeavesTheCacheAsIfRejectedTokensWereNeverSeen) {
  auto p = ids(30, 3);
  auto draft = ids(5, 4);
  KvCache kv = cache();
  kv.add_sequence(1);
  model_->prefill(1, p, kv);
  const SeqId s = 1;
  std::vector<std::vector<int32_t>> drafts = {draft};
  Logits v = model_->batch_verify({&s, 1}, drafts, kv);
  ASSERT_EQ(v.rows.size(), 5u);
  std::vector<int32_t> full = p;
  full.insert(full.end(), draft.begin(), draft.end());
  auto ref = alone(full);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(row_of(v, i), ref[30 + i]);
  // Accept 2 drafts, reject 3 (crossing a page boundary at 32), then continue with another token.
  kv.pop(1, 3);
  EXPECT_EQ(kv.num_tokens(1), 32);
  const int32_t t = 777;
  Logits d = model_->decode({&s, 1}, std::span(&t, 1), kv);
  std::vector<int32_t> accepted(full.begin(), full.begin() + 32);
  accepted.push_back(t);
  EXPECT_EQ(row_of(d, 0), alone(accepted).back());
  kv.check_invariants();
}

TEST_F(Forward, ForkSharesFullPagesAndDiverges) {
  auto p = ids(21, 5);  // one full page of 16 and 5 tokens in the second
  KvCache kv = cache();
  kv.add_sequence(1);
  model_->prefill(1, p, kv);
  kv.fork(1, 2);
  EXPECT_EQ(kv.block_table(2)[0], kv.block_table(1)[0]);  // shared full page
  EXPECT_NE(kv.block_table(2)[1], kv.block_table(1)[1]);  // copied partial page
  std::vector<SeqId> seqs = {1, 2};
  std::vector<int32_t> next = {100, 200};
  Logits d = model_->batch_decode(seqs, next, kv);
  auto a = p, b = p;
  a.push_back(100);
  b.push_back(200);
  EXPECT_EQ(row_of(d, 0), alone(a).back());
  EXPECT_EQ(row_of(d, 1), alone(b).back());
  // The child goes on alone after the parent is removed.
  kv.remove_sequence(1);
  const SeqId s2 = 2;
  const int32_t t = 300;
  Logits e = model_->decode({&s2, 1}, std::span(&t, 1), kv);
  b.push_back(300);
  EXPECT_EQ(row_of(e, 0), alone(b).back());
  kv.check_invariants();
}

TEST_F(Forward, ErrorsLeaveTheCacheUnchanged) {
  KvCache kv = cache(4);  // 64 token slots: 40 tokens take 3 pages, one is left
  kv.add_sequence(1);
  kv.add_sequence(2);
  auto p = ids(40, 6);
  model_->prefill(1, p, kv);
  const int64_t free_before = kv.num_free_pages();
  auto q = ids(20, 7);
  std::vector<SeqChunk> batch = {{2, q, LogitsWanted::Last}};
  EXPECT_THROW(model_->batch_prefill(batch, kv), KvCacheFull);
  EXPECT_EQ(kv.num_free_pages(), free_before);
  EXPECT_EQ(kv.num_tokens(2), 0);
  EXPECT_EQ(kv.num_tokens(1), 40);
  std::vector<int32_t> bad = {1, 151936};
  EXPECT_THROW(model_->prefill(2, bad, kv), Error);
  std::vector<int32_t> neg = {-1};
  EXPECT_THROW(model_->prefill(2, neg, kv), Error);
  EXPECT_THROW(model_->prefill(9, q, kv), Error);  // unknown sequence
  std::vector<SeqChunk> dup = {{2, std::span(q).first(1), LogitsWanted::Last}, {2, std::span(q).first(1), LogitsWanted::Last}};
  EXPECT_THROW(model_->batch_prefill(dup, kv), Error);
  EXPECT_EQ(kv.num_tokens(2), 0);
  EXPECT_EQ(kv.num_free_pages(), free_before);
  // Still works afterwards, and matches a fresh run.
  auto small = ids(3, 8);
  Logits l = model_->prefill(2, small, kv);
  EXPECT_EQ(row_of(l, 0), alone(small).back());
  kv.check_invariants();
}

TEST_F(Forward, PositionsPastMaxPositionEmbeddingsAreRejected) {
  KvCache kv = cache(300);  // tiny: max_position_embeddings 4096
  kv.add_sequence(1);
  std::vector<int32_t> p(4097, 5);
  try {
    model_->prefill(1, p, kv);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("past max_position_embeddings 4096"), std::string::npos) << e.what();
  }
  EXPECT_EQ(kv.num_tokens(1), 0);
}

TEST_F(Forward, EmbedReturnsEmbeddingRows) {
  std::vector<int32_t> t = {0, 151935, 42};
  auto e = model_->embed(t);
  ASSERT_EQ(e.size(), 3u * 64);
  std::vector<float> row(64);
  kernels::load_row(model_->weights().embed_tokens.view(), 151935, row.data());
  EXPECT_TRUE(std::equal(row.begin(), row.end(), e.begin() + 64));
  std::vector<int32_t> bad = {151936};
  EXPECT_THROW(model_->embed(bad), Error);
}

}  // namespace
}  // namespace qwen3
