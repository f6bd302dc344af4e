// The model API under misuse and corner cases of the KV cache (found in review).
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/qwen3_model.h"
#include "model_fixture.h"

namespace qwen3 {
namespace {

using testing::edited_copy;
using testing::EditableTensor;
using testing::tiny_model;

Qwen3Model& model() {
  static auto m = Qwen3Model::load(tiny_model("plain"));
  return *m;
}

std::vector<int32_t> ids(int n) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(int32_t((i * 7919 + 11) % 151000));
  return v;
}

std::vector<float> row0(const Logits& l) { return {l.row(0).begin(), l.row(0).end()}; }

// A cache of another geometry would be written out of bounds or read with the wrong stride: it is
// refused before anything changes.
TEST(ModelApi, KvCacheOfAnotherGeometryIsRejected) {
  auto p = ids(20);
  for (int which = 0; which < 3; ++which) {
    KvCacheOptions o = model().kv_options(4);
    if (which == 0) o.head_dim /= 2;
    if (which == 1) o.num_kv_heads *= 2;
    if (which == 2) o.num_layers = 1;
    KvCache kv(o);
    kv.add_sequence(1);
    const int64_t free_before = kv.num_free_pages();
    try {
      model().prefill(1, p, kv);
      FAIL() << which;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("the KV cache holds"), std::string::npos) << e.what();
    }
    EXPECT_EQ(kv.num_free_pages(), free_before);
    EXPECT_EQ(kv.capacity(1), 0);
  }
}

TEST(ModelApi, EmptyBatchAndEmptyDraft) {
  KvCache kv(model().kv_options(4));
  EXPECT_EQ(model().forward({}, kv).rows.size(), 0u);
  kv.add_sequence(1);
  auto p = ids(5);
  model().prefill(1, p, kv);
  const SeqId s = 1;
  std::vector<std::vector<int32_t>> drafts = {{}};
  EXPECT_THROW(model().batch_verify({&s, 1}, drafts, kv), Error);
  EXPECT_EQ(kv.num_tokens(1), 5);
}

// Parent and child end inside the same shared page (fork, then pop on both): one copy-on-write
// page is enough for the pair, and one is free.
TEST(ModelApi, TwoSequencesSharingAPartialPageNeedOnlyOneCopy) {
  KvCache kv(model().kv_options(3));
  kv.add_sequence(1);
  auto p = ids(32);
  model().prefill(1, p, kv);
  kv.fork(1, 2);
  kv.pop(1, 1);
  kv.pop(2, 1);
  ASSERT_EQ(kv.num_free_pages(), 1);
  std::vector<SeqId> seqs = {1, 2};
  std::vector<int32_t> next = {5, 6};
  Logits l = model().batch_decode(seqs, next, kv);
  kv.check_invariants();
  auto a = std::vector<int32_t>(p.begin(), p.end() - 1);
  a.push_back(5);
  KvCache fresh(model().kv_options(3));
  fresh.add_sequence(1);
  EXPECT_EQ(row0(l), row0(model().prefill(1, a, fresh)));
  // And when even one copy does not fit, nothing changes.
  KvCache full(model().kv_options(2));
  full.add_sequence(1);
  model().prefill(1, p, full);
  full.fork(1, 2);
  full.pop(1, 1);
  full.pop(2, 1);
  ASSERT_EQ(full.num_free_pages(), 0);
  EXPECT_THROW(model().batch_decode(seqs, next, full), KvCacheFull);
  EXPECT_EQ(full.num_tokens(1), 31);
  EXPECT_EQ(full.num_tokens(2), 31);
  full.check_invariants();
}

TEST(ModelApi, ForkPopThenForwardKeepsTheParentIntact) {
  KvCache kv(model().kv_options(8));
  kv.add_sequence(1);
  auto p = ids(32);
  model().prefill(1, p, kv);
  kv.fork(1, 2);
  kv.pop(2, 3);
  const SeqId c = 2, par = 1;
  std::vector<int32_t> t = {42}, n9 = {9};
  model().decode({&c, 1}, t, kv);
  Logits a = model().decode({&par, 1}, n9, kv);
  KvCache fresh(model().kv_options(8));
  fresh.add_sequence(1);
  auto q = p;
  q.push_back(9);
  EXPECT_EQ(row0(a), row0(model().prefill(1, q, fresh)));
  kv.check_invariants();
}

// Safetensors does not require alignment: a 1-byte tensor first puts every weight at an odd
// offset. Unexpected tensors are reported after every weight has been read, so under UBSan a
// misaligned 16-bit read would abort before the expected error.
TEST(ModelApi, UnalignedTensorsLoad) {
  auto src = tiny_model("plain_bf16", DType::BF16);
  auto d = edited_copy(src, "unaligned", [](std::vector<EditableTensor>& ts) {
    ts.insert(ts.begin(), {"aaa_pad", "U8", {1}, std::vector<uint8_t>(1)});
  });
  try {
    Qwen3Model::load(d);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'aaa_pad'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qwen3
