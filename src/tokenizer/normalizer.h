// The normalizer of tokenizer.json: NFC (Qwen3) or none. NFC as Hugging Face computes it, whose
// tables are Unicode 9.0: characters with normalization data added later are left alone (see
// normalizer.cpp), and long runs of combining marks are ordered in O(n log n).
#pragma once

#include <string>
#include <string_view>

namespace qwen3 {

enum class Normalization { kNone, kNfc };

// Appends `text` (valid UTF-8) to `out` in the given normalization form. Pure ASCII text is
// already NFC and is copied without calling utf8proc.
void normalize(Normalization form, std::string_view text, std::string& out);

}  // namespace qwen3
