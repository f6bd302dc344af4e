// q8 / q4: the weight quantizer against its definition, and every ISA's matmul against the scalar
// twin (ref::matmul), against the unquantized product, and for batch invariance.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/parallel_for.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

struct QMat {
  WFormat f;
  int64_t rows, cols;
  std::vector<float> src;
  std::vector<uint8_t> data;
  std::vector<uint16_t> scales;
  WeightView view() const { return {f, data.data(), rows, cols, scales.data()}; }
};

QMat quantized(WFormat f, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0, 0.05f);
  QMat m{f, rows, cols, std::vector<float>(size_t(rows * cols)), {}, {}};
  for (auto& v : m.src) v = nd(rng);
  if (rows > 2) std::fill(m.src.begin() + cols, m.src.begin() + 2 * cols, 0.0f);  // an all-zero row
  m.data.resize(weight_data_bytes(f, rows, cols));
  m.scales.resize(weight_scale_count(f, rows, cols));
  quantize_weights(f, m.src.data(), rows, cols, m.data.data(), m.scales.data());
  return m;
}

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(i)) v.push_back(i);
  return v;
}

struct RestoreIsa {
  Isa isa = active_isa();
  int threads = num_threads();
  ~RestoreIsa() {
    set_active_isa(isa);
    set_num_threads(threads);
  }
};

// Each dequantized weight is the nearest multiple of its block scale (ties may go either way),
// within the representable range, and the scale is max|w| / qmax rounded to f16.
TEST(QuantizeWeights, MatchesDefinition) {
  std::mt19937 rng(11);
  for (WFormat f : {WFormat::Q8, WFormat::Q4})
    for (int64_t cols : {1, 31, 32, 33, 100, 256}) {
      QMat m = quantized(f, 5, cols, rng);
      m.src[3] = 0.7f;  // a block with an outlier
      quantize_weights(f, m.src.data(), m.rows, cols, m.data.data(), m.scales.data());
      const int64_t nb = (cols + kQBlock - 1) / kQBlock;
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < m.rows; ++r) {
        load_row(m.view(), r, row.data());
        for (int64_t b = 0; b < nb; ++b) {
          float amax = 0;
          for (int64_t i = b * kQBlock; i < std::min(cols, (b + 1) * kQBlock); ++i) amax = std::max(amax, std::fabs(m.src[size_t(r * cols + i)]));
          const float d = f16_to_f32(m.scales[size_t(r * nb + b)]);
          EXPECT_EQ(m.scales[size_t(r * nb + b)], f32_to_f16(amax / (f == WFormat::Q8 ? 127.0f : 7.0f)));
          for (int64_t i = b * kQBlock; i < std::min(cols, (b + 1) * kQBlock); ++i) {
            const float w = m.src[size_t(r * cols + i)], q = row[size_t(i)];
            if (d == 0) {
              EXPECT_EQ(q, 0.0f);
              continue;
            }
            EXPECT_LE(std::fabs(q - w), 0.5f * d * 1.0001f + std::fabs(w) * 1e-3f) << "row " << r << " col " << i;
            const float k = q / d;
            EXPECT_EQ(k, std::nearbyint(k));
            EXPECT_LE(std::fabs(k), f == WFormat::Q8 ? 127.0f : 8.0f);
          }
        }
        // The padding of a partial block dequantizes to zero.
        if (cols % kQBlock) {
          std::vector<float> padded(size_t(nb * kQBlock));
          WeightView v = m.view();
          v.cols = nb * kQBlock;
          load_row(v, 0, padded.data());  // same bytes read with the padded width
          for (int64_t i = cols; i < nb * kQBlock; ++i) EXPECT_EQ(padded[size_t(i)], 0.0f);
        }
      }
    }
}

