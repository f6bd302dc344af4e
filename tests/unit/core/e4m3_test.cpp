// FP8 E4M3 (OCP "e4m3fn") decoding and encoding against the definition of the format.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/dtype.h"

namespace qwen3 {
namespace {

// The value of a code from its fields, written from the OCP 8-bit floating point spec: bias 7,
// exponent field 0 is subnormal (m/8 * 2^-6), S.1111.111 is NaN, no infinities.
double e4m3_reference(uint8_t b) {
  const int sign = b >> 7, e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  const double v = e == 0 ? m / 8.0 * std::ldexp(1.0, -6) : (1 + m / 8.0) * std::ldexp(1.0, e - 7);
  return sign ? -v : v;
}

TEST(E4m3, DecodesAll256CodesExactly) {
  int nans = 0;
  for (int b = 0; b < 256; ++b) {
    const float got = e4m3_to_f32(uint8_t(b));
    const double want = e4m3_reference(uint8_t(b));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << b;
      ++nans;
      continue;
    }
    EXPECT_EQ(double(got), want) << b;
    EXPECT_EQ(std::signbit(got), b >= 128) << b;  // -0 is 0x80
  }
  EXPECT_EQ(nans, 2);  // 0x7F and 0xFF only
  EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0xFE), -448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x07), 7 * std::ldexp(1.0f, -9));  // largest subnormal
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
}

TEST(E4m3, EveryFiniteCodeRoundTrips) {
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) == 0x7f) continue;
    EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(uint8_t(b))), b) << b;
  }
  EXPECT_EQ(f32_to_e4m3(std::numeric_limits<float>::quiet_NaN()) & 0x7f, 0x7f);
  EXPECT_EQ(f32_to_e4m3(-std::numeric_limits<float>::quiet_NaN()), 0xff);
}

// Encoding is the nearest code, ties to the even mantissa, with |x| beyond 448 saturated: checked
// against a search over the finite codes for random values at every scale.
TEST(E4m3, EncodesToNearestEvenAgainstSearch) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> expo(-14, 10), unit(-1, 1);
  auto nearest = [](double x) {
    int best = -1;
    double bd = 0;
    for (int b = 0; b < 128; ++b) {
      if (b == 0x7f) continue;
      const double d = std::fabs(std::fabs(x) - e4m3_reference(uint8_t(b)));
      if (best < 0 || d < bd || (d == bd && (b & 1) == 0)) best = b, bd = d;
    }
    return uint8_t(best | (x < 0 || (x == 0 && std::signbit(x)) ? 0x80 : 0));
  };
  for (int i = 0; i < 20000; ++i) {
    const float x = float(unit(rng) * std::exp2(expo(rng)));
    EXPECT_EQ(f32_to_e4m3(x), nearest(x)) << x;
  }
  // Every midpoint between neighbouring codes goes to the even one; just beside it, to the nearer.
  for (int b = 0; b < 0x7e; ++b) {
    const double lo = e4m3_reference(uint8_t(b)), hi = e4m3_reference(uint8_t(b + 1));
    const float mid = float((lo + hi) / 2);  // exact in float32
    ASSERT_EQ(double(mid), (lo + hi) / 2);
    EXPECT_EQ(f32_to_e4m3(mid), (b & 1) ? b + 1 : b) << "between codes " << b << " and " << b + 1;
    EXPECT_EQ(f32_to_e4m3(-mid), ((b & 1) ? b + 1 : b) | 0x80);
    EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 0.0f)), b);
    EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 1e9f)), b + 1);
  }
}

TEST(E4m3, SaturatesAtPlusMinus448) {
  for (float x : {448.0f, 449.0f, 463.99f, 464.0f, 480.0f, 1e6f, 3e38f, std::numeric_limits<float>::infinity()}) {
    EXPECT_EQ(f32_to_e4m3(x), 0x7e) << x;
    EXPECT_EQ(f32_to_e4m3(-x), 0xfe) << x;
  }
  EXPECT_EQ(f32_to_e4m3(0.0f), 0x00);
  EXPECT_EQ(f32_to_e4m3(-0.0f), 0x80);
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.0f, -10)), 0x00);  // half the smallest subnormal: tie to 0 (even)
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.5f, -10)), 0x01);
  EXPECT_EQ(f32_to_e4m3(1e-30f), 0x00);
}

}  // namespace
}  // namespace qwen3
