// Matmul with f32 / bf16 / f16 weights, for every instruction set this CPU runs: against the scalar
// twin (ref::matmul) and an exact float64 sum, bitwise batch invariance (n, thread count, row
// split), and the bf16_activations path against a twin that rounds x to bf16.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

struct Mat {
  DType dt;
  int64_t rows, cols;
  std::vector<float> f;      // the exact values (after rounding to dt)
  std::vector<uint16_t> h;   // storage for bf16 / f16
  WeightView view() const { return {format_of(dt), dt == DType::F32 ? static_cast<const void*>(f.data()) : h.data(), rows, cols}; }
};

Mat random_mat(DType dt, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0, 1);
  Mat m{dt, rows, cols, std::vector<float>(size_t(rows * cols)), {}};
  if (dt != DType::F32) m.h.resize(m.f.size());
  for (size_t i = 0; i < m.f.size(); ++i) {
    float v = nd(rng);
    if (dt == DType::BF16) m.h[i] = f32_to_bf16(v), v = bf16_to_f32(m.h[i]);
    if (dt == DType::F16) m.h[i] = f32_to_f16(v), v = f16_to_f32(m.h[i]);
    m.f[i] = v;
  }
  return m;
}

// Runs the body once per instruction set this CPU supports; restores the ISA and thread count.
class EachIsa {
 public:
  EachIsa() : isa_(active_isa()), threads_(num_threads()) {}
  ~EachIsa() {
    set_active_isa(isa_);
    set_num_threads(threads_);
  }
  template <typename Fn>
  void run(Fn&& fn) {
    for (Isa i : {Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
      if (!isa_supported(i)) continue;
      set_active_isa(i);
      SCOPED_TRACE(std::string(isa_name(i)));
      fn(i);
    }
  }

 private:
  Isa isa_;
  int threads_;
};

constexpr DType kFormats[] = {DType::F32, DType::BF16, DType::F16};

// Checks y against the twin yr and the exact float64 sum of x · Wᵀ. Tolerance: a float32 summation
// of `cols` products (exact or single-rounded products) differs from the exact sum by at most
// cols · u · Σ|x w| (u = 2^-24, standard model), so two of them differ from each other by twice that.
void expect_close(const std::vector<float>& x, const Mat& w, int64_t n, const std::vector<float>& y,
                  const std::vector<float>& yr, const std::string& what) {
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < w.rows; ++o) {
      double mag = 0, exact = 0;
      for (int64_t i = 0; i < w.cols; ++i) {
        const double p = double(x[size_t(t * w.cols + i)]) * w.f[size_t(o * w.cols + i)];
        mag += std::fabs(p), exact += p;
      }
      const double tol = 2.0 * double(w.cols) * std::ldexp(1.0, -24) * mag + 1e-30;
      const float v = y[size_t(t * w.rows + o)];
      ASSERT_NEAR(v, yr[size_t(t * w.rows + o)], tol) << what << " t=" << t << " o=" << o;
      ASSERT_NEAR(v, exact, tol) << what << " t=" << t << " o=" << o;
    }
}

using Shape = std::tuple<int64_t, int64_t, int64_t>;  // n, rows, cols
const std::vector<Shape> kShapes = {
    {1, 1, 1},   {1, 7, 15},    {3, 33, 16},  {5, 17, 17},   {17, 13, 31},  {64, 20, 100},
    {130, 9, 33}, {1, 40, 3001}, {3, 25, 2049}, {5, 14, 4099}, {17, 7, 1000}, {2, 1000, 64}, {4, 50, 47}};

TEST(MatmulFloat, MatchesScalarTwin) {
  EachIsa isas;
  isas.run([](Isa) {
    std::mt19937 rng(1);
    for (DType dt : kFormats)
      for (auto [n, rows, cols] : kShapes) {
        const Mat w = random_mat(dt, rows, cols, rng);
        const Mat x = random_mat(DType::F32, n, cols, rng);
        std::vector<float> y(size_t(n * rows)), yr(size_t(n * rows));
        matmul(x.f.data(), n, w.view(), y.data());
        ref::matmul(x.f.data(), n, w.view(), yr.data());
        expect_close(x.f, w, n, y, yr, fmt::format("{} n={} rows={} cols={}", dtype_name(dt), n, rows, cols));
      }
  });
}