// Against the scalar twin: integer block dots are exact in both, so they differ only by float32
// rounding of the per-block terms and of the sums: |Δ| <= 2 (nb + 8) 2^-24 Σ_b |dot_b s_x s_w|,
// bounded here by the same sum over |x| |w_q| (the twin's own terms).
TEST(MatmulQuant, MatchesScalarTwinOnEveryIsa) {
  RestoreIsa restore;
  std::mt19937 rng(12);
  std::normal_distribution<float> nd(0, 1);
  for (Isa isa : isas()) {
    set_active_isa(isa);
    for (WFormat f : {WFormat::Q8, WFormat::Q4})
      for (auto [n, rows, cols] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
               {1, 1, 1}, {1, 7, 31}, {2, 33, 32}, {3, 17, 100}, {5, 64, 256}, {17, 9, 3001}, {64, 40, 1024}, {130, 5, 96},
               {2, 11, 33000}, {6, 9, 33000}}) {  // 33000: more blocks than the kernels keep on the stack
        QMat w = quantized(f, rows, cols, rng);
        std::vector<float> x(size_t(n * cols)), y(size_t(n * rows)), yr(size_t(n * rows)), wrow(static_cast<size_t>(cols));
        for (auto& v : x) v = nd(rng);
        matmul(x.data(), n, w.view(), y.data());
        ref::matmul(x.data(), n, w.view(), yr.data());
        const int64_t nb = (cols + kQBlock - 1) / kQBlock;
        for (int64_t o = 0; o < rows; ++o) {
          load_row(w.view(), o, wrow.data());
          for (int64_t t = 0; t < n; ++t) {
            double mag = 0;
            for (int64_t i = 0; i < cols; ++i) mag += std::fabs(double(x[size_t(t * cols + i)]) * wrow[size_t(i)]);
            const double tol = 2.0 * double(nb + 8) * std::ldexp(1.0, -24) * mag * 1.01 + 1e-30;
            ASSERT_NEAR(y[size_t(t * rows + o)], yr[size_t(t * rows + o)], tol)
                << isa_name(isa) << " " << format_name(f) << " " << n << "x" << rows << "x" << cols << " t" << t << " o" << o;
          }
        }
      }
  }
}

// Against the unquantized product: per element |x w - x_q w_q| <= |x| |w - w_q| + |x - x_q| |w_q|,
// with |w - w_q| <= s_w / 2 (plus the f16 rounding of the scale at the block maximum) and
// |x - x_q| <= s_x / 2.
TEST(MatmulQuant, ErrorAgainstTheUnquantizedProductIsBounded) {
  std::mt19937 rng(13);
  std::normal_distribution<float> nd(0, 1);
  for (WFormat f : {WFormat::Q8, WFormat::Q4}) {
    const int64_t n = 3, rows = 20, cols = 1000, nb = (cols + kQBlock - 1) / kQBlock;
    QMat w = quantized(f, rows, cols, rng);
    std::vector<float> x(size_t(n * cols)), y(size_t(n * rows)), wq(static_cast<size_t>(cols));
    for (auto& v : x) v = nd(rng);
    matmul(x.data(), n, w.view(), y.data());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t o = 0; o < rows; ++o) {
        load_row(w.view(), o, wq.data());
        double exact = 0, bound = 0;
        for (int64_t b = 0; b < nb; ++b) {
          double xmax = 0;
          for (int64_t i = b * kQBlock; i < std::min(cols, (b + 1) * kQBlock); ++i) xmax = std::max(xmax, std::fabs(double(x[size_t(t * cols + i)])));
          const double sx = xmax / 127, sw = f16_to_f32(w.scales[size_t(o * nb + b)]);
          for (int64_t i = b * kQBlock; i < std::min(cols, (b + 1) * kQBlock); ++i) {
            const double xi = x[size_t(t * cols + i)], wi = w.src[size_t(o * cols + i)];
            exact += xi * wi;
            bound += std::fabs(xi) * (0.5 * sw + std::fabs(wi) * 1e-3) + 0.5 * sx * std::fabs(double(wq[size_t(i)]));
          }
        }
        EXPECT_NEAR(y[size_t(t * rows + o)], exact, bound * 1.01 + 1e-6) << format_name(f);
      }
  }
}

