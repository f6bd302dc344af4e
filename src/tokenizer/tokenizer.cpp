#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/file_io.h"
#include "io/json_brief.h"
#include "tokenizer/bpe.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace qwen3 {
namespace {

using nlohmann::json;

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
// (controls, space, DEL, NBSP, soft hyphen) are shifted to U+0100.. in byte order, so that every
// byte is one visible character ("Ġ" is the space byte 0x20).
struct ByteLevelMap {
  std::array<char32_t, 256> byte_to_char;
  std::array<int16_t, 324> char_to_byte;  // -1 for characters that stand for no byte

  ByteLevelMap() {
    char_to_byte.fill(-1);
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_to_char[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + shifted++);
      char_to_byte[byte_to_char[b]] = static_cast<int16_t>(b);
    }
  }

  // The bytes a token string stands for, as the ByteLevel decoder computes them: when every
  // character is a byte character, those bytes; otherwise (added tokens such as "<think>" are
  // all byte characters, but others need not be) the token's own UTF-8 bytes.
  std::string token_to_bytes(std::string_view token) const {
    std::string bytes;
    for (size_t i = 0; i < token.size();) {
      const char32_t c = utf8::next(token, i);
      if (c >= char_to_byte.size() || char_to_byte[c] < 0) return std::string(token);
      bytes += static_cast<char>(char_to_byte[c]);
    }
    return bytes;
  }
};

const ByteLevelMap& byte_level() {
  static const ByteLevelMap map;
  return map;
}

// Error messages name the file and the JSON path: "tokenizer.json: model.merges[12]: ...".
struct Context {
  std::string_view origin;

  [[noreturn]] void error(std::string_view where, std::string_view what) const {
    fail("{}: {}: {}", origin, where, what);
  }
  const json& member(const json& object, std::string_view where, const char* key) const {
    if (!object.is_object()) error(where, "expected an object");
    auto it = object.find(key);
    if (it == object.end()) error(where, fmt::format("missing \"{}\"", key));
    return *it;
  }
  std::string string_member(const json& object, std::string_view where, const char* key) const {
    const json& v = member(object, where, key);
    if (!v.is_string()) error(fmt::format("{}.{}", where, key), "expected a string");
    return v.get<std::string>();
  }
  bool bool_member(const json& object, std::string_view where, const char* key, bool fallback) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) error(fmt::format("{}.{}", where, key), "expected true or false");
    return it->get<bool>();
  }
  static bool is_id(const json& v) {
    return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX;
  }
  int32_t id_value(const json& v, std::string_view where) const {
    if (!is_id(v)) error(where, fmt::format("expected a token id (an integer in [0, 2^31)), got {}", json_brief(v)));
    return static_cast<int32_t>(v.get<int64_t>());
  }
};

json parse_json(std::string_view text, std::string_view origin) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    fail("{}: not valid JSON: {}", origin, e.what());
  }
}

}  // namespace

struct Tokenizer::Impl {
  // Indexed by id; `present` is false for ids in gaps of the vocabulary.
  std::vector<std::string> tokens;
  std::vector<std::string> token_bytes;
  std::vector<uint8_t> present;
  std::vector<uint8_t> special;
  std::unordered_map<std::string, int32_t> token_ids;  // added tokens win over the vocabulary
  std::vector<AddedToken> added;
  AddedTokenMatcher raw_matcher;         // added tokens with normalized == false
  AddedTokenMatcher normalized_matcher;  // added tokens with normalized == true
  Normalization normalization = Normalization::kNone;
  std::optional<RegexSplitter> splitter;  // absent: the whole text is one piece
  std::optional<BpeModel> bpe;
  // post_processor's TemplateProcessing "single" template, split at its sequence $A: the ids
  // encode(text, add_special_tokens=True) puts before and after the text's (Qwen3-Embedding:
  // none before, <|endoftext|> after; Qwen3: no template, both empty).
  std::vector<int32_t> template_before, template_after;

  void load_model(const json& root, const Context& cx);
  void load_post_processor(const json& root, const Context& cx);
  MergeTable load_merges(const json& model, const Context& cx) const;
  void load_added_tokens(const json& root, const Context& cx);
  void load_pipeline(const json& root, const Context& cx);
  void set_token(int32_t id, std::string token);

  void encode_normalizable(std::string_view text, std::vector<int32_t>& ids) const;
  const std::string& checked_bytes(int32_t id) const;
};

