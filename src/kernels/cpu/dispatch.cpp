// The one dispatch point of the CPU kernels: the instruction set is chosen once per process, and
// every public kernel entry goes through its table. Also the format helpers of kernels.h.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/parallel_for.h"
#include "kernels/cpu/isa_table.h"
#include "kernels/cpu/row_groups.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

// Whether this build has the ISA's kernels and this CPU runs them. The x86 folders are compiled
// on x86-64 only, neon/ on AArch64 only (CMakeLists.txt); the portable kernels everywhere.
bool cpu_runs(Isa isa) {
#if defined(__x86_64__)
  __builtin_cpu_init();  // may run from another static initialiser, before libgcc's own
  switch (isa) {
    case Isa::Portable: return true;
    case Isa::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case Isa::Avx512:
      return cpu_runs(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vnni");
    case Isa::Neon: return false;
  }
  return false;
#elif defined(__aarch64__)
  return isa == Isa::Portable || isa == Isa::Neon;  // Advanced SIMD is part of AArch64
#else
  return isa == Isa::Portable;
#endif
}

// The portable kernels, then the ISA's own over them (an entry an ISA leaves null stays portable).
cpu::IsaTable make_table(Isa isa) {
  cpu::IsaTable t;
  cpu::fill_portable_float(t);
  cpu::fill_portable_quant(t);
  cpu::fill_portable_attention(t);
  cpu::fill_portable_fp8(t);
#if defined(__x86_64__)
  if (isa == Isa::Avx2) cpu::fill_avx2(t);
  if (isa == Isa::Avx512) cpu::fill_avx512(t), cpu::fill_avx512_quant_rows8(t);
#elif defined(__aarch64__)
  if (isa == Isa::Neon) cpu::fill_neon(t);
#endif
  return t;
}

// In increasing preference: each ISA but portable runs on one architecture, so the last one that
// runs is the best.
constexpr Isa kIsas[] = {Isa::Portable, Isa::Avx2, Isa::Avx512, Isa::Neon};

Isa initial_isa() {
  Isa best = Isa::Portable;
  for (Isa i : kIsas)
    if (cpu_runs(i)) best = i;
  if (const char* e = std::getenv("QWEN3_ISA"); e && *e) {
    for (Isa i : kIsas)
      if (isa_name(i) == e) {
        if (!cpu_runs(i)) fail("QWEN3_ISA={}: this CPU does not run it (best: {})", e, isa_name(best));
        return i;
      }
    fail("QWEN3_ISA={}: not one of portable, avx2, avx512, neon", e);
  }
  return best;
}

struct Active {
  Isa isa;
  cpu::IsaTable table;
};

Active& active() {
  static Active a = [] {
    const Isa i = initial_isa();
    return Active{i, make_table(i)};
  }();
  return a;
}

}  // namespace

const cpu::IsaTable& cpu::active_table() { return active().table; }

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "?";
}

bool isa_supported(Isa isa) { return cpu_runs(isa); }
Isa active_isa() { return active().isa; }
bool prefers_row_groups() { return active().isa == Isa::Avx512; }

void set_active_isa(Isa isa) {
  if (!cpu_runs(isa)) fail("instruction set {} is not supported on this CPU", isa_name(isa));
  active() = Active{isa, make_table(isa)};
}

std::string_view format_name(WFormat f) {
  switch (f) {
    case WFormat::F32: return "f32";
    case WFormat::BF16: return "bf16";
    case WFormat::F16: return "f16";
    case WFormat::Q8: return "q8";
    case WFormat::Q4: return "q4";
    case WFormat::FP8: return "fp8";
  }
  return "?";
}

WFormat format_of(DType t) {
  switch (t) {
    case DType::F32: return WFormat::F32;
    case DType::BF16: return WFormat::BF16;
    case DType::F16: return WFormat::F16;
  }
  return WFormat::F32;
}

bool is_quantized(WFormat f) { return f == WFormat::Q8 || f == WFormat::Q4; }

size_t weight_data_bytes(WFormat f, int64_t rows, int64_t cols) {
  const size_t kpad = size_t((cols + kQBlock - 1) / kQBlock * kQBlock);
  switch (f) {
    case WFormat::F32: return size_t(rows * cols) * 4;
    case WFormat::BF16:
    case WFormat::F16: return size_t(rows * cols) * 2;
    case WFormat::Q8: return size_t(rows) * kpad;
    case WFormat::Q4: return size_t(rows) * kpad / 2;
    case WFormat::FP8: return size_t(rows * cols);
  }
  return 0;
}

