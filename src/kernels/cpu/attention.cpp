// Paged attention: the work split and the merge of partitions. The arithmetic over K and V is the
// active ISA's attention_part (cpu/<isa>/attention.cpp); this file decides who computes which
// partition and merges the partial results, in the same order whoever computed them.
//
// Work: a "group" is one (query row, KV head): the num_heads / num_kv_heads query heads sharing that
// KV head. Its context [0, len) is cut into partitions of kAttentionPartition positions, the units
// of work. Units are listed group by group and cut into one contiguous range per thread of about
// equal cost (positions, plus an overhead per unit), so a long decode row is shared by all threads
// (flash-decoding) and a causal prefill is balanced although its rows grow. A thread merges the
// partitions of the groups it holds whole as it goes; the few groups cut by a thread boundary keep
// their partitions in a spill buffer and are merged after. Either way a group's partitions are
// merged left to right by merge_into, so the bits do not depend on who computed what.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/parallel_for.h"
#include "kernels/cpu/isa_table.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

// Cost of a partition beyond its positions (its setup, its merge), in positions.
constexpr int64_t kPartOverhead = 32;

struct Row {
  int64_t row, len;
  const int32_t* table;
};

// Grows to the largest call and stays: nothing is allocated in steady state.
struct Workspace {
  std::vector<Row> rows;
  std::vector<int64_t> unit_begin;   // [groups + 1]: first unit of each group
  std::vector<int64_t> cost_begin;   // [groups + 1]: cost before each group
  std::vector<int64_t> bound;        // [threads + 1]: first unit of each thread
  std::vector<int64_t> cut_groups;   // groups cut by a thread boundary, increasing
  std::vector<int64_t> cut_offset;   // their offsets in spill (floats)
  std::vector<float> spill;          // [units of cut groups][group][state stride]
  std::vector<float> scratch;        // per thread: running state and one partition
};

int64_t parts_of(int64_t len) { return (len + kAttentionPartition - 1) / kAttentionPartition; }

// State layout of cpu::AttentionPart: per head acc[dp], m, l, padded to a multiple of 16 floats.
int64_t acc_floats(int64_t head_dim) { return (head_dim + 15) / 16 * 16; }
int64_t state_stride(int64_t head_dim) { return acc_floats(head_dim) + 16; }

// st = st ⊕ part for each of the `group` heads: the two partial softmaxes rescaled to their joint
// maximum and added.
void merge_into(float* st, const float* part, int64_t group, int64_t head_dim) {
  const int64_t sd = state_stride(head_dim), dp = acc_floats(head_dim);
  for (int64_t g = 0; g < group; ++g) {
    float* a = st + g * sd;
    const float* b = part + g * sd;
    const float m = std::max(a[dp], b[dp]);
    const float wa = std::exp(a[dp] - m), wb = std::exp(b[dp] - m);
    for (int64_t i = 0; i < head_dim; ++i) a[i] = a[i] * wa + b[i] * wb;
    a[dp + 1] = a[dp + 1] * wa + b[dp + 1] * wb;
    a[dp] = m;
  }
}

void finalize(const float* st, int64_t group, int64_t head_dim, float* out) {
  const int64_t sd = state_stride(head_dim), dp = acc_floats(head_dim);
  for (int64_t g = 0; g < group; ++g)
    for (int64_t i = 0; i < head_dim; ++i) out[g * head_dim + i] = st[g * sd + i] / st[g * sd + dp + 1];
}

struct Plan {
  const PagedAttention* a;
  cpu::AttentionPartFn fn;
  cpu::KvElem elem;
  size_t esize;
  int64_t group, sd;
  Workspace* ws;

  // Where group gi's partitions spill, or nullptr when no thread boundary cuts it.
  float* spill_of(int64_t gi) const {
    const auto& cg = ws->cut_groups;
    const auto it = std::lower_bound(cg.begin(), cg.end(), gi);
    if (it == cg.end() || *it != gi) return nullptr;
    return ws->spill.data() + ws->cut_offset[size_t(it - cg.begin())];
  }

  cpu::AttentionPart job_of(int64_t gi) const {
    const Row& r = ws->rows[size_t(gi / a->num_kv_heads)];
    const int64_t kvh = gi % a->num_kv_heads, D = a->head_dim;
    cpu::AttentionPart j;
    j.q = a->q + r.row * a->q_stride + kvh * group * D;
    j.group = group, j.head_dim = D, j.scale = a->scale, j.elem = elem;
    j.k = static_cast<const char*>(a->k) + size_t(kvh * D) * esize;
    j.v = static_cast<const char*>(a->v) + size_t(kvh * D) * esize;
    j.token_stride = a->num_kv_heads * D, j.page_size = a->page_size, j.block_table = r.table;
    j.state_stride = sd;
    return j;
  }

  float* out_of(int64_t gi) const {
    const Row& r = ws->rows[size_t(gi / a->num_kv_heads)];
    return a->out + r.row * a->num_heads * a->head_dim + (gi % a->num_kv_heads) * group * a->head_dim;
  }

  // Units [u0, u1) on thread slot t.
  void run(int t, int64_t u0, int64_t u1) const {
    if (u0 >= u1) return;
    const auto& ub = ws->unit_begin;
    float* st = ws->scratch.data() + size_t(t) * size_t(2 * group * sd);
    float* part = st + group * sd;
    int64_t gi = int64_t(std::upper_bound(ub.begin(), ub.end(), u0) - ub.begin()) - 1;
    for (; ub[size_t(gi)] < u1; ++gi) {
      const int64_t c0 = std::max(u0, ub[size_t(gi)]) - ub[size_t(gi)];
      const int64_t c1 = std::min(u1, ub[size_t(gi + 1)]) - ub[size_t(gi)];
      const int64_t len = ws->rows[size_t(gi / a->num_kv_heads)].len;
      cpu::AttentionPart j = job_of(gi);
      float* spill = spill_of(gi);
      for (int64_t c = c0; c < c1; ++c) {
        j.p0 = c * kAttentionPartition;
        j.p1 = std::min(len, j.p0 + kAttentionPartition);
        if (spill) {
          fn(j, spill + c * group * sd);
        } else if (c == 0) {
          fn(j, st);
        } else {
          fn(j, part);
          merge_into(st, part, group, a->head_dim);
        }
      }
      if (!spill) finalize(st, group, a->head_dim, out_of(gi));
    }
  }