// Every row of an n-row call equals the same row computed alone, bit for bit: for n from 1 past
// the decode / prefill switch and past a token block, starting at different token offsets, with
// 1, 2 and 3 threads (which also changes how rows are split).
void check_batch_invariance(bool bf16_activations) {
  EachIsa isas;
  isas.run([&](Isa) {
    std::mt19937 rng(2);
    const MatmulOptions opts{.bf16_activations = bf16_activations};
    for (DType dt : kFormats) {
      if (bf16_activations && dt != DType::BF16) continue;
      for (int64_t cols : {77, 1024}) {
        const int64_t rows = 101, total = 40;
        const Mat w = random_mat(dt, rows, cols, rng);
        const Mat x = random_mat(DType::F32, total, cols, rng);
        set_num_threads(1);
        std::vector<float> alone(size_t(total * rows));
        for (int64_t t = 0; t < total; ++t) matmul(x.f.data() + t * cols, 1, w.view(), alone.data() + t * rows, opts);
        std::vector<float> y(size_t(total * rows));
        for (int threads : {1, 2, 3}) {
          set_num_threads(threads);
          for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 17, 25, 40})
            for (int64_t start : {int64_t(0), int64_t(1), total - n}) {
              if (start + n > total) continue;
              matmul(x.f.data() + start * cols, n, w.view(), y.data(), opts);
              for (int64_t t = 0; t < n; ++t)
                for (int64_t o = 0; o < rows; ++o)
                  ASSERT_EQ(y[size_t(t * rows + o)], alone[size_t((start + t) * rows + o)])
                      << dtype_name(dt) << " cols=" << cols << " threads=" << threads << " n=" << n
                      << " start=" << start << " t=" << t << " o=" << o;
            }
        }
      }
    }
  });
}

TEST(MatmulFloat, RowResultsDoNotDependOnBatchThreadsOrSplit) { check_batch_invariance(false); }
TEST(MatmulFloat, Bf16ActivationsRowResultsDoNotDependOnBatchThreadsOrSplit) { check_batch_invariance(true); }

// bf16_activations (AVX-512 with BF16 weights): against a twin that rounds x to bf16 (f32_to_bf16)
// and runs ref::matmul. A product of two bf16 values (8-bit significands) is exact in float32, so
// both sides are float32 summations of the same exact products in different orders (vdpbf16ps
// rounds its two products' sums with round to nearest even), and the bound of expect_close holds
// with x replaced by its bf16 rounding. The inputs are normal(0, 1): no denormals, which
// vdpbf16ps would read as zero. Where the option is not honoured (other ISAs, other formats) the
// result is the exact path's, bit for bit.
TEST(MatmulFloat, Bf16ActivationsMatchRoundedTwin) {
  EachIsa isas;
  isas.run([](Isa isa) {
    std::mt19937 rng(3);
    const MatmulOptions fast{.bf16_activations = true};
    for (DType dt : kFormats)
      for (auto [n, rows, cols] : kShapes) {
        const Mat w = random_mat(dt, rows, cols, rng);
        const Mat x = random_mat(DType::F32, n, cols, rng);
        std::vector<float> y(size_t(n * rows)), yr(size_t(n * rows));
        matmul(x.f.data(), n, w.view(), y.data(), fast);
        const std::string what = fmt::format("{} n={} rows={} cols={}", dtype_name(dt), n, rows, cols);
        if (isa == Isa::Avx512 && dt == DType::BF16) {
          std::vector<float> xr(x.f.size());
          for (size_t i = 0; i < xr.size(); ++i) xr[i] = bf16_to_f32(f32_to_bf16(x.f[i]));
          ref::matmul(xr.data(), n, w.view(), yr.data());
          expect_close(xr, w, n, y, yr, what);
        } else {
          matmul(x.f.data(), n, w.view(), yr.data());
          for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], yr[i]) << what;
        }
      }
  });
}

// The bf16 path is not the exact path: on AVX-512 its error against the exact sum is of the size
// of bf16 rounding of x (2^-9 relative per term), far above the exact path's bound. This keeps the
// test above from passing by silently running the exact kernel.
TEST(MatmulFloat, Bf16ActivationsReallyRoundActivations) {
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512 BF16 on this CPU";
  EachIsa isas;
  set_active_isa(Isa::Avx512);
  std::mt19937 rng(4);
  const Mat w = random_mat(DType::BF16, 8, 512, rng);
  const Mat x = random_mat(DType::F32, 3, 512, rng);
  std::vector<float> fast(24), exact(24);
  matmul(x.f.data(), 3, w.view(), fast.data(), {.bf16_activations = true});
  matmul(x.f.data(), 3, w.view(), exact.data());
  int differ = 0;
  for (size_t i = 0; i < fast.size(); ++i) differ += fast[i] != exact[i];
  EXPECT_GT(differ, 12);
}

// --- the row-grouped layout (kernels.h: groups of 8 rows, 32-column runs) ---

