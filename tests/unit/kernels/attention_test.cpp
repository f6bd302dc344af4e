// Paged attention and the KV conversion, for every instruction set this CPU runs: against a dense
// float64 softmax(q kᵀ · scale) v over K/V rounded (or quantized) to the cache type, and bit for bit
// against themselves across batch composition, T and thread counts. Quantized caches are decoded
// here from the layout core/kv_dtype.h states, and store_kv's quantization is checked against that
// statement written out again below.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/kv_dtype.h"
#include "core/error.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(i)) v.push_back(i);
  return v;
}

// Restores the process-wide ISA and thread count when a test ends.
struct Restore {
  Isa isa = active_isa();
  int threads = num_threads();
  ~Restore() {
    set_active_isa(isa);
    set_num_threads(threads);
  }
};

// Decodes one quantized (token, KV head) of the layout in core/kv_dtype.h: f16 scales, last block
// first, then head_dim codes; element e = code * scale of its block, rounded once to float.
std::vector<float> decode_head(const unsigned char* p, KvDType dt, int64_t D) {
  const int64_t nb = dt == KvDType::Q8Head ? 1 : (D + 31) / 32, block = dt == KvDType::Q8Head ? D : 32;
  const unsigned char* codes = p + 2 * nb;
  std::vector<float> x(static_cast<size_t>(D));
  for (int64_t e = 0; e < D; ++e) {
    uint16_t h;
    std::memcpy(&h, codes - 2 * (1 + e / block), 2);
    const float s = f16_to_f32(h);
    x[size_t(e)] = (dt == KvDType::FP8 ? e4m3_to_f32(codes[e]) : float(int8_t(codes[e]))) * s;
  }
  return x;
}

// One layer of a paged cache holding `len` random positions, pages scattered over the pool.
struct Cache {
  KvDType dt;
  int64_t Hkv, D, page;
  std::vector<int32_t> table;
  std::vector<float> kf, vf;               // exact stored values, [pages, page, Hkv, D]
  std::vector<unsigned char> kb, vb;       // the same in dt

  const float* k_at(int64_t p, int64_t h) const { return &kf[size_t(((table[size_t(p / page)] * page + p % page) * Hkv + h) * D)]; }
  const float* v_at(int64_t p, int64_t h) const { return &vf[size_t(((table[size_t(p / page)] * page + p % page) * Hkv + h) * D)]; }
};

Cache make_cache(KvDType dt, int64_t Hkv, int64_t D, int64_t page, int64_t len, std::mt19937& rng) {
  Cache c{dt, Hkv, D, page, {}, {}, {}, {}, {}};
  const int64_t used = (len + page - 1) / page, pages = used + 3;  // spare pages stay garbage
  std::vector<int32_t> perm(static_cast<size_t>(pages));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  c.table.assign(perm.begin(), perm.begin() + used);
  const size_t heads = size_t(pages * page * Hkv), n = heads * size_t(D), hb = kv_head_bytes(dt, D);
  c.kf.resize(n), c.vf.resize(n), c.kb.resize(heads * hb), c.vb.resize(heads * hb);
  std::normal_distribution<float> nd(0, 1);
  auto fill = [&](std::vector<float>& f, std::vector<unsigned char>& b, float sd) {
    if (kv_quantized(dt)) {  // through store_kv (checked on its own below), decoded here
      std::vector<float> x(static_cast<size_t>(D));
      for (size_t h = 0; h < heads; ++h) {
        for (auto& e : x) e = nd(rng) * sd;
        store_kv(x.data(), 1, D, dt, &b[h * hb]);
        const auto dq = decode_head(&b[h * hb], dt, D);
        std::copy(dq.begin(), dq.end(), f.begin() + int64_t(h) * D);
      }
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      const float x = nd(rng) * sd;
      uint16_t h = 0;
      if (dt == KvDType::BF16) h = f32_to_bf16(x), f[i] = bf16_to_f32(h);
      if (dt == KvDType::F16) h = f32_to_f16(x), f[i] = f16_to_f32(h);
      if (dt == KvDType::F32) f[i] = x, std::memcpy(&b[i * 4], &x, 4);
      else std::memcpy(&b[i * 2], &h, 2);
    }
  };
  fill(c.kf, c.kb, 1.5f);  // spread scores enough for the softmax to be far from uniform
  fill(c.vf, c.vb, 1.0f);
  return c;
}

