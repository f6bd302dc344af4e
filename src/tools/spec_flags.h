// The speculative-decoding options shared by serve, generate, chat and bench, and the proposer they
// describe (engine/spec/proposer.h):
//
//   --spec off | ngram | draft       off by default
//   --draft-model DIR                a smaller Qwen3 with the target's tokenizer (implies --spec draft)
//   --draft-quant none | q8 | q4     quantize the draft on load (implies --spec draft); without
//                                    --draft-model: self-draft, the TARGET's checkpoint loaded a
//                                    second time with that quant ("self-q8", "self-q4")
//   --spec-k N                       longest draft, 1..16
//   --spec-k-fixed                   always draft N tokens (no adaptive draft length)
//
// A separate draft model is refused at start when its tokenizer.json differs from the target's
// (engine::compare_vocabularies) or when its embedding table is smaller than the tokenizer.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "engine/spec/draft_length.h"
#include "engine/spec/proposer.h"
#include "model/qwen3_model.h"
#include "tokenizer/tokenizer.h"
#include "tools/model_flags.h"

namespace qwen3::tools {

struct SpecFlags {
  std::string spec = "off";           // off | ngram | draft
  std::string draft_model;            // checkpoint folder; empty: self-draft (needs draft_quant q8/q4)
  std::string draft_quant = "none";   // none (the draft's stored dtype) | q8 | q4
  int k = 4;                          // max draft length
  bool fixed_k = false;               // --spec-k-fixed
  bool draft_quant_given = false;     // --draft-quant appeared (it implies --spec draft)
};

void add_spec_flags(CLI::App& app, SpecFlags& f);

enum class SpecMode { Off, Ngram, Draft };
// Applies the implications above and validates the combination; qwen3::Error naming the flag and
// the fix otherwise.
SpecMode spec_mode(const SpecFlags& f);
// "off", "ngram", "draft" (a separate model), "self-q8" or "self-q4": what the proposer reports.
std::string proposer_name(const SpecFlags& f);

engine::DraftLengthOptions draft_length_options(const SpecFlags& f);

// K + V bytes of one KV page of a model with config `c`.
int64_t kv_page_bytes(const Qwen3Config& c, int page_size, KvDType kv_dtype);
// The same for the draft model the flags name (its config.json, or the target's for a self-draft);
// 0 unless spec_mode is Draft. Lets a caller split one memory budget between the two caches.
int64_t draft_kv_page_bytes(const SpecFlags& f, const ModelFlags& target_flags, int page_size, KvDType kv_dtype);

// The proposer the flags describe, or null for --spec off. For a draft model: checks it against the
// target's tokenizer (target_tokenizer, or the target folder's tokenizer.json when null), loads it
// with load_model (the target's flags with --model / --quant replaced) and gives it its own KV cache
// of draft_kv_pages pages. qwen3::Error when the draft is refused or cannot be loaded.
std::unique_ptr<engine::Proposer> make_proposer(const SpecFlags& f, const ModelFlags& target_flags,
                                                const Qwen3Model& target, const Tokenizer* target_tokenizer,
                                                int64_t draft_kv_pages, int page_size, KvDType kv_dtype);

// One line for start-up messages: "ngram, k <= 4 (adaptive)", "draft DIR (q8), k = 3 (fixed)".
std::string describe_spec(const SpecFlags& f);

}  // namespace qwen3::tools
