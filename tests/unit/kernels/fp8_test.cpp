// FP8 (e4m3, 128 x 128 float32 block scales) kernels: every instruction set's matmul against the
// scalar twin (kernels::ref::matmul, through load_row) and the exact float64 sum, batch invariance
// bit for bit, the fused-layer scale rows, and the quantizer.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cpu/isa_table.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

struct Fp8Mat {
  int64_t rows, cols;
  std::vector<uint8_t> q;
  std::vector<float> s;
  std::vector<int32_t> srow;  // empty: the standard grid
  WeightView view() const {
    WeightView v{WFormat::FP8, q.data(), rows, cols};
    v.block_scales = s.data();
    v.block_scale_rows = srow.empty() ? nullptr : srow.data();
    return v;
  }
  double at(int64_t o, int64_t i) const {  // exact dequantized weight
    const int64_t ncb = (cols + kFp8Block - 1) / kFp8Block, r = srow.empty() ? o / kFp8Block : srow[size_t(o)];
    return double(e4m3_to_f32(q[size_t(o * cols + i)])) * s[size_t(r * ncb + i / kFp8Block)];
  }
};

// Every finite code (±0 and subnormals included) with equal chance; scales spread over 2^-12..2^1.
Fp8Mat random_fp8(int64_t rows, int64_t cols, std::mt19937& rng, int64_t scale_rows = -1) {
  std::uniform_int_distribution<int> code(0, 253);
  std::uniform_real_distribution<float> e(-12, 1);
  Fp8Mat m{rows, cols, std::vector<uint8_t>(size_t(rows * cols)), {}, {}};
  for (auto& b : m.q) {
    const int c = code(rng);
    b = uint8_t(c < 127 ? c : c + 1);  // skip 0x7F (and 0xFF: 254 + 1 = 255 never drawn)
  }
  if (scale_rows < 0) scale_rows = (rows + kFp8Block - 1) / kFp8Block;
  m.s.resize(size_t(scale_rows * ((cols + kFp8Block - 1) / kFp8Block)));
  for (auto& v : m.s) v = std::exp2(e(rng));
  return m;
}

std::vector<float> random_x(int64_t n, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> x(size_t(n * cols));
  for (auto& v : x) v = nd(rng);
  return x;
}

struct Kernel {
  std::string name;
  cpu::MatmulFn fn;
};

// The FP8 kernels this CPU can run, taken straight from each folder's fill function (the
// AVX-512 one needs only F, BW and VL, so it is tested on CPUs without AVX512_BF16 too).
std::vector<Kernel> kernels_here() {
  std::vector<Kernel> out;
  cpu::IsaTable t;
  cpu::fill_portable_fp8(t);
  out.push_back({"portable", t.matmul.fp8});
#if defined(__aarch64__)
  cpu::fill_neon(t);
  out.push_back({"neon", t.matmul.fp8});
#elif defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    cpu::fill_avx2(t);
    out.push_back({"avx2", t.matmul.fp8});
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
      cpu::fill_avx512(t);
      out.push_back({"avx512", t.matmul.fp8});
    }
  }
#endif
  return out;
}

void run(const Kernel& k, const float* x, int64_t n, const WeightView& w, float* y, int64_t r0, int64_t r1) {
  cpu::MatmulJob job;
  job.x = x, job.n = n, job.w = w.data, job.rows = w.rows, job.cols = w.cols, job.y = y;
  job.w_block_scales = w.block_scales, job.w_block_scale_rows = w.block_scale_rows;
  k.fn(job, r0, r1);
}