struct Shape {
  int64_t Hq, Hkv, D;
};

PagedAttention make_call(const Cache& c, const Shape& s, const std::vector<float>& q, std::vector<float>& out,
                         float scale, const std::vector<AttentionSeq>& seqs) {
  return {.q = q.data(), .q_stride = s.Hq * s.D, .out = out.data(), .num_heads = s.Hq, .num_kv_heads = s.Hkv,
          .head_dim = s.D, .scale = scale, .kv_dtype = c.dt, .k = c.kb.data(), .v = c.vb.data(),
          .page_size = c.page, .seqs = seqs};
}

// Checks rows [0, T) (row t at position pos0 + t) against float64. Tolerance, per output element:
// the float32 scores are off by at most about D u scale max_p sum_e |q_e k_pe| =: ds (u = 2^-24),
// which moves each softmax weight by a relative 2 ds; exp, the sums over `len` positions and the
// merge of partitions add (len + 16) u relative; so |Δo_e| <= (2 ds + (len + 16) u) max_p |v_pe|,
// doubled for slack. Rounding K or V to the wrong dtype is off by ~1e-3, far beyond it.
void check_against_dense(const Cache& c, const Shape& s, const std::vector<float>& q, const std::vector<float>& out,
                         float scale, int64_t T, int64_t pos0) {
  const double u = std::ldexp(1.0, -24);
  const int64_t G = s.Hq / s.Hkv;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < s.Hq; ++h) {
      const int64_t kvh = h / G, len = pos0 + t + 1;
      const float* qh = &q[size_t((t * s.Hq + h) * s.D)];
      std::vector<double> w(static_cast<size_t>(len));
      double m = -1e300, ds = 0;
      for (int64_t p = 0; p < len; ++p) {
        const float* k = c.k_at(p, kvh);
        double d = 0, a = 0;
        for (int64_t e = 0; e < s.D; ++e) d += double(qh[e]) * k[e], a += std::fabs(double(qh[e]) * k[e]);
        w[size_t(p)] = d * scale;
        m = std::max(m, w[size_t(p)]);
        ds = std::max(ds, double(s.D) * u * scale * a);
      }
      double sum = 0;
      for (auto& e : w) sum += (e = std::exp(e - m));
      for (int64_t e = 0; e < s.D; ++e) {
        double o = 0, vmax = 0;
        for (int64_t p = 0; p < len; ++p) {
          o += w[size_t(p)] / sum * c.v_at(p, kvh)[e];
          vmax = std::max(vmax, std::fabs(double(c.v_at(p, kvh)[e])));
        }
        const double tol = 2 * (2 * ds + double(len + 16) * u) * vmax;
        const float got = out[size_t((t * s.Hq + h) * s.D + e)];
        ASSERT_NEAR(got, o, tol) << "row " << t << " head " << h << " elem " << e << " len " << len;
      }
    }
}

std::vector<float> random_q(int64_t T, const Shape& s, std::mt19937& rng) {
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> q(size_t(T * s.Hq * s.D));
  for (auto& e : q) e = nd(rng);
  return q;
}

TEST(Attention, MatchesDenseFloat64ForEveryIsaDtypeAndShape) {
  Restore restore;
  std::mt19937 rng(3);
  struct Case {
    Shape s;
    int64_t page, T, pos0;
  };
  const std::vector<Case> cases = {
      {{8, 8, 64}, 16, 1, 0},      // MHA, first token
      {{16, 8, 128}, 16, 1, 700},  // GQA 2 (Qwen3-0.6B), decode over 6 partitions of 128
      {{16, 8, 128}, 16, 9, 250},  // prefill crossing a partition boundary (256)
      {{8, 1, 64}, 5, 1, 530},     // MQA, pages of 5 positions
      {{12, 3, 36}, 7, 6, 30},     // GQA 4, head_dim not a multiple of 8 or 16
      {{6, 2, 17}, 16, 3, 127},    // GQA 3 (a 2 + 1 split of heads), odd head_dim, across 128
      {{10, 2, 128}, 16, 1, 1030}, // GQA 5 (4 + 1), 9 partitions
      {{16, 8, 128}, 16, 70, 100}, // a prefill of more rows than a query tile (K and V widened once)
  };
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    for (KvDType dt : {KvDType::F32, KvDType::BF16, KvDType::F16, KvDType::Q8, KvDType::Q8Head, KvDType::FP8})
      for (const Case& k : cases) {
        SCOPED_TRACE(testing::Message() << isa_name(isa) << " " << kv_dtype_name(dt) << " Hq " << k.s.Hq << " Hkv "
                                        << k.s.Hkv << " D " << k.s.D << " T " << k.T << " pos0 " << k.pos0);
        const Cache c = make_cache(dt, k.s.Hkv, k.s.D, k.page, k.pos0 + k.T, rng);
        const auto q = random_q(k.T, k.s, rng);
        std::vector<float> out(q.size(), std::numeric_limits<float>::quiet_NaN());
        const float scale = float(1 / std::sqrt(double(k.s.D)));
        const std::vector<AttentionSeq> seqs = {{.row0 = 0, .T = k.T, .pos0 = k.pos0, .block_table = c.table.data()}};
        attention(make_call(c, k.s, q, out, scale, seqs));
        check_against_dense(c, k.s, q, out, scale, k.T, k.pos0);
      }
  }
}

