// Qwen3's tokenizer: byte-level BPE read from a Hugging Face tokenizer.json, giving the same ids
// as Hugging Face `tokenizers` (the Rust library behind transformers' fast tokenizers).
//
// encode(text):
//   1. added tokens (26 in Qwen3, ids 151643..151668, special or not) are cut out of the raw text,
//      leftmost-longest;
//   2. each stretch between them is NFC-normalized (utf8proc; see normalizer.h),
//   3. split by the pre-tokenizer regex (PCRE2; see pre_tokenizer.h),
//   4. and each piece, as bytes, is merged by BPE rank (see bpe.h).
//   Input that is not valid UTF-8 is first repaired the way Rust's String::from_utf8_lossy does
//   (each maximal ill-formed subpart becomes U+FFFD): Hugging Face only ever sees valid strings,
//   so this is what it tokenizes when a caller converts bytes with that function, and a stray byte
//   in a prompt should not fail a request.
// decode(ids): each id's token is mapped back to bytes (the ByteLevel decoder), the bytes are
//   joined, and ill-formed UTF-8 in the result becomes U+FFFD, again like from_utf8_lossy.
//
// A Tokenizer is immutable after load and safe to use from several threads at once (its word
// cache is internally locked). It is move-only: a copy would duplicate a 150k-token vocabulary.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/added_tokens.h"

namespace qwen3 {

class Tokenizer {
 public:
  // Reads tokenizer.json. Throws qwen3::Error naming the file and what is wrong with it when it is
  // missing, not JSON, or not a byte-level BPE tokenizer of the kind Qwen3 uses. Added tokens get
  // their ids the way Hugging Face assigns them on load (for Qwen3: the ids in the file).
  static Tokenizer load(const std::filesystem::path& tokenizer_json);
  // The same from the file's text; `origin` names it in error messages.
  static Tokenizer from_json(std::string_view json, std::string_view origin = "tokenizer.json");

  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Token ids of `text`, as Hugging Face's encode(text, add_special_tokens=False): Qwen3's
  // tokenizer adds no BOS/EOS, so add_special_tokens=True gives the same ids.
  std::vector<int32_t> encode(std::string_view text) const;
  // Appends the ids of `text` to `ids`.
  void encode(std::string_view text, std::vector<int32_t>& ids) const;
  // Hugging Face's encode(text, add_special_tokens=True): encode(text) inside the single-sequence
  // template of tokenizer.json's TemplateProcessing post-processor, when it has one (Qwen3-Embedding
  // appends <|endoftext|>, which its last-token pooling reads).
  std::vector<int32_t> encode_with_special_tokens(std::string_view text) const;

  // Text of `ids`. With `skip_special_tokens`, tokens flagged special are left out (in Qwen3
  // <think>, </think>, <tool_call>, ... are added tokens but not special, and stay). Throws
  // qwen3::Error for an id that is not in the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // The bytes token `id` decodes to on its own; they may be an incomplete UTF-8 sequence.
  // Throws qwen3::Error for an unknown id.
  std::string_view token_bytes(int32_t id) const;

  // The token's string as it appears in tokenizer.json (byte-level form: "Ġthe" for " the").
  // Throws qwen3::Error for an unknown id.
  const std::string& id_to_token(int32_t id) const;
  // Id of a token string in that form (added tokens first, then the BPE vocabulary).
  std::optional<int32_t> token_to_id(std::string_view token) const;

  // One past the largest id (151669 for Qwen3; the model's embedding has more rows, 151936).
  int32_t vocab_size() const;
  // Whether `id` names a token (ids below vocab_size() may in principle have gaps).
  bool contains(int32_t id) const;
  // Whether `id` is an added token flagged special (false for unknown ids).
  bool is_special(int32_t id) const;
  std::span<const AddedToken> added_tokens() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns generated ids into text one id at a time. push() returns the text that became complete:
// bytes that end inside a UTF-8 sequence are held back until the sequence completes or is known
// to be ill-formed (then U+FFFD, as decode would). flush() returns what is still held back (one
// U+FFFD for an incomplete sequence at the end). The concatenation of all push() results and
// flush() equals tokenizer.decode(ids, skip_special_tokens).
class StreamingDetokenizer {
 public:
  // `tokenizer` must outlive this object and stay where it is (it is held by pointer).
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false)
      : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}

  // Throws qwen3::Error for an unknown id (and then holds what it held before).
  std::string push(int32_t id);
  // Appends instead of returning; the hot-path form.
  void push(int32_t id, std::string& out);
  std::string flush();
  // Forgets held-back bytes (to start a new sequence with the same object).
  void reset() { pending_.clear(); }

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // at most 3 bytes: the start of an incomplete UTF-8 sequence
};

// The parts of tokenizer_config.json other components use. Only the raw strings: the chat
// template is rendered by src/chat/ (on the interpreter in src/jinja/).
struct TokenizerConfig {
  std::optional<std::string> bos_token;  // Qwen3: none
  std::optional<std::string> eos_token;  // Qwen3: "<|im_end|>" (generation_config.json may add more)
  std::optional<std::string> pad_token;  // Qwen3: "<|endoftext|>"
  std::optional<std::string> unk_token;
  bool add_bos_token = false;
  bool add_eos_token = false;
  // The default chat template (Jinja source), empty when there is none. Taken from
  // "chat_template" (a string, or a list of {name, template} where the one named "default" is
  // used), else from chat_template.jinja next to the file.
  std::string chat_template;
  // Every template by name when "chat_template" is a list ("default", "tool_use", ...).
  std::vector<std::pair<std::string, std::string>> named_chat_templates;
  std::vector<std::string> additional_special_tokens;
  int64_t model_max_length = 0;  // 0 when absent

  // Throws qwen3::Error naming the file when it is missing or malformed.
  static TokenizerConfig load(const std::filesystem::path& tokenizer_config_json);
};

}  // namespace qwen3
