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

// Cost of a partition beyond its positions (its setup, its merge), in positions, per query row.
constexpr int64_t kPartOverhead = 32;
// Query rows of one sequence walked together over each block of K/V (a tile): the block's K and V
// rows are read once from memory for all of them, not once per row (flash-attention's reuse), which
// is what keeps a long prefill from rereading the whole context for every token.
constexpr int64_t kQueryTile = 32;

// A tile: rows row, row + 1, ... (nrows of them) of one sequence, at context lengths len, len + 1, ...
struct Tile {
  int64_t row, nrows, len;
  const int32_t* table;
  int64_t last_len() const { return len + nrows - 1; }
};

// Grows to the largest call and stays: nothing is allocated in steady state.
struct Workspace {
  std::vector<Tile> tiles;
  std::vector<int64_t> unit_begin;   // [tiles + 1]: first unit of each tile
  std::vector<int64_t> cost_begin;   // [tiles + 1]: cost before each tile
  std::vector<int64_t> bound;        // [threads + 1]: first unit of each thread
  std::vector<int64_t> cut_tiles;    // tiles cut by a thread boundary, increasing
  std::vector<int64_t> cut_offset;   // their offsets in spill (floats)
  std::vector<float> spill;          // [units of cut tiles][the tile's rows][heads][state stride]
  std::vector<float> scratch;        // per thread: running states and one partition, per tile row
};

// Heads of a row: state [num_heads][state stride], q and out [num_heads][head_dim].

int64_t parts_of(int64_t len) { return (len + kAttentionPartition - 1) / kAttentionPartition; }

// State layout of cpu::AttentionPart: per head acc[dp], m, l, padded to a multiple of 16 floats.
int64_t acc_floats(int64_t head_dim) { return (head_dim + 15) / 16 * 16; }
int64_t state_stride(int64_t head_dim) { return acc_floats(head_dim) + 16; }

// Cost of a tile: the positions its rows read, plus the overhead of each (row, partition).
int64_t tile_cost(const Tile& t) {
  int64_t c = 0;
  for (int64_t i = 0; i < t.nrows; ++i) c += t.len + i + parts_of(t.len + i) * kPartOverhead;
  return c;
}