// Prefill of n rows (bf16 / f16 K and V widened once per block for the tile's rows) equals n
// decodes (read in place) bit for bit, alone or batched with other sequences, with any number of
// threads; the rows of the other sequences in the batch are untouched by the mix.
TEST(Attention, BitwiseInvariantToBatchTAndThreads) {
  Restore restore;
  std::mt19937 rng(5);
  const Shape s{8, 2, 64};  // GQA 4
  const int64_t L = 600;    // 5 partitions
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    for (KvDType dt : {KvDType::F32, KvDType::BF16, KvDType::F16, KvDType::Q8, KvDType::Q8Head, KvDType::FP8}) {
      SCOPED_TRACE(testing::Message() << isa_name(isa) << " " << kv_dtype_name(dt));
      const Cache c = make_cache(dt, s.Hkv, s.D, 16, L, rng);
      const Cache c2 = make_cache(dt, s.Hkv, s.D, 16, L, rng);  // second sequence: only its table is used
      const auto q = random_q(L, s, rng);
      const float scale = 0.0883883f;
      const size_t row = size_t(s.Hq * s.D);
      // Reference: one decode per checked position, one thread.
      set_num_threads(1);
      std::vector<float> dec(q.size());
      std::vector<int64_t> checked;
      for (int64_t p = 0; p < L; ++p)
        if (p < 37 || (p >= 250 && p < 262) || p >= 513) checked.push_back(p);
      for (int64_t p : checked) {
        std::vector<float> qr(q.begin() + p * int64_t(row), q.begin() + (p + 1) * int64_t(row)), o(row);
        const std::vector<AttentionSeq> seqs = {{.row0 = 0, .T = 1, .pos0 = p, .block_table = c.table.data()}};
        attention(make_call(c, s, qr, o, scale, seqs));
        std::copy(o.begin(), o.end(), dec.begin() + p * int64_t(row));
      }
      // The sanitizer runs (QWEN3_SANITIZED, scripts/test.sh; ThreadSanitizer makes this test the
      // 385 s tail of its run) take 2 and 7 threads only: the decodes above are the 1-thread case.
      const std::vector<int> thread_counts =
          std::getenv("QWEN3_SANITIZED") ? std::vector<int>{2, 7} : std::vector<int>{1, 2, 3, 7};
      for (int threads : thread_counts) {
        set_num_threads(threads);
        // One prefill of all L rows.
        std::vector<float> pre(q.size());
        std::vector<AttentionSeq> seqs = {{.row0 = 0, .T = L, .pos0 = 0, .block_table = c.table.data()}};
        attention(make_call(c, s, q, pre, scale, seqs));
        for (int64_t p : checked)
          ASSERT_EQ(0, std::memcmp(&pre[size_t(p) * row], &dec[size_t(p) * row], row * 4)) << threads << " threads, prefill row " << p;
        // Chunks of a prefill (rows [a, b) at pos0 = a) batched with decodes of another sequence
        // that shares the storage: a chunk row equals the decode of its position.
        for (auto [a, b] : {std::pair<int64_t, int64_t>{0, 37}, {250, 262}, {513, 600}}) {
          std::vector<float> qb(size_t(b - a + 2) * row), ob(qb.size());
          std::copy(q.begin() + a * int64_t(row), q.begin() + b * int64_t(row), qb.begin() + int64_t(row));
          std::copy(q.begin() + 5 * int64_t(row), q.begin() + 6 * int64_t(row), qb.begin());
          std::copy(q.begin() + 5 * int64_t(row), q.begin() + 6 * int64_t(row), qb.end() - int64_t(row));
          seqs = {{.row0 = 0, .T = 1, .pos0 = 5, .block_table = c2.table.data()},
                  {.row0 = 1, .T = b - a, .pos0 = a, .block_table = c.table.data()},
                  {.row0 = b - a + 1, .T = 1, .pos0 = 5, .block_table = c.table.data()}};
          // c and c2 differ in layout only through their tables: both index c's storage here.
          attention(make_call(c, s, qb, ob, scale, seqs));
          ASSERT_EQ(0, std::memcmp(ob.data() + row, dec.data() + a * int64_t(row), size_t(b - a) * row * 4))
              << threads << " threads, chunk [" << a << ", " << b << ")";
          ASSERT_EQ(0, std::memcmp(ob.data() + (b - a + 1) * int64_t(row), dec.data() + 5 * int64_t(row), row * 4));
        }
      }
    }
  }
}

