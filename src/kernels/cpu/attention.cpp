// Paged attention: the work split and the merge of partitions. The arithmetic over K and V is the
// active ISA's attention_part (attention_simd.inc, portable/attention.cpp); this file decides who computes which
// partition and merges the partial results, in the same order whoever computed them.
//
// Work: each query row's context [0, len) is cut into partitions of kAttentionPartition positions,
// the units of work. A unit walks its positions in blocks and, at each block, every KV head with the
// query heads that read it, so it reads the token rows of K and V ([num_kv_heads, head_dim] each)
// whole and in address order, which the hardware prefetchers stream best. Units are listed row by
// row and cut into one contiguous range per thread of about equal cost (positions, plus an overhead
// per unit), so a long decode row is shared by all threads (flash-decoding) and a causal prefill is
// balanced although its rows grow. A thread merges the partitions of the rows it holds whole as it
// goes; the few rows cut by a thread boundary keep their partitions in a spill buffer and are merged
// after. Either way a row's partitions are merged left to right by merge_into, so the bits do not
// depend on who computed what.
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
  std::vector<int64_t> unit_begin;   // [rows + 1]: first unit of each row
  std::vector<int64_t> cost_begin;   // [rows + 1]: cost before each row
  std::vector<int64_t> bound;        // [threads + 1]: first unit of each thread
  std::vector<int64_t> cut_rows;   // rows cut by a thread boundary, increasing
  std::vector<int64_t> cut_offset;   // their offsets in spill (floats)
  std::vector<float> spill;          // [units of cut rows][heads][state stride]
  std::vector<float> scratch;        // per thread: running state and one partition
};

// Heads of a row: state [num_heads][state stride], q and out [num_heads][head_dim].

int64_t parts_of(int64_t len) { return (len + kAttentionPartition - 1) / kAttentionPartition; }

// State layout of cpu::AttentionPart: per head acc[dp], m, l, padded to a multiple of 16 floats.
int64_t acc_floats(int64_t head_dim) { return (head_dim + 15) / 16 * 16; }
int64_t state_stride(int64_t head_dim) { return acc_floats(head_dim) + 16; }

// st = st ⊕ part for each of the `heads`: the two partial softmaxes rescaled to their joint maximum
// and added.
void merge_into(float* st, const float* part, int64_t heads, int64_t head_dim) {
  const int64_t sd = state_stride(head_dim), dp = acc_floats(head_dim);
  for (int64_t g = 0; g < heads; ++g) {
    float* a = st + g * sd;
    const float* b = part + g * sd;
    const float m = std::max(a[dp], b[dp]);
    const float wa = std::exp(a[dp] - m), wb = std::exp(b[dp] - m);
    for (int64_t i = 0; i < head_dim; ++i) a[i] = a[i] * wa + b[i] * wb;
    a[dp + 1] = a[dp + 1] * wa + b[dp + 1] * wb;
    a[dp] = m;
  }
}

void finalize(const float* st, int64_t heads, int64_t head_dim, float* out) {
  const int64_t sd = state_stride(head_dim), dp = acc_floats(head_dim);
  for (int64_t g = 0; g < heads; ++g)
    for (int64_t i = 0; i < head_dim; ++i) out[g * head_dim + i] = st[g * sd + i] / st[g * sd + dp + 1];
}

struct Plan {
  const PagedAttention* a;
  cpu::AttentionPartFn fn;
  cpu::KvElem elem;
  int64_t heads, sd;  // heads of a row, state stride per head
  Workspace* ws;

  // Where row gi's partitions spill, or nullptr when no thread boundary cuts it.
  float* spill_of(int64_t gi) const {
    const auto& cg = ws->cut_rows;
    const auto it = std::lower_bound(cg.begin(), cg.end(), gi);
    if (it == cg.end() || *it != gi) return nullptr;
    return ws->spill.data() + ws->cut_offset[size_t(it - cg.begin())];
  }

  cpu::AttentionPart job_of(int64_t gi) const {
    const Row& r = ws->rows[size_t(gi)];
    cpu::AttentionPart j;
    j.q = a->q + r.row * a->q_stride;
    j.num_kv_heads = a->num_kv_heads, j.group = heads / a->num_kv_heads, j.head_dim = a->head_dim;
    j.scale = a->scale, j.elem = elem, j.k = a->k, j.v = a->v;
    j.page_size = a->page_size, j.block_table = r.table, j.state_stride = sd;
    return j;
  }

  float* out_of(int64_t gi) const { return a->out + ws->rows[size_t(gi)].row * heads * a->head_dim; }

  // Units [u0, u1) on thread slot t.
  void run(int t, int64_t u0, int64_t u1) const {
    if (u0 >= u1) return;
    const auto& ub = ws->unit_begin;
    float* st = ws->scratch.data() + size_t(t) * size_t(2 * heads * sd);
    float* part = st + heads * sd;
    int64_t gi = int64_t(std::upper_bound(ub.begin(), ub.end(), u0) - ub.begin()) - 1;
    for (; ub[size_t(gi)] < u1; ++gi) {
      const int64_t c0 = std::max(u0, ub[size_t(gi)]) - ub[size_t(gi)];
      const int64_t c1 = std::min(u1, ub[size_t(gi + 1)]) - ub[size_t(gi)];
      const int64_t len = ws->rows[size_t(gi)].len;
      cpu::AttentionPart j = job_of(gi);
      float* spill = spill_of(gi);
      for (int64_t c = c0; c < c1; ++c) {
        j.p0 = c * kAttentionPartition;
        j.p1 = std::min(len, j.p0 + kAttentionPartition);
        if (spill) {
          fn(j, spill + c * heads * sd);
        } else if (c == 0) {
          fn(j, st);
        } else {
          fn(j, part);
          merge_into(st, part, heads, a->head_dim);
        }
      }
      if (!spill) finalize(st, heads, a->head_dim, out_of(gi));
    }
  }