void Tokenizer::Impl::set_token(int32_t id, std::string token) {
  const auto n = static_cast<size_t>(id) + 1;
  if (tokens.size() < n) {
    tokens.resize(n);
    token_bytes.resize(n);
    present.resize(n, 0);
    special.resize(n, 0);
  }
  token_bytes[id] = byte_level().token_to_bytes(token);
  tokens[id] = std::move(token);
  present[id] = 1;
}

void Tokenizer::Impl::load_model(const json& root, const Context& cx) {
  const json& model = cx.member(root, "(top level)", "model");
  if (model.contains("type") && model["type"] != "BPE") {
    cx.error("model.type", fmt::format("{} is not supported (only BPE)", json_brief(model["type"])));
  }
  auto unsupported_if = [&](const char* key, auto&& is_set) {
    auto it = model.find(key);
    if (it != model.end() && !it->is_null() && is_set(*it)) {
      cx.error(fmt::format("model.{}", key), fmt::format("{} is not supported", it->dump()));
    }
  };
  unsupported_if("dropout", [](const json& v) { return !(v.is_number() && v.get<double>() == 0.0); });
  unsupported_if("byte_fallback", [](const json& v) { return v != false; });
  unsupported_if("continuing_subword_prefix", [](const json& v) { return v != ""; });
  unsupported_if("end_of_word_suffix", [](const json& v) { return v != ""; });
  const bool ignore_merges = cx.bool_member(model, "model", "ignore_merges", false);

  const json& vocab = cx.member(model, "model", "vocab");
  if (!vocab.is_object()) cx.error("model.vocab", "expected an object mapping token strings to ids");
  std::unordered_map<std::string, int32_t> whole_words;  // raw bytes -> id, for ignore_merges
  token_ids.reserve(vocab.size() + 64);
  // Tokens are stored by id (vectors of max id + 1), so an id far past the vocabulary's size would
  // make a tiny file allocate gigabytes (found by fuzz_tokenizer_json: one id near 2^27 asked for
  // 4 GB). Published vocabularies number their tokens 0..n-1; gaps up to kMaxIdGap are accepted.
  constexpr int64_t kMaxIdGap = 1 << 16;
  const int64_t id_limit = int64_t(vocab.size()) + kMaxIdGap;
  for (const auto& [token, id_json] : vocab.items()) {
    // (The message is formatted only on error: this loop runs 150k times.)
    const int32_t id = Context::is_id(id_json) ? static_cast<int32_t>(id_json.get<int64_t>())
                                               : cx.id_value(id_json, fmt::format("model.vocab[{:?}]", token));
    if (id >= id_limit) {
      cx.error(fmt::format("model.vocab[{:?}]", token),
               fmt::format("id {} is far past the vocabulary's {} entries (ids must be below {})", id, vocab.size(),
                           id_limit));
    }
    if (static_cast<size_t>(id) < present.size() && present[id]) {
      cx.error("model.vocab", fmt::format("tokens {:?} and {:?} both have id {}", tokens[id], token, id));
    }
    token_ids.emplace(token, id);
    set_token(id, token);
    if (ignore_merges) whole_words.emplace(token_bytes[id], id);
  }

  std::array<int32_t, 256> byte_ids;
  for (int b = 0; b < 256; ++b) {
    std::string c;
    utf8::append(c, byte_level().byte_to_char[b]);
    auto it = token_ids.find(c);
    byte_ids[b] = it == token_ids.end() ? -1 : it->second;
    // Without an unk_token a byte missing from the vocabulary is dropped, as Hugging Face drops it;
    // with one, Hugging Face would emit it, which we do not implement.
    if (byte_ids[b] < 0 && model.contains("unk_token") && !model["unk_token"].is_null()) {
      cx.error("model.unk_token", fmt::format("is set and the vocabulary lacks byte {:#04x}: not supported", b));
    }
  }
  bpe.emplace(byte_ids, load_merges(model, cx), ignore_merges, std::move(whole_words));
}