// store_kv: the quantization kernels.h states, element by element, the bytes it writes and no more,
// and the error bounds that follow from it (q8: half a step; fp8: e4m3's 3 mantissa bits).
TEST(StoreKv, QuantizesPerBlockAsStated) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0, 1);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (KvDType dt : {KvDType::Q8, KvDType::Q8Head, KvDType::FP8})
    for (int64_t D : {128, 40, 17}) {
      SCOPED_TRACE(testing::Message() << kv_dtype_name(dt) << " D " << D);
      const int64_t heads = 3, block = dt == KvDType::Q8Head ? D : 32, nb = (D + block - 1) / block;
      ASSERT_EQ(kv_head_bytes(dt, D), size_t(D + 2 * nb));
      std::vector<float> x(size_t(heads * D));
      for (auto& e : x) e = nd(rng) * 3;
      for (int64_t e = 0; e < block && e < D; ++e) x[size_t(D + e)] = 0;  // head 1: a zero first block
      x[size_t(2 * D + 1)] = nan, x[size_t(2 * D + 2)] = inf, x[size_t(2 * D + 3)] = -1e9f;  // head 2
      const size_t hb = kv_head_bytes(dt, D);
      std::vector<unsigned char> out(size_t(heads) * hb + 8, 0xa5);
      store_kv(x.data(), heads, D, dt, out.data());
      for (size_t i = size_t(heads) * hb; i < out.size(); ++i) ASSERT_EQ(out[i], 0xa5) << "written past the end";
      const float qmax = dt == KvDType::FP8 ? 448.0f : 127.0f;
      for (int64_t h = 0; h < heads; ++h) {
        const unsigned char* codes = &out[size_t(h) * hb + size_t(2 * nb)];
        const float* xh = &x[size_t(h * D)];
        const auto dq = decode_head(&out[size_t(h) * hb], dt, D);
        for (int64_t b = 0; b < nb; ++b) {
          float a = 0;
          for (int64_t e = b * block; e < std::min(D, (b + 1) * block); ++e)
            if (std::isfinite(xh[e])) a = std::max(a, std::fabs(xh[e]));
          uint16_t want = f32_to_f16(a / qmax), got;
          if (want == 0x7c00) want = 0x7bff;
          std::memcpy(&got, codes - 2 * (b + 1), 2);
          ASSERT_EQ(got, want) << "scale of head " << h << " block " << b;
          const float s = f16_to_f32(want);
          for (int64_t e = b * block; e < std::min(D, (b + 1) * block); ++e) {
            uint8_t c = 0;
            if (s != 0 && std::isfinite(xh[e]))
              c = dt == KvDType::FP8 ? f32_to_e4m3(xh[e] / s)
                                     : uint8_t(int8_t(std::nearbyint(std::clamp(xh[e] / s, -127.0f, 127.0f))));
            ASSERT_EQ(codes[e], c) << "head " << h << " element " << e << " of " << xh[e];
            if (!std::isfinite(xh[e]) || std::fabs(xh[e]) > 1e6f) continue;
            const double err = std::fabs(double(dq[size_t(e)]) - xh[e]);
            if (dt == KvDType::FP8) EXPECT_LE(err, std::max(0.0625 * std::fabs(xh[e]), 0.001953125 * s)) << xh[e];
            else EXPECT_LE(err, 0.5 * s * (1 + 1e-3)) << xh[e];
          }
        }
      }
    }
}