  // The groups cut by thread boundaries: their partitions, merged in the same order as run's.
  void merge_cut(int64_t i) const {
    const int64_t gi = ws->cut_groups[size_t(i)];
    float* spill = ws->spill.data() + ws->cut_offset[size_t(i)];
    const int64_t np = ws->unit_begin[size_t(gi + 1)] - ws->unit_begin[size_t(gi)];
    for (int64_t c = 1; c < np; ++c) merge_into(spill, spill + c * group * sd, group, a->head_dim);
    finalize(spill, group, a->head_dim, out_of(gi));
  }
};

void check(const PagedAttention& a) {
  if (a.num_kv_heads <= 0 || a.num_heads <= 0 || a.num_heads % a.num_kv_heads != 0)
    fail("attention: num_heads {} is not a positive multiple of num_kv_heads {}", a.num_heads, a.num_kv_heads);
  if (a.head_dim <= 0 || a.page_size <= 0)
    fail("attention: head_dim {} and page_size {} must be positive", a.head_dim, a.page_size);
  for (const AttentionSeq& s : a.seqs)
    if (s.T < 0 || s.pos0 < 0 || s.row0 < 0 || (s.T > 0 && !s.block_table))
      fail("attention: bad sequence (row0 {}, T {}, pos0 {})", s.row0, s.T, s.pos0);
}

}  // namespace

void attention(const PagedAttention& a) {
  check(a);
  const cpu::IsaTable& table = cpu::active_table();
  // The caller's workspace; the lambdas below run on other threads and must not name a
  // thread_local (they would get their own), so they reach it through this reference.
  thread_local Workspace tls;
  Workspace& ws = tls;
  ws.rows.clear();
  for (const AttentionSeq& s : a.seqs)
    for (int64_t t = 0; t < s.T; ++t) ws.rows.push_back({s.row0 + t, s.pos0 + t + 1, s.block_table});
  const int64_t Hkv = a.num_kv_heads, groups = int64_t(ws.rows.size()) * Hkv;
  if (groups == 0) return;

  Plan plan{&a, table.attention_part, cpu::KvElem(uint8_t(a.kv_dtype)), dtype_size(a.kv_dtype),
            a.num_heads / Hkv, state_stride(a.head_dim), &ws};
  ws.unit_begin.resize(size_t(groups + 1));
  ws.cost_begin.resize(size_t(groups + 1));
  ws.unit_begin[0] = ws.cost_begin[0] = 0;
  for (int64_t gi = 0; gi < groups; ++gi) {
    const int64_t len = ws.rows[size_t(gi / Hkv)].len, np = parts_of(len);
    ws.unit_begin[size_t(gi + 1)] = ws.unit_begin[size_t(gi)] + np;
    ws.cost_begin[size_t(gi + 1)] = ws.cost_begin[size_t(gi)] + len + np * kPartOverhead;
  }
  const int64_t units = ws.unit_begin[size_t(groups)], cost = ws.cost_begin[size_t(groups)];
  const int nth = int(std::min<int64_t>(num_threads(), units));

  // Thread t starts at the first unit whose cost offset reaches cost * t / nth.
  ws.bound.assign(size_t(nth + 1), units);
  ws.bound[0] = 0;
  ws.cut_groups.clear();
  ws.cut_offset.clear();
  int64_t spill_floats = 0;
  for (int t = 1; t < nth; ++t) {
    const int64_t target = cost * t / nth;
    const int64_t gi =
        int64_t(std::upper_bound(ws.cost_begin.begin(), ws.cost_begin.end(), target) - ws.cost_begin.begin()) - 1;
    const int64_t np = ws.unit_begin[size_t(gi + 1)] - ws.unit_begin[size_t(gi)];
    const int64_t k = (target - ws.cost_begin[size_t(gi)] + kAttentionPartition + kPartOverhead - 1) /
                      (kAttentionPartition + kPartOverhead);
    ws.bound[size_t(t)] = k < np ? ws.unit_begin[size_t(gi)] + k : ws.unit_begin[size_t(gi + 1)];
    if (k > 0 && k < np && (ws.cut_groups.empty() || ws.cut_groups.back() != gi)) {
      ws.cut_groups.push_back(gi);
      ws.cut_offset.push_back(spill_floats);
      spill_floats += np * plan.group * plan.sd;
    }
  }
  if (ws.spill.size() < size_t(spill_floats)) ws.spill.resize(size_t(spill_floats));
  const size_t scratch = size_t(nth) * size_t(2 * plan.group * plan.sd);
  if (ws.scratch.size() < scratch) ws.scratch.resize(scratch);

  parallel_for(nth, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) plan.run(int(t), ws.bound[size_t(t)], ws.bound[size_t(t + 1)]);
  });
  parallel_for(int64_t(ws.cut_groups.size()), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) plan.merge_cut(i);
  });
}

void convert_f32(const float* x, int64_t n, DType to, void* out) {
  if (n > 0) cpu::active_table().convert_f32(x, n, cpu::KvElem(uint8_t(to)), out);
}

}  // namespace qwen3::kernels