size_t fp8_scale_count(int64_t rows, int64_t cols) {
  return size_t(((rows + kFp8Block - 1) / kFp8Block) * ((cols + kFp8Block - 1) / kFp8Block));
}

size_t weight_scale_count(WFormat f, int64_t rows, int64_t cols) {
  return is_quantized(f) ? size_t(rows * ((cols + kQBlock - 1) / kQBlock)) : 0;
}

static_assert(cpu::kGroupRows == kRowGroup && cpu::kGroupCols == kFloatGroupCols);

namespace {
// The table's kernel for weights of format f (in row groups: `grouped`; BF16 with activations
// rounded to bf16: `bf16_x`); null when the ISA has none.
cpu::MatmulFn matmul_kernel(const cpu::MatmulKernels& k, WFormat f, bool grouped, bool bf16_x) {
  switch (f) {
    case WFormat::F32: return grouped ? k.f32_rows8 : k.f32;
    case WFormat::BF16: return bf16_x ? (grouped ? k.bf16_x_bf16_rows8 : k.bf16_x_bf16) : grouped ? k.bf16_rows8 : k.bf16;
    case WFormat::F16: return grouped ? k.f16_rows8 : k.f16;
    case WFormat::Q8: return grouped ? k.q8_rows8 : k.q8;
    case WFormat::Q4: return grouped ? k.q4_rows8 : k.q4;
    case WFormat::FP8: return k.fp8;
  }
  return nullptr;
}
}  // namespace

void matmul(const float* x, int64_t n, const WeightView& w, float* y, const MatmulOptions& opts) {
  if (n == 0 || w.rows == 0) return;
  const cpu::IsaTable& t = active().table;
  const bool grouped = w.row_group == kRowGroup && has_row_groups(w.format, w.cols);
  if (w.row_group != 0 && !grouped)
    fail("matmul: row_group {} of {} weights of {} columns", w.row_group, format_name(w.format), w.cols);
  cpu::MatmulJob job;
  job.bf16_activations = opts.bf16_activations && w.format == WFormat::BF16 && t.matmul.bf16_x_bf16 != nullptr;
  const cpu::MatmulFn fn = matmul_kernel(t.matmul, w.format, grouped, job.bf16_activations);
  if (!fn) fail("matmul: no {} kernel for {} weights", isa_name(active().isa), format_name(w.format));
  job.x = x, job.n = n, job.w = w.data, job.w_scales = w.scales, job.rows = w.rows, job.cols = w.cols, job.y = y;
  job.w_block_scales = w.block_scales, job.w_block_scale_rows = w.block_scale_rows;
  if (w.format == WFormat::FP8 && !w.block_scales) fail("matmul: fp8 weights without block scales");
  if (is_quantized(w.format)) {
    // Grows to the largest call and stays: no allocation in steady state.
    thread_local std::vector<uint8_t> xq;
    const size_t bytes = t.quantized_bytes(n, w.cols);
    if (xq.size() < bytes) xq.resize(bytes);
    void* out = xq.data();
    parallel_for(n, 4, [&](int64_t t0, int64_t t1) { t.quantize_activations(x, w.cols, t0, t1, n, out); });
    job.xq = out;
    job.xs = reinterpret_cast<const float*>(static_cast<const uint8_t*>(out) + t.quantized_scales_offset(n, w.cols));
  }
  if (job.bf16_activations) {
    // x rounded to bf16 once per call (not once per thread), [n, cols]; grows once like xq.
    thread_local std::vector<uint16_t> xb;
    const size_t count = size_t(n * w.cols);
    if (xb.size() < count) xb.resize(count);
    uint16_t* out = xb.data();
    const int64_t cols = w.cols;
    parallel_for(n, 16, [&](int64_t t0, int64_t t1) {
      for (int64_t i = t0 * cols; i < t1 * cols; ++i) out[i] = f32_to_bf16(x[i]);
    });
    job.xq = out;
  }
  // Tasks of 16 output rows keep each thread's weight rows contiguous (and start on row groups).
  parallel_for(w.rows, 16, [&](int64_t r0, int64_t r1) { fn(job, r0, r1); });
}