MergeTable Tokenizer::Impl::load_merges(const json& model, const Context& cx) const {
  const json& merges_json = cx.member(model, "model", "merges");
  if (!merges_json.is_array()) cx.error("model.merges", "expected an array");
  MergeTable merges(merges_json.size());
  int32_t rank = 0;
  std::string left, right, merged;
  for (size_t i = 0; i < merges_json.size(); ++i) {
    const json& m = merges_json[i];
    auto where = [i] { return fmt::format("model.merges[{}]", i); };  // formatted only on error
    if (m.is_string()) {
      const auto& s = m.get_ref<const std::string&>();
      if (s.starts_with("#version")) continue;  // a merges.txt header, skipped by Hugging Face too
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        cx.error(where(), fmt::format("{:?} is not two tokens separated by one space", s));
      }
      left.assign(s, 0, space);
      right.assign(s, space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get_ref<const std::string&>();
      right = m[1].get_ref<const std::string&>();
    } else {
      cx.error(where(), fmt::format("expected \"a b\" or [\"a\", \"b\"], got {}", json_brief(m)));
    }
    auto id_of = [&](const std::string& t) {
      auto it = token_ids.find(t);
      if (it == token_ids.end()) cx.error(where(), fmt::format("token {:?} is not in model.vocab", t));
      return it->second;
    };
    const int32_t left_id = id_of(left);
    const int32_t right_id = id_of(right);
    merged = left;
    merged += right;
    merges.insert(left_id, right_id, {rank++, id_of(merged)});
  }
  return merges;
}

// Ids are assigned the way Hugging Face's AddedVocabulary::add_tokens does when it reads the file
// (the "id" field is only checked there, with a warning): a token whose content is already in the
// vocabulary, or already added, keeps that id; any other gets the next id after the vocabulary and
// the added tokens so far. For Qwen3 this gives exactly the ids written in the file (151643..).
void Tokenizer::Impl::load_added_tokens(const json& root, const Context& cx) {
  auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_array()) cx.error("added_tokens", "expected an array");
  const auto model_vocab_size = static_cast<int32_t>(token_ids.size());
  int32_t max_added_id = -1;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    const std::string where = fmt::format("added_tokens[{}]", i);
    AddedToken a;
    cx.id_value(cx.member(t, where, "id"), where + ".id");  // must be well-formed, as for HF
    a.content = cx.string_member(t, where, "content");
    a.special = cx.bool_member(t, where, "special", false);
    a.lstrip = cx.bool_member(t, where, "lstrip", false);
    a.rstrip = cx.bool_member(t, where, "rstrip", false);
    a.single_word = cx.bool_member(t, where, "single_word", false);
    a.normalized = cx.bool_member(t, where, "normalized", !a.special);
    if (a.content.empty()) continue;  // ignored by Hugging Face
    if (auto known = token_ids.find(a.content); known != token_ids.end()) {
      a.id = known->second;
    } else {
      a.id = max_added_id >= model_vocab_size ? max_added_id + 1 : model_vocab_size;
    }
    max_added_id = std::max(max_added_id, a.id);
    token_ids[a.content] = a.id;
    set_token(a.id, a.content);
    // The special set only grows: once special, a content stays special.
    special[a.id] = special[a.id] || a.special;
    // Listed again (same content): the later entry's flags replace the earlier one's.
    auto same = std::find_if(added.begin(), added.end(), [&](const AddedToken& b) { return b.content == a.content; });
    if (same != added.end()) {
      *same = std::move(a);
    } else {
      added.push_back(std::move(a));
    }
  }
}

