// qwen3 bench --quality: how far a model setting (--quant, --kv-dtype, --numerics) moves the
// next-token distributions away from a reference setting of the same checkpoint (by default:
// unquantized, float32 KV cache, exact numerics), over a fixed token stream: the tokenized text of
// --text FILE, its first --tokens tokens.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <span>
#include <string>

#include "tools/model_flags.h"

namespace qwen3::tools {

struct QualityOpts {
  bool enabled = false;
  std::string text;                  // file whose tokenization is the stream
  int tokens = 512;                  // stream length (the text must encode to at least this many)
  int chunk = 64;                    // tokens per forward (logits of all of them)
  std::string ref_kv_dtype = "f32";  // the reference setting; its --quant is always none
  std::string ref_numerics = "exact";
};

void add_quality_flags(CLI::App& app, QualityOpts& q);

// Loads the reference and the tested model, runs both over the stream and prints the figures
// (text, or one JSON object). Returns the exit code.
int run_quality(const ModelFlags& tested, const QualityOpts& q, const std::string& format);

// Figures over positions 0 .. n-2 of a stream (position i predicts token i + 1).
struct QualityStats {
  int64_t positions = 0;
  double sum_kl = 0, max_kl = 0;        // KL(p_ref || p_test) in nats
  int64_t top1_agree = 0;               // argmax equal (first maximum)
  double nll_ref = 0, nll_test = 0;     // sum of -log p(next token)

  // One position: both logits rows (float32, vocab entries) and the token that follows.
  void add(std::span<const float> ref, std::span<const float> test, int32_t next);
  double mean_kl() const { return positions ? sum_kl / double(positions) : 0; }
  double agreement() const { return positions ? double(top1_agree) / double(positions) : 0; }
  double ppl_ref() const;
  double ppl_test() const;
};

}  // namespace qwen3::tools