TEST(Attention, BadShapesAreErrors) {
  std::vector<float> q(64), out(64);
  std::vector<unsigned char> kv(4096);
  const int32_t table[1] = {0};
  const std::vector<AttentionSeq> seqs = {{.row0 = 0, .T = 1, .pos0 = 0, .block_table = table}};
  PagedAttention a{.q = q.data(), .q_stride = 32, .out = out.data(), .num_heads = 3, .num_kv_heads = 2,
                   .head_dim = 8, .k = kv.data(), .v = kv.data(), .page_size = 4, .seqs = seqs};
  EXPECT_THROW(attention(a), Error);  // 3 heads over 2 KV heads
  a.num_heads = 4, a.head_dim = 0;
  EXPECT_THROW(attention(a), Error);
  a.head_dim = 8;
  const std::vector<AttentionSeq> bad = {{.row0 = 0, .T = 1, .pos0 = 0, .block_table = nullptr}};
  a.seqs = bad;
  EXPECT_THROW(attention(a), Error);
  // Quantized KV: at most 32 scale blocks per head (head_dim <= 1024); float types have no limit.
  std::vector<float> q2(1056), out2(1056);
  PagedAttention b{.q = q2.data(), .q_stride = 1056, .out = out2.data(), .num_heads = 1, .num_kv_heads = 1,
                   .head_dim = 1056, .kv_dtype = KvDType::Q8, .k = kv.data(), .v = kv.data(), .page_size = 1,
                   .seqs = seqs};
  try {
    attention(b);
    ADD_FAILURE() << "head_dim 1056 with a q8 cache accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head_dim 1056"), std::string::npos) << e.what();
  }
  b.kv_dtype = KvDType::BF16;
  EXPECT_NO_THROW(attention(b));
  b.kv_dtype = KvDType::FP8, b.head_dim = 1024, b.q_stride = 1024;
  EXPECT_NO_THROW(attention(b));
  EXPECT_EQ(out2[0], 0.0f);  // zero codes and scales
}

// convert_f32 rounds bit for bit as core/dtype.h, on every ISA: random values over the whole
// exponent range, ties, subnormals, overflow, infinities and NaN, lengths off the vector width.
TEST(ConvertF32, MatchesScalarRoundingOnEveryIsa) {
  Restore restore;
  std::mt19937 rng(9);
  std::vector<float> x;
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 4000; ++i) {
    const uint32_t b = bits(rng);
    float f;
    std::memcpy(&f, &b, 4);
    x.push_back(f);
  }
  for (float f : {0.0f, -0.0f, 1.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f, -3e-6f, 6.1e-5f, 1e30f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min()})
    x.push_back(f);
  for (uint32_t b : {0x3f808000u, 0x3f818000u, 0x3f800001u, 0x3f801000u, 0x3f803000u, 0x7fc00001u, 0xff800001u})
    for (uint32_t d : {0u, 1u}) {  // bf16 and f16 halfway cases and their neighbours
      float f;
      const uint32_t v = b + d;
      std::memcpy(&f, &v, 4);
      x.push_back(f);
    }
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    for (size_t n : {x.size(), size_t(1), size_t(15), size_t(17), size_t(33)}) {
      const size_t off = x.size() - n;  // the tail holds the special values
      std::vector<uint16_t> b(n + 1, 0xabcd), h(n + 1, 0xabcd);
      std::vector<float> f(n + 1, -7.0f);
      convert_f32(x.data() + off, int64_t(n), DType::BF16, b.data());
      convert_f32(x.data() + off, int64_t(n), DType::F16, h.data());
      convert_f32(x.data() + off, int64_t(n), DType::F32, f.data());
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(b[i], f32_to_bf16(x[off + i])) << isa_name(isa) << " bf16 of " << x[off + i];
        ASSERT_EQ(h[i], f32_to_f16(x[off + i])) << isa_name(isa) << " f16 of " << x[off + i];
        ASSERT_EQ(0, std::memcmp(&f[i], &x[off + i], 4));
      }
      EXPECT_EQ(b[n], 0xabcd);  // nothing written past n
      EXPECT_EQ(h[n], 0xabcd);
      EXPECT_EQ(f[n], -7.0f);
    }
  }
}

}  // namespace
}  // namespace qwen3::kernels