struct GroupedMat {
  std::vector<uint8_t> data;
  WeightView view;
};
GroupedMat grouped(const Mat& m) {
  const WeightView plain = m.view();
  GroupedMat g{std::vector<uint8_t>(weight_data_bytes(plain.format, m.rows, m.cols)), plain};
  to_row_groups(plain.format, m.rows, m.cols, plain.data, nullptr, g.data.data(), nullptr);
  g.view.data = g.data.data();
  g.view.row_group = kRowGroup;
  return g;
}

TEST(MatmulFloatRowGroups, LayoutRoundTripAndRows) {
  std::mt19937 rng(5);
  for (DType dt : kFormats) {
    const WFormat f = format_of(dt);
    EXPECT_TRUE(has_row_groups(f, 64));
    EXPECT_FALSE(has_row_groups(f, 33));
    for (int64_t rows : {1, 7, 8, 9, 16, 23})
      for (int64_t cols : {32, 64, 96}) {
        const Mat m = random_mat(dt, rows, cols, rng);
        const GroupedMat g = grouped(m);
        const auto* plain = static_cast<const uint8_t*>(m.view().data);
        const size_t bytes = g.data.size();
        // The layout as stated: element i of row o (o < rows - rows % 8) at
        // ((o / 8) * cols / 32 + i / 32) * 256 + (o % 8) * 32 + i % 32; the tail row-major.
        const size_t es = bytes / size_t(rows * cols);
        for (int64_t o = 0; o < rows; ++o)
          for (int64_t i = 0; i < cols; ++i) {
            const int64_t at = o < rows - rows % 8 ? ((o / 8) * cols / 32 + i / 32) * 256 + (o % 8) * 32 + i % 32 : o * cols + i;
            ASSERT_EQ(0, std::memcmp(g.data.data() + size_t(at) * es, plain + size_t(o * cols + i) * es, es))
                << dtype_name(dt) << " " << rows << "x" << cols << " o=" << o << " i=" << i;
          }
        std::vector<uint8_t> back(bytes);
        from_row_groups(f, rows, cols, g.data.data(), nullptr, back.data(), nullptr);
        EXPECT_EQ(0, std::memcmp(back.data(), plain, bytes));
        std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          load_row(m.view(), r, a.data());
          load_row(g.view, r, b.data());
          ASSERT_EQ(a, b) << dtype_name(dt) << " " << rows << "x" << cols << " row " << r;
        }
      }
    // No layout for columns that are not a multiple of 32: a clear error, not a silent copy.
    const Mat odd = random_mat(dt, 8, 33, rng);
    std::vector<uint8_t> out(weight_data_bytes(f, 8, 33));
    EXPECT_THROW(to_row_groups(f, 8, 33, odd.view().data, nullptr, out.data(), nullptr), Error);
    WeightView bad = odd.view();
    bad.row_group = kRowGroup;
    std::vector<float> x(33), y(8);
    EXPECT_THROW(matmul(x.data(), 1, bad, y.data()), Error);
  }
}

// Only the addresses differ from row-major: the same bits on every ISA, for every batch size (both
// sides of the decode / prefill switch and the tile sizes), thread count (row splits), row counts
// that leave a row-major tail, and the bf16-activation path.
TEST(MatmulFloatRowGroups, BitwiseTheRowMajorResultOnEveryIsa) {
  EachIsa isas;
  isas.run([](Isa) {
    std::mt19937 rng(6);
    for (bool fast : {false, true})
      for (DType dt : kFormats) {
        if (fast && dt != DType::BF16) continue;
        const MatmulOptions opts{.bf16_activations = fast};
        // The last two shapes span several of the grouped prefill's row blocks (256 KiB of
        // weights: 128 and 32 rows of 16-bit weights) and, at n = 130 with 4096 columns, two of
        // its token blocks (2 MiB of float32 x: 126 tokens), each with a partial last block.
        for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
                 {8, 32}, {9, 64}, {23, 96}, {40, 256}, {70, 320}, {101, 1024}, {300, 1024}, {75, 4096}}) {
          const Mat w = random_mat(dt, rows, cols, rng);
          const GroupedMat g = grouped(w);
          for (int64_t n : {1, 2, 3, 4, 5, 7, 13, 40, 130}) {
            const Mat x = random_mat(DType::F32, n, cols, rng);
            std::vector<float> y(size_t(n * rows)), yg(size_t(n * rows));
            for (int threads : {1, 2, 3}) {
              set_num_threads(threads);
              matmul(x.f.data(), n, w.view(), y.data(), opts);
              matmul(x.f.data(), n, g.view, yg.data(), opts);
              for (size_t i = 0; i < y.size(); ++i)
                ASSERT_EQ(yg[i], y[i]) << dtype_name(dt) << (fast ? " bf16 x" : "") << " " << rows << "x" << cols
                                       << " n=" << n << " threads=" << threads << " at " << i;
            }
          }
        }
      }
  });
}

}  // namespace
}  // namespace qwen3::kernels