void Tokenizer::Impl::load_pipeline(const json& root, const Context& cx) {
  const json normalizer = root.value("normalizer", json());
  if (normalizer.is_null()) {
    normalization = Normalization::kNone;
  } else if (normalizer.is_object() && normalizer.value("type", "") == "NFC") {
    normalization = Normalization::kNfc;
  } else {
    cx.error("normalizer", fmt::format("{} is not supported (only NFC or null)", json_brief(normalizer)));
  }

  // Qwen3: Sequence[Split(regex, Isolated), ByteLevel(use_regex=false, add_prefix_space=false)].
  const json pre = root.value("pre_tokenizer", json());
  const char* expected =
      "expected Sequence[Split(Regex, behavior Isolated, invert false), ByteLevel(add_prefix_space false, "
      "use_regex false)] or that ByteLevel alone";
  std::vector<json> steps;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers") &&
      pre["pretokenizers"].is_array()) {
    steps = pre["pretokenizers"].get<std::vector<json>>();
  } else if (pre.is_object()) {
    steps = {pre};
  }
  if (steps.empty() || steps.size() > 2) cx.error("pre_tokenizer", expected);
  const json& byte_step = steps.back();
  if (!byte_step.is_object() || byte_step.value("type", "") != "ByteLevel" ||
      byte_step.value("add_prefix_space", false) || byte_step.value("use_regex", true)) {
    cx.error("pre_tokenizer", expected);
  }
  if (steps.size() == 2) {
    const json& split = steps[0];
    if (!split.is_object() || split.value("type", "") != "Split" || split.value("behavior", "") != "Isolated" ||
        split.value("invert", false) || !split.contains("pattern") || !split["pattern"].is_object() ||
        !split["pattern"].contains("Regex") || !split["pattern"]["Regex"].is_string()) {
      cx.error("pre_tokenizer.pretokenizers[0]", expected);
    }
    try {
      splitter.emplace(split["pattern"]["Regex"].get<std::string>());
    } catch (const Error& e) {
      cx.error("pre_tokenizer.pretokenizers[0].pattern", e.what());
    }
  }

  const json decoder = root.value("decoder", json());
  if (!decoder.is_object() || decoder.value("type", "") != "ByteLevel") {
    cx.error("decoder", fmt::format("{} is not supported (only ByteLevel)", json_brief(decoder)));
  }
}

// Hugging Face's post_processor: ByteLevel (which changes no ids), TemplateProcessing, or a
// Sequence of them. Only the single-sequence template is kept: encode() never takes pairs.
void Tokenizer::Impl::load_post_processor(const json& root, const Context& cx) {
  const json post = root.value("post_processor", json());
  if (post.is_null()) return;
  std::vector<json> steps;
  if (post.is_object() && post.value("type", "") == "Sequence" && post.contains("processors") && post["processors"].is_array())
    steps = post["processors"].get<std::vector<json>>();
  else
    steps = {post};
  bool seen = false;
  for (const json& step : steps) {
    const std::string type = step.is_object() ? step.value("type", "") : "";
    if (type == "ByteLevel") continue;
    if (type != "TemplateProcessing" || seen)
      cx.error("post_processor", fmt::format("{} is not supported (only ByteLevel and one TemplateProcessing)", json_brief(step)));
    seen = true;
    const json& single = cx.member(step, "post_processor", "single");
    const json specials = step.value("special_tokens", json::object());
    if (!single.is_array()) cx.error("post_processor.single", "expected an array");
    bool after = false;
    for (const json& piece : single) {
      if (piece.is_object() && piece.contains("Sequence")) {
        if (after || piece["Sequence"].value("id", "") != "A")
          cx.error("post_processor.single", "expected one sequence, $A");
        after = true;
      } else if (piece.is_object() && piece.contains("SpecialToken")) {
        const std::string name = cx.string_member(piece["SpecialToken"], "post_processor.single", "id");
        if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array())
          cx.error("post_processor.special_tokens", fmt::format("no ids for \"{}\"", name));
        for (const json& id : specials[name]["ids"])
          (after ? template_after : template_before).push_back(cx.id_value(id, "post_processor.special_tokens"));
      } else {
        cx.error("post_processor.single", fmt::format("{} is neither a Sequence nor a SpecialToken", json_brief(piece)));
      }
    }
    if (!after) cx.error("post_processor.single", "the template holds no sequence $A");
  }
}

Tokenizer Tokenizer::load(const std::filesystem::path& tokenizer_json) {
  return from_json(read_file(tokenizer_json), tokenizer_json.string());
}