// Both the kernel and the twin are float32 evaluations of sum_i x_i (q_i s_b): each dequantized
// weight q_i s_b and each of the <= cols + 3 multiply-adds or additions rounds once (relative
// 2^-24), so each is within (cols + 4) 2^-24 sum|x w| of the exact sum, and they are within twice
// that of each other.
void expect_close(const Fp8Mat& w, const std::vector<float>& x, int64_t n, const std::vector<float>& y,
                  const std::vector<float>& yr, const std::string& what) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < w.rows; ++o) {
      double mag = 0, exact = 0;
      for (int64_t i = 0; i < w.cols; ++i) {
        const double p = double(x[size_t(t * w.cols + i)]) * w.at(o, i);
        mag += std::fabs(p), exact += p;
      }
      const double tol = 2.0 * double(w.cols + 4) * std::ldexp(1.0, -24) * mag + 1e-35;
      ASSERT_NEAR(y[size_t(t * w.rows + o)], yr[size_t(t * w.rows + o)], tol) << what << " t " << t << " o " << o;
      ASSERT_NEAR(y[size_t(t * w.rows + o)], exact, tol / 2) << what << " t " << t << " o " << o;
    }
}

using Shape = std::tuple<int64_t, int64_t, int64_t>;  // n, rows, cols
const std::vector<Shape> kShapes = {{1, 1, 1},     {1, 7, 15},     {3, 33, 16},   {4, 17, 17},   {5, 130, 100},
                                    {9, 40, 257},  {2, 129, 128},  {6, 200, 300}, {1, 256, 1024}, {7, 3, 383},
                                    {8, 128, 160}, {1, 64, 129}, {5, 40, 1100}, {4, 19, 640}, {1, 21, 1100}};

TEST(Fp8Matmul, EveryIsaMatchesScalarTwinAndExactSum) {
  std::mt19937 rng(11);
  for (const Kernel& k : kernels_here())
    for (auto [n, rows, cols] : kShapes) {
      const Fp8Mat w = random_fp8(rows, cols, rng);
      const auto x = random_x(n, cols, rng);
      std::vector<float> y(size_t(n * rows)), yr(y.size());
      run(k, x.data(), n, w.view(), y.data(), 0, rows);
      ref::matmul(x.data(), n, w.view(), yr.data());
      expect_close(w, x, n, y, yr, k.name + " " + std::to_string(n) + "x" + std::to_string(rows) + "x" + std::to_string(cols));
    }
}

// A token row's result is the same bits whether it is alone, in a batch of any size, or computed
// over any split of the output rows.
TEST(Fp8Matmul, BatchAndSplitInvariantBitForBit) {
  std::mt19937 rng(12);
  for (const Kernel& k : kernels_here())
    for (auto [rows, cols, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {50, 77, 11}, {130, 300, 11}, {17, 128, 11}, {21, 1100, 11}, {43, 700, 200}}) {  // 200: 3 token blocks (96, 96, 8)
      const Fp8Mat w = random_fp8(rows, cols, rng);
      const auto x = random_x(n, cols, rng);
      std::vector<float> all(size_t(n * rows)), split(all.size()), one(static_cast<size_t>(rows));
      run(k, x.data(), n, w.view(), all.data(), 0, rows);
      for (int64_t r = 0; r < rows;) {  // uneven row ranges
        const int64_t r1 = std::min(rows, r + 1 + int64_t(rng() % 23));
        run(k, x.data(), n, w.view(), split.data(), r, r1);
        r = r1;
      }
      ASSERT_EQ(std::memcmp(all.data(), split.data(), all.size() * 4), 0) << k.name;
      for (int64_t m : {1, 2, 3, 5}) {  // prefixes of every size: tokens in groups of 4, then 3, 2, 1
        std::vector<float> part(size_t(m * rows));
        run(k, x.data(), m, w.view(), part.data(), 0, rows);
        ASSERT_EQ(std::memcmp(part.data(), all.data(), part.size() * 4), 0) << k.name << " n=" << m;
      }
      for (int64_t t = 0; t < n; ++t) {
        run(k, x.data() + t * cols, 1, w.view(), one.data(), 0, rows);
        ASSERT_EQ(std::memcmp(one.data(), all.data() + t * rows, size_t(rows) * 4), 0) << k.name << " t=" << t;
      }
    }
}