  // The rows cut by thread boundaries: their partitions, merged in the same order as run's.
  void merge_cut(int64_t i) const {
    const int64_t gi = ws->cut_rows[size_t(i)];
    float* spill = ws->spill.data() + ws->cut_offset[size_t(i)];
    const int64_t np = ws->unit_begin[size_t(gi + 1)] - ws->unit_begin[size_t(gi)];
    for (int64_t c = 1; c < np; ++c) merge_into(spill, spill + c * heads * sd, heads, a->head_dim);
    finalize(spill, heads, a->head_dim, out_of(gi));
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
  const int64_t nrows = int64_t(ws.rows.size());
  if (nrows == 0) return;

  Plan plan{&a, table.attention_part, cpu::KvElem(uint8_t(a.kv_dtype)),
            a.num_heads, state_stride(a.head_dim), &ws};
  ws.unit_begin.resize(size_t(nrows + 1));
  ws.cost_begin.resize(size_t(nrows + 1));
  ws.unit_begin[0] = ws.cost_begin[0] = 0;
  for (int64_t gi = 0; gi < nrows; ++gi) {
    const int64_t len = ws.rows[size_t(gi)].len, np = parts_of(len);
    ws.unit_begin[size_t(gi + 1)] = ws.unit_begin[size_t(gi)] + np;
    ws.cost_begin[size_t(gi + 1)] = ws.cost_begin[size_t(gi)] + len + np * kPartOverhead;
  }
  const int64_t units = ws.unit_begin[size_t(nrows)], cost = ws.cost_begin[size_t(nrows)];
  const int nth = int(std::min<int64_t>(num_threads(), units));

  // Thread t starts at the first unit whose cost offset reaches cost * t / nth.
  ws.bound.assign(size_t(nth + 1), units);
  ws.bound[0] = 0;
  ws.cut_rows.clear();
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
    if (k > 0 && k < np && (ws.cut_rows.empty() || ws.cut_rows.back() != gi)) {
      ws.cut_rows.push_back(gi);
      ws.cut_offset.push_back(spill_floats);
      spill_floats += np * plan.heads * plan.sd;
    }
  }
  if (ws.spill.size() < size_t(spill_floats)) ws.spill.resize(size_t(spill_floats));
  const size_t scratch = size_t(nth) * size_t(2 * plan.heads * plan.sd);
  if (ws.scratch.size() < scratch) ws.scratch.resize(scratch);

  parallel_for(nth, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) plan.run(int(t), ws.bound[size_t(t)], ws.bound[size_t(t + 1)]);
  });
  // At most threads - 1 rows, each num_heads * head_dim per partition: cheaper on this thread than
  // waking the pool once more.
  for (int64_t i = 0; i < int64_t(ws.cut_rows.size()); ++i) plan.merge_cut(i);
}

void convert_f32(const float* x, int64_t n, DType to, void* out) {
  if (n > 0) cpu::active_table().convert_f32(x, n, cpu::KvElem(uint8_t(to)), out);
}

namespace {
// One block of a quantized head: codes[n] and its scale (kernels.h, store_kv).
void quantize_block(const float* x, int64_t n, KvDType to, uint8_t* codes, uint16_t* scale) {
  float a = 0;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(x[i])) a = std::max(a, std::fabs(x[i]));
  constexpr uint16_t kF16Max = 0x7bff;  // 65504
  uint16_t h = f32_to_f16(a / (to == KvDType::FP8 ? 448.0f : 127.0f));
  if (h == 0x7c00) h = kF16Max;
  *scale = h;
  const float s = f16_to_f32(h);
  for (int64_t i = 0; i < n; ++i) {
    if (s == 0 || !std::isfinite(x[i])) {
      codes[i] = 0;
    } else if (to == KvDType::FP8) {
      codes[i] = f32_to_e4m3(x[i] / s);
    } else {
      const float r = std::nearbyint(std::clamp(x[i] / s, -127.0f, 127.0f));
      codes[i] = uint8_t(int8_t(r));
    }
  }
}
}  // namespace

void store_kv(const float* x, int64_t heads, int64_t head_dim, KvDType to, void* out) {
  if (!kv_quantized(to)) return convert_f32(x, heads * head_dim, DType(uint8_t(to)), out);
  const int64_t nb = kv_scales_per_head(to, head_dim), block = to == KvDType::Q8Head ? head_dim : kKvQBlock;
  auto* o = static_cast<uint8_t*>(out);
  for (int64_t h = 0; h < heads; ++h, o += kv_head_bytes(to, head_dim), x += head_dim) {
    uint8_t* codes = o + kv_scale_prefix_bytes(to, head_dim);
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t e0 = b * block, n = std::min(block, head_dim - e0);
      uint16_t s;
      quantize_block(x + e0, n, to, codes + e0, &s);
      std::memcpy(codes - 2 * (b + 1), &s, 2);  // last block first (core/kv_dtype.h)
    }
  }
}

}  // namespace qwen3::kernels