namespace {
void load_row_grouped(const WeightView& w, int64_t row, float* out) {
  const int64_t nb = (w.cols + kQBlock - 1) / kQBlock, bb = w.format == WFormat::Q8 ? kQBlock : kQBlock / 2;
  const uint8_t* q = static_cast<const uint8_t*>(w.data);
  for (int64_t i = 0; i < w.cols; ++i) {
    const int64_t b = i / kQBlock, j = i % kQBlock;
    const uint8_t byte = q[cpu::row_group_byte(row, b, j % bb, w.rows, nb, bb)];
    const int v = w.format == WFormat::Q8 ? int(int8_t(byte)) : (j < 16 ? (byte & 15) : (byte >> 4)) - 8;
    out[i] = float(v) * f16_to_f32(w.scales[cpu::row_group_scale(row, b, w.rows, nb)]);
  }
}

void load_row16(const WeightView& w, int64_t row, float* out, float (*convert)(uint16_t)) {
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + size_t(row * w.cols) * 2;
  for (int64_t i = 0; i < w.cols; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = convert(h);
  }
}

// F32 / BF16 / F16 in row groups: 32-element runs gathered from the group.
void load_row_grouped_float(const WeightView& w, int64_t row, float* out) {
  const uint8_t* p = static_cast<const uint8_t*>(w.data);
  const size_t es = w.format == WFormat::F32 ? 4 : 2;
  for (int64_t i = 0; i < w.cols; ++i) {
    const uint8_t* e = p + size_t(cpu::row_group_elem(row, i, w.rows, w.cols)) * es;
    if (es == 4) {
      std::memcpy(&out[i], e, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, e, 2);
      out[i] = w.format == WFormat::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
}
}  // namespace

void load_row(const WeightView& w, int64_t row, float* out) {
  if (w.row_group && is_quantized(w.format)) return load_row_grouped(w, row, out);
  if (w.row_group) {
    if (!has_row_groups(w.format, w.cols))
      fail("load_row: row_group {} of {} weights of {} columns", w.row_group, format_name(w.format), w.cols);
    return load_row_grouped_float(w, row, out);
  }
  const int64_t nb = (w.cols + kQBlock - 1) / kQBlock;
  switch (w.format) {
    case WFormat::F32:
      std::memcpy(out, static_cast<const float*>(w.data) + row * w.cols, size_t(w.cols) * 4);
      return;
    // 16-bit reads through memcpy: a row straight from a mapped safetensors file may sit at an odd
    // address (the format does not require alignment).
    case WFormat::BF16: return load_row16(w, row, out, bf16_to_f32);
    case WFormat::F16: return load_row16(w, row, out, f16_to_f32);
    case WFormat::Q8: {
      const int8_t* q = static_cast<const int8_t*>(w.data) + size_t(row * nb * kQBlock);
      for (int64_t i = 0; i < w.cols; ++i) out[i] = float(q[i]) * f16_to_f32(w.scales[row * nb + i / kQBlock]);
      return;
    }
    case WFormat::Q4: {
      const uint8_t* q = static_cast<const uint8_t*>(w.data) + size_t(row * nb * kQBlock / 2);
      for (int64_t i = 0; i < w.cols; ++i) {
        const int64_t b = i / kQBlock, j = i % kQBlock;
        const uint8_t byte = q[b * 16 + j % 16];
        const int nib = j < 16 ? (byte & 15) : (byte >> 4);
        out[i] = float(nib - 8) * f16_to_f32(w.scales[row * nb + b]);
      }
      return;
    }
    case WFormat::FP8: {
      const uint8_t* q = static_cast<const uint8_t*>(w.data) + size_t(row * w.cols);
      const int64_t ncb = (w.cols + kFp8Block - 1) / kFp8Block;
      const int64_t srow = w.block_scale_rows ? w.block_scale_rows[row] : row / kFp8Block;
      const float* s = w.block_scales + srow * ncb;
      for (int64_t i = 0; i < w.cols; ++i) out[i] = e4m3_to_f32(q[i]) * s[i / kFp8Block];
      return;
    }
  }
}

}  // namespace qwen3::kernels
