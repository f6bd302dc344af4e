// config.json -> Qwen3Config: arbitrary bytes through the JSON parser, then from_json and the RoPE
// tables derived from it. qwen3::Error (and nlohmann's parse errors) are expected outcomes.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/qwen3_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  try {
    const qwen3::Qwen3Config c = qwen3::Qwen3Config::from_json(j, "fuzz/config.json");
    // A config that loads must give RoPE tables without crashing; bound head_dim so that a valid
    // but huge value does not turn into an out-of-memory report.
    if (c.head_dim > 0 && c.head_dim <= 4096) (void)qwen3::compute_rope(c);
  } catch (const qwen3::Error&) {
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
