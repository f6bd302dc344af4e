#include "server/pooling_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace qwen3::server {

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& msg) { throw ApiError(400, msg, param); }

// The request's inputs: each text through `text_tokens`, each token array checked and kept.
template <class TextTokens>
std::vector<std::vector<int32_t>> parse_inputs(const Json& in, TextTokens text_tokens) {
  const char* shape = "'input' must be a string, an array of strings, an array of token ids or an array of such arrays";
  std::vector<std::vector<int32_t>> out;
  auto tokens = [&](const Json& arr, size_t i) {
    std::vector<int32_t> ids;
    for (const Json& t : arr) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
        bad("input", fmt::format("input[{}] holds {}, which is not a token id", i, t.is_primitive() ? t.dump().substr(0, 40) : "a structure"));
      ids.push_back(int32_t(t.get<int64_t>()));
    }
    return ids;
  };
  if (in.is_string()) {
    if (in.get<std::string>().empty()) bad("input", "'input' is an empty string");
    out.push_back(text_tokens(in.get<std::string>()));
    return out;
  }
  if (!in.is_array()) bad("input", shape);
  if (in.empty()) bad("input", "'input' is an empty array");
  if (in[0].is_number()) {  // one token array
    out.push_back(tokens(in, 0));
    return out;
  }
  if (in.size() > kMaxPoolingInputs)
    bad("input", fmt::format("'input' holds {} inputs; this server takes at most {} per request", in.size(), kMaxPoolingInputs));
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].is_string()) {
      if (in[i].get<std::string>().empty()) bad("input", fmt::format("input[{}] is an empty string", i));
      out.push_back(text_tokens(in[i].get<std::string>()));
    } else if (in[i].is_array()) {
      if (in[i].empty()) bad("input", fmt::format("input[{}] is an empty token array", i));
      out.push_back(tokens(in[i], i));
    } else {
      bad("input", shape);
    }
  }
  return out;
}

std::string optional_string(const Json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_string()) bad(key, fmt::format("'{}' must be a string", key));
  return it->get<std::string>();
}

Json usage(int64_t tokens) { return {{"prompt_tokens", tokens}, {"total_tokens", tokens}}; }

int64_t count_tokens(const std::vector<std::vector<int32_t>>& v) {
  int64_t n = 0;
  for (auto& x : v) n += int64_t(x.size());
  return n;
}

}  // namespace

std::string base64_floats(const std::vector<float>& v) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    const uint32_t u = std::bit_cast<uint32_t>(v[i]);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + size_t(b)] = char((u >> (8 * b)) & 0xFF);  // little-endian
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t x = 0;
    for (size_t k = 0; k < 3; ++k) x = (x << 8) | (k < n ? uint8_t(bytes[i + k]) : 0u);
    for (size_t k = 0; k < 4; ++k) out += k <= n ? kAlphabet[(x >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

Json embeddings_response(const Json& body, engine::Pooler& pooler, const ApiDefaults& defaults) {
  check_model(body, defaults);
  const auto in = body.find("input");
  if (in == body.end() || in->is_null()) bad("input", "'input' is required");
  std::string format = optional_string(body, "encoding_format");
  if (format.empty()) format = "float";
  if (format != "float" && format != "base64") bad("encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
  int64_t dimensions = 0;
  if (const auto d = body.find("dimensions"); d != body.end() && !d->is_null()) {
    if (!d->is_number_integer() || d->get<int64_t>() < 1 || d->get<int64_t>() > pooler.hidden_size())
      bad("dimensions", fmt::format("'dimensions' must be an integer in 1..{} (this model's embedding size)", pooler.hidden_size()));
    dimensions = d->get<int64_t>();
  }
  const std::string instruction = optional_string(body, "instruction");
  const auto inputs = parse_inputs(*in, [&](const std::string& t) { return pooler.embedding_tokens(t, instruction); });
  std::vector<std::vector<float>> vecs;
  try {
    vecs = pooler.embed(inputs, dimensions);
  } catch (const engine::PoolingInputError& e) {
    throw ApiError(400, e.what(), e.param, e.param == "input" ? "context_length_exceeded" : "");
  }
  Json data = Json::array();
  for (size_t i = 0; i < vecs.size(); ++i) {
    Json e = {{"object", "embedding"}, {"index", i}};
    if (format == "base64") e["embedding"] = base64_floats(vecs[i]);
    else e["embedding"] = vecs[i];
    data.push_back(std::move(e));
  }
  return {{"object", "list"}, {"data", std::move(data)}, {"model", defaults.model_name}, {"usage", usage(count_tokens(inputs))}};
}

Json rerank_response(const Json& body, engine::Pooler& pooler, const ApiDefaults& defaults) {
  check_model(body, defaults);
  const auto q = body.find("query");
  if (q == body.end() || !q->is_string()) bad("query", "'query' is required and must be a string");
  const auto docs = body.find("documents");
  if (docs == body.end() || !docs->is_array()) bad("documents", "'documents' is required: an array of strings or {\"text\": string}");
  if (docs->empty()) bad("documents", "'documents' is an empty array");
  if (docs->size() > kMaxPoolingInputs)
    bad("documents", fmt::format("'documents' holds {} documents; this server takes at most {} per request", docs->size(), kMaxPoolingInputs));
  size_t top_n = docs->size();
  if (const auto t = body.find("top_n"); t != body.end() && !t->is_null()) {
    if (!t->is_number_integer() || t->get<int64_t>() < 1) bad("top_n", "'top_n' must be an integer >= 1");
    top_n = std::min<size_t>(top_n, size_t(t->get<int64_t>()));
  }
  bool return_documents = true;
  if (const auto r = body.find("return_documents"); r != body.end() && !r->is_null()) {
    if (!r->is_boolean()) bad("return_documents", "'return_documents' must be a boolean");
    return_documents = r->get<bool>();
  }
  const std::string given = optional_string(body, "instruction");
  const std::string_view instruction = body.contains("instruction") && !body["instruction"].is_null()
                                           ? std::string_view(given) : engine::kDefaultRerankInstruction;
  std::vector<std::string> texts;
  for (size_t i = 0; i < docs->size(); ++i) {
    const Json& d = (*docs)[i];
    if (d.is_string()) texts.push_back(d.get<std::string>());
    else if (d.is_object() && d.contains("text") && d["text"].is_string()) texts.push_back(d["text"].get<std::string>());
    else bad("documents", fmt::format("documents[{}] is neither a string nor {{\"text\": string}}", i));
  }
  std::vector<std::vector<int32_t>> prompts;
  for (auto& t : texts) prompts.push_back(pooler.rerank_tokens(q->get<std::string>(), t, instruction));
  std::vector<double> scores;
  try {
    scores = pooler.rerank(prompts);
  } catch (const engine::PoolingInputError& e) {
    throw ApiError(400, e.what(), "documents", "context_length_exceeded");
  }
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  Json results = Json::array();
  for (size_t k = 0; k < top_n; ++k) {
    Json r = {{"index", order[k]}, {"relevance_score", scores[order[k]]}};
    if (return_documents) r["document"] = {{"text", texts[order[k]]}};
    results.push_back(std::move(r));
  }
  return {{"id", random_id("rerank-")}, {"model", defaults.model_name}, {"results", std::move(results)},
          {"usage", usage(count_tokens(prompts))}};
}

}  // namespace qwen3::server