// st = st ⊕ part for each of the `heads`: the two partial softmaxes rescaled to their joint maximum
// and added. The ISA's vector merge when it has one (IsaTable::attention_merge; this loop is
// compiled for the baseline ISA and was 4 % of an 8,192-token prefill), else this.
void merge_into(cpu::AttentionMergeFn merge, float* st, const float* part, int64_t heads, int64_t head_dim) {
  const int64_t sd = state_stride(head_dim), dp = acc_floats(head_dim);
  if (merge) return merge(st, part, heads, head_dim, dp, sd);
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
  cpu::AttentionMergeFn merge;  // null: the scalar merge_into
  cpu::KvElem elem;
  int64_t heads, sd;  // heads of a row, state stride per head
  Workspace* ws;

  int64_t row_state() const { return heads * sd; }  // floats of one row's state

  // Where tile ti's partitions spill, or nullptr when no thread boundary cuts it.
  float* spill_of(int64_t ti) const {
    const auto& cg = ws->cut_tiles;
    const auto it = std::lower_bound(cg.begin(), cg.end(), ti);
    if (it == cg.end() || *it != ti) return nullptr;
    return ws->spill.data() + ws->cut_offset[size_t(it - cg.begin())];
  }

  // Partition c of tile t: the rows that reach it (the first `skip` rows end before it), each
  // over [p0, min(its len, p0 + kAttentionPartition)), their states from `state` (row i of the
  // tile at state + i * row_state()).
  void part(const Tile& t, int64_t c, float* state) const {
    const int64_t p0 = c * kAttentionPartition, skip = std::max<int64_t>(0, p0 + 1 - t.len);
    cpu::AttentionPart j;
    j.q = a->q + (t.row + skip) * a->q_stride, j.q_row_stride = a->q_stride;
    j.num_kv_heads = a->num_kv_heads, j.group = heads / a->num_kv_heads, j.head_dim = a->head_dim;
    j.scale = a->scale, j.elem = elem, j.k = a->k, j.v = a->v;
    j.page_size = a->page_size, j.block_table = t.table, j.state_stride = sd, j.state_row_stride = row_state();
    j.nrows = t.nrows - skip, j.p0 = p0, j.p_cap = p0 + kAttentionPartition, j.p1 = std::min(t.len + skip, j.p_cap);
    fn(j, state + skip * row_state());
  }

  float* out_of(int64_t row) const { return a->out + row * heads * a->head_dim; }

  // Units [u0, u1) on thread slot t.
  void run(int t, int64_t u0, int64_t u1) const {
    if (u0 >= u1) return;
    const auto& ub = ws->unit_begin;
    const int64_t rs = row_state();
    float* st = ws->scratch.data() + size_t(t) * size_t(2 * kQueryTile * rs);  // running states
    float* pt = st + kQueryTile * rs;                                           // one partition
    int64_t ti = int64_t(std::upper_bound(ub.begin(), ub.end(), u0) - ub.begin()) - 1;
    for (; ub[size_t(ti)] < u1; ++ti) {
      const Tile& tile = ws->tiles[size_t(ti)];
      const int64_t c0 = std::max(u0, ub[size_t(ti)]) - ub[size_t(ti)];
      const int64_t c1 = std::min(u1, ub[size_t(ti + 1)]) - ub[size_t(ti)];
      float* spill = spill_of(ti);
      for (int64_t c = c0; c < c1; ++c) {
        if (spill) {
          part(tile, c, spill + c * tile.nrows * rs);
          continue;
        }
        part(tile, c, c == 0 ? st : pt);
        if (c == 0) continue;
        for (int64_t i = 0; i < tile.nrows; ++i)  // rows that reach partition c
          if (tile.len + i > c * kAttentionPartition) merge_into(merge, st + i * rs, pt + i * rs, heads, a->head_dim);
      }
      if (!spill)
        for (int64_t i = 0; i < tile.nrows; ++i) finalize(st + i * rs, heads, a->head_dim, out_of(tile.row + i));
    }
  }

  // The tiles cut by thread boundaries: each row's partitions, merged in the same order as run's.
  void merge_cut(int64_t k) const {
    const int64_t ti = ws->cut_tiles[size_t(k)], rs = row_state();
    const Tile& tile = ws->tiles[size_t(ti)];
    float* spill = ws->spill.data() + ws->cut_offset[size_t(k)];
    for (int64_t i = 0; i < tile.nrows; ++i) {
      float* s0 = spill + i * rs;
      for (int64_t c = 1; c < parts_of(tile.len + i); ++c)
        merge_into(merge, s0, spill + (c * tile.nrows + i) * rs, heads, a->head_dim);
      finalize(s0, heads, a->head_dim, out_of(tile.row + i));
    }
  }
};