Tokenizer Tokenizer::from_json(std::string_view text, std::string_view origin) {
  const Context cx{origin};
  const json root = parse_json(text, origin);
  if (!root.is_object()) cx.error("(top level)", "expected an object");
  auto impl = std::make_unique<Impl>();
  try {
    impl->load_model(root, cx);
    impl->load_added_tokens(root, cx);
    impl->load_pipeline(root, cx);
    impl->load_post_processor(root, cx);
  } catch (const json::exception& e) {
    // A field of an unexpected type that the checks above do not name (e.g. "type": 5).
    fail("{}: unexpected structure: {}", origin, e.what());
  }

  // Added tokens are looked for in the raw text, or (normalized == true) in the normalized text
  // with their content normalized the same way.
  std::vector<const AddedToken*> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  for (const AddedToken& a : impl->added) {
    if (a.normalized) {
      normalized.push_back(&a);
      normalized_patterns.emplace_back();
      normalize(impl->normalization, a.content, normalized_patterns.back());
    } else {
      raw.push_back(&a);
      raw_patterns.push_back(a.content);
    }
  }
  impl->raw_matcher = AddedTokenMatcher(raw, raw_patterns);
  impl->normalized_matcher = AddedTokenMatcher(normalized, normalized_patterns);
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

// ---- encode ----

void Tokenizer::Impl::encode_normalizable(std::string_view text, std::vector<int32_t>& ids) const {
  std::string normalized;
  normalize(normalization, text, normalized);
  std::vector<TextPiece> pieces;
  if (normalized_matcher.empty()) {
    pieces.push_back({0, normalized.size(), -1});
  } else {
    normalized_matcher.split(normalized, pieces);
  }
  std::vector<std::string_view> words;
  for (const TextPiece& p : pieces) {
    if (p.id >= 0) {
      ids.push_back(p.id);
      continue;
    }
    const std::string_view piece = std::string_view(normalized).substr(p.begin, p.end - p.begin);
    words.clear();
    if (splitter) {
      splitter->split(piece, words);
    } else {
      words.push_back(piece);
    }
    for (std::string_view w : words) bpe->encode_word(w, ids);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode(text, ids);
  return ids;
}

std::vector<int32_t> Tokenizer::encode_with_special_tokens(std::string_view text) const {
  std::vector<int32_t> ids = impl_->template_before;
  encode(text, ids);
  ids.insert(ids.end(), impl_->template_after.begin(), impl_->template_after.end());
  return ids;
}

void Tokenizer::encode(std::string_view text, std::vector<int32_t>& ids) const {
  std::string repaired;
  if (!utf8::is_valid(text)) {
    repaired = utf8::lossy(text);
    text = repaired;
  }
  std::vector<TextPiece> pieces;
  if (impl_->raw_matcher.empty()) {
    pieces.push_back({0, text.size(), -1});
  } else {
    impl_->raw_matcher.split(text, pieces);
  }
  for (const TextPiece& p : pieces) {
    if (p.id >= 0) {
      ids.push_back(p.id);
    } else {
      impl_->encode_normalizable(text.substr(p.begin, p.end - p.begin), ids);
    }
  }
}

// ---- decode ----

const std::string& Tokenizer::Impl::checked_bytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= present.size() || !present[id]) {
    fail("token id {} is not in the vocabulary (ids are 0..{})", id, static_cast<int64_t>(present.size()) - 1);
  }
  return token_bytes[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    const std::string& b = impl_->checked_bytes(id);
    if (skip_special_tokens && impl_->special[id]) continue;
    bytes += b;
  }
  if (utf8::is_valid(bytes)) return bytes;
  return utf8::lossy(bytes);
}

std::string_view Tokenizer::token_bytes(int32_t id) const { return impl_->checked_bytes(id); }

const std::string& Tokenizer::id_to_token(int32_t id) const {
  impl_->checked_bytes(id);
  return impl_->tokens[id];
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  auto it = impl_->token_ids.find(std::string(token));
  if (it == impl_->token_ids.end()) return std::nullopt;
  return it->second;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->present.size()); }

bool Tokenizer::contains(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->present.size() && impl_->present[id];
}

bool Tokenizer::is_special(int32_t id) const { return contains(id) && impl_->special[id]; }

std::span<const AddedToken> Tokenizer::added_tokens() const { return impl_->added; }

// ---- StreamingDetokenizer ----

void StreamingDetokenizer::push(int32_t id, std::string& out) {
  const std::string_view bytes = tokenizer_->token_bytes(id);
  if (skip_special_tokens_ && tokenizer_->is_special(id)) return;
  if (pending_.empty()) {
    const size_t used = utf8::append_lossy(bytes, out, /*final=*/false);
    pending_.assign(bytes.substr(used));
    return;
  }
  // Rare: a sequence spans tokens. Re-scan the held bytes together with the new ones.
  std::string joined = pending_;
  joined += bytes;
  const size_t used = utf8::append_lossy(joined, out, /*final=*/false);
  pending_.assign(joined, used);
}

std::string StreamingDetokenizer::push(int32_t id) {
  std::string out;
  push(id, out);
  return out;
}

std::string StreamingDetokenizer::flush() {
  std::string out;
  utf8::append_lossy(pending_, out, /*final=*/true);
  pending_.clear();
  return out;
}

}  // namespace qwen3