// The public entry (active ISA, thread pool) gives the bits of its kernel called on the whole range.
TEST(Fp8Matmul, DispatchMatchesActiveKernel) {
  std::mt19937 rng(13);
  const Fp8Mat w = random_fp8(333, 250, rng);
  const auto x = random_x(6, 250, rng);
  std::vector<float> y(6 * 333), yd(y.size());
  matmul(x.data(), 6, w.view(), y.data());
  for (const Kernel& k : kernels_here())
    if (k.name == isa_name(active_isa())) {
      run(k, x.data(), 6, w.view(), yd.data(), 0, 333);
      EXPECT_EQ(std::memcmp(y.data(), yd.data(), y.size() * 4), 0);
    }
  WeightView bad = w.view();
  bad.block_scales = nullptr;
  EXPECT_THROW(matmul(x.data(), 6, bad, y.data()), Error);
}

// A fused layer of parts with 70 and 100 rows: each part keeps its own block grid (1 + 1 scale
// rows), addressed through block_scale_rows.
TEST(Fp8Matmul, FusedPartsKeepTheirOwnScaleRows) {
  std::mt19937 rng(14);
  Fp8Mat w = random_fp8(170, 200, rng, 2);
  for (int64_t o = 0; o < 170; ++o) w.srow.push_back(o < 70 ? 0 : 1);
  std::vector<float> row(200);
  load_row(w.view(), 100, row.data());
  for (int64_t i = 0; i < 200; ++i) ASSERT_EQ(row[size_t(i)], e4m3_to_f32(w.q[size_t(100 * 200 + i)]) * w.s[size_t(2 + i / 128)]);
  const auto x = random_x(3, 200, rng);
  for (const Kernel& k : kernels_here()) {
    std::vector<float> y(3 * 170), yr(y.size());
    run(k, x.data(), 3, w.view(), y.data(), 0, 170);
    ref::matmul(x.data(), 3, w.view(), yr.data());
    expect_close(w, x, 3, y, yr, k.name + " fused");
  }
}

TEST(Fp8Matmul, LoadRowIsTheExactDequantization) {
  std::mt19937 rng(15);
  const Fp8Mat w = random_fp8(131, 260, rng);
  std::vector<float> row(260);
  for (int64_t o : {0, 127, 128, 130}) {
    load_row(w.view(), o, row.data());
    for (int64_t i = 0; i < 260; ++i) ASSERT_EQ(row[size_t(i)], float(w.at(o, i))) << o << " " << i;  // product rounded once
  }
}

TEST(Fp8Quantize, BlocksScalesAndRounding) {
  std::mt19937 rng(16);
  std::normal_distribution<float> nd(0, 0.05f);
  const int64_t rows = 200, cols = 300;  // 2 x 3 blocks, partial at the bottom and the right
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = nd(rng);
  for (int64_t r = 128; r < 200; ++r)  // block (1, 0) all zero
    for (int64_t c = 0; c < 128; ++c) w[size_t(r * cols + c)] = 0;
  w[size_t(5 * cols + 260)] = -3.0f;  // block (0, 2)'s maximum, negative
  std::vector<uint8_t> q(w.size());
  std::vector<float> s(fp8_scale_count(rows, cols));
  ASSERT_EQ(s.size(), 6u);
  quantize_fp8(w.data(), rows, cols, q.data(), s.data());
  EXPECT_EQ(s[3], FLT_EPSILON);  // the all-zero block
  EXPECT_EQ(s[2], 3.0f / 448.0f);
  EXPECT_EQ(q[size_t(5 * cols + 260)], 0xFE);  // -448
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float sc = s[size_t((r / 128) * 3 + c / 128)], v = w[size_t(r * cols + c)];
      ASSERT_EQ(q[size_t(r * cols + c)], f32_to_e4m3(v / sc));
      // Round to nearest: within half a step, 2^-4 relative for normals, 2^-10 absolute (x scale) below.
      const double err = std::fabs(double(e4m3_to_f32(q[size_t(r * cols + c)])) * sc - v);
      ASSERT_LE(err, std::max(std::fabs(double(v)) / 16, std::ldexp(double(sc), -10)) * (1 + 1e-6)) << r << " " << c;
    }
  w[7] = NAN;
  EXPECT_THROW(quantize_fp8(w.data(), rows, cols, q.data(), s.data()), Error);
}

}  // namespace
}  // namespace qwen3::kernels