void check(const PagedAttention& a) {
  if (a.num_kv_heads <= 0 || a.num_heads <= 0 || a.num_heads % a.num_kv_heads != 0)
    fail("attention: num_heads {} is not a positive multiple of num_kv_heads {}", a.num_heads, a.num_kv_heads);
  if (a.head_dim <= 0 || a.page_size <= 0)
    fail("attention: head_dim {} and page_size {} must be positive", a.head_dim, a.page_size);
  if (kv_scales_per_head(a.kv_dtype, a.head_dim) > cpu::kMaxKvScales)
    fail("attention: head_dim {} is above {} with a {} KV cache", a.head_dim, cpu::kMaxKvScales * kKvQBlock,
         kv_dtype_name(a.kv_dtype));
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
  ws.tiles.clear();
  for (const AttentionSeq& s : a.seqs)
    for (int64_t t = 0; t < s.T; t += kQueryTile)
      ws.tiles.push_back({s.row0 + t, std::min(kQueryTile, s.T - t), s.pos0 + t + 1, s.block_table});
  const int64_t ntiles = int64_t(ws.tiles.size());
  if (ntiles == 0) return;

  Plan plan{&a, table.attention_part, table.attention_merge, cpu::KvElem(uint8_t(a.kv_dtype)), a.num_heads,
            state_stride(a.head_dim), &ws};
  ws.unit_begin.resize(size_t(ntiles + 1));
  ws.cost_begin.resize(size_t(ntiles + 1));
  ws.unit_begin[0] = ws.cost_begin[0] = 0;
  for (int64_t ti = 0; ti < ntiles; ++ti) {
    const Tile& t = ws.tiles[size_t(ti)];
    ws.unit_begin[size_t(ti + 1)] = ws.unit_begin[size_t(ti)] + parts_of(t.last_len());
    ws.cost_begin[size_t(ti + 1)] = ws.cost_begin[size_t(ti)] + tile_cost(t);
  }
  const int64_t units = ws.unit_begin[size_t(ntiles)], cost = ws.cost_begin[size_t(ntiles)];
  const int nth = int(std::min<int64_t>(num_threads(), units));

  // Thread t starts at the first unit whose cost offset reaches about cost * t / nth (a unit of a
  // tile costs about nrows * (kAttentionPartition + kPartOverhead)).
  ws.bound.assign(size_t(nth + 1), units);
  ws.bound[0] = 0;
  ws.cut_tiles.clear();
  ws.cut_offset.clear();
  int64_t spill_floats = 0;
  for (int t = 1; t < nth; ++t) {
    const int64_t target = cost * t / nth;
    const int64_t ti =
        int64_t(std::upper_bound(ws.cost_begin.begin(), ws.cost_begin.end(), target) - ws.cost_begin.begin()) - 1;
    const int64_t np = ws.unit_begin[size_t(ti + 1)] - ws.unit_begin[size_t(ti)];
    const int64_t unit_cost = ws.tiles[size_t(ti)].nrows * (kAttentionPartition + kPartOverhead);
    int64_t k = (target - ws.cost_begin[size_t(ti)] + unit_cost - 1) / unit_cost;
    // A tile small against a thread's share (a prefill's) goes whole to the nearer side: cutting
    // it would spill all its partitions' states (np x its rows x the heads' states).
    const int64_t tc = ws.cost_begin[size_t(ti + 1)] - ws.cost_begin[size_t(ti)];
    if (k > 0 && k < np && tc * 8 * nth <= cost) k = 2 * (target - ws.cost_begin[size_t(ti)]) < tc ? 0 : np;
    ws.bound[size_t(t)] = std::max(ws.bound[size_t(t - 1)], k < np ? ws.unit_begin[size_t(ti)] + k : ws.unit_begin[size_t(ti + 1)]);
    if (k > 0 && k < np && (ws.cut_tiles.empty() || ws.cut_tiles.back() != ti)) {
      ws.cut_tiles.push_back(ti);
      ws.cut_offset.push_back(spill_floats);
      spill_floats += np * ws.tiles[size_t(ti)].nrows * plan.row_state();
    }
  }
  if (ws.spill.size() < size_t(spill_floats)) ws.spill.resize(size_t(spill_floats));
  const size_t scratch = size_t(nth) * size_t(2 * kQueryTile * plan.row_state());
  if (ws.scratch.size() < scratch) ws.scratch.resize(scratch);

  parallel_for(nth, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) plan.run(int(t), ws.bound[size_t(t)], ws.bound[size_t(t + 1)]);
  });
  // At most threads - 1 tiles: cheaper on this thread than waking the pool once more.
  for (int64_t i = 0; i < int64_t(ws.cut_tiles.size()); ++i) plan.merge_cut(i);
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