// A token's row is the same bits whatever else is in the call and however many threads run it.
TEST(MatmulQuant, BatchAndThreadInvariantOnEveryIsa) {
  RestoreIsa restore;
  std::mt19937 rng(14);
  std::normal_distribution<float> nd(0, 1);
  for (Isa isa : isas()) {
    set_active_isa(isa);
    for (WFormat f : {WFormat::Q8, WFormat::Q4}) {
      const int64_t rows = 70, cols = 300, n = 11;
      QMat w = quantized(f, rows, cols, rng);
      std::vector<float> x(size_t(n * cols)), all(size_t(n * rows)), one(static_cast<size_t>(rows));
      for (auto& v : x) v = nd(rng);
      set_num_threads(2);
      matmul(x.data(), n, w.view(), all.data());
      for (int threads : {1, 2, 3})
        for (int64_t t = 0; t < n; ++t) {
          set_num_threads(threads);
          matmul(x.data() + t * cols, 1, w.view(), one.data());
          for (int64_t o = 0; o < rows; ++o)
            ASSERT_EQ(one[size_t(o)], all[size_t(t * rows + o)]) << isa_name(isa) << " " << format_name(f) << " threads " << threads;
        }
    }
  }
}

// The row-grouped layout (kernels.h, WeightView::row_group): a copy of a row-major weight.
struct Grouped {
  std::vector<uint8_t> data;
  std::vector<uint16_t> scales;
  WeightView view;
};
Grouped grouped(const QMat& m) {
  Grouped g{std::vector<uint8_t>(m.data.size()), std::vector<uint16_t>(m.scales.size()), {}};
  to_row_groups(m.f, m.rows, m.cols, m.data.data(), m.scales.data(), g.data.data(), g.scales.data());
  g.view = {m.f, g.data.data(), m.rows, m.cols, g.scales.data()};
  g.view.row_group = kRowGroup;
  return g;
}

TEST(RowGroups, RoundTripAndRows) {
  std::mt19937 rng(15);
  for (WFormat f : {WFormat::Q8, WFormat::Q4})
    for (int64_t rows : {1, 7, 8, 9, 16, 23})
      for (int64_t cols : {1, 32, 33, 100}) {
        const QMat m = quantized(f, rows, cols, rng);
        const Grouped g = grouped(m);
        if (rows >= 8) {
          EXPECT_NE(g.data, m.data);
        }
        std::vector<uint8_t> back(m.data.size());
        std::vector<uint16_t> back_scales(m.scales.size());
        from_row_groups(f, rows, cols, g.data.data(), g.scales.data(), back.data(), back_scales.data());
        EXPECT_EQ(back, m.data);
        EXPECT_EQ(back_scales, m.scales);
        std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          load_row(m.view(), r, a.data());
          load_row(g.view, r, b.data());
          EXPECT_EQ(a, b) << format_name(f) << " " << rows << "x" << cols << " row " << r;
        }
      }
}

// The layout's contract is a sequence of single IEEE operations, so every ISA gives the scalar
// twin's bits, for any batch, thread count and row split (which makes it batch invariant too).
TEST(RowGroups, MatmulIsBitwiseTheScalarTwinOnEveryIsa) {
  RestoreIsa restore;
  std::mt19937 rng(16);
  std::normal_distribution<float> nd(0, 1);
  for (Isa isa : isas()) {
    set_active_isa(isa);
    for (WFormat f : {WFormat::Q8, WFormat::Q4})
      for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
               {1, 33}, {8, 32}, {9, 100}, {23, 31}, {40, 256}, {70, 300}, {64, 1000}, {16, 33000}}) {
        const QMat m = quantized(f, rows, cols, rng);
        const Grouped g = grouped(m);
        for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 37}) {
          if (cols > 10000 && n > 5) continue;
          std::vector<float> x(size_t(n * cols)), y(size_t(n * rows)), yr(size_t(n * rows)), one(static_cast<size_t>(rows));
          for (auto& v : x) v = nd(rng);
          ref::matmul(x.data(), n, g.view, yr.data());
          for (int threads : {1, 2, 3}) {
            set_num_threads(threads);
            std::fill(y.begin(), y.end(), -1.0f);
            matmul(x.data(), n, g.view, y.data());
            ASSERT_EQ(std::memcmp(y.data(), yr.data(), y.size() * 4), 0)
                << isa_name(isa) << " " << format_name(f) << " n " << n << " " << rows << "x" << cols << " threads " << threads;
          }
          // batch invariance: the last token alone
          matmul(x.data() + (n - 1) * cols, 1, g.view, one.data());
          ASSERT_EQ(std::memcmp(one.data(), yr.data() + (n - 1) * rows, one.size() * 4), 0) << isa_name(isa);
        }
      }
  }
}

}  // namespace
}  // namespace qwen3::kernels
