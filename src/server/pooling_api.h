// /v1/embeddings (OpenAI's shape) and /v1/rerank (the Jina / Cohere / vLLM shape) over an
// engine::Pooler: request parsing with validation (ApiError 400 naming the parameter) and the
// response objects. No HTTP here.
#pragma once

#include <cstddef>
#include <string>

#include "engine/pooling.h"
#include "server/openai_api.h"

namespace qwen3::server {

// Inputs (texts or token arrays) of one /v1/embeddings request, documents of one /v1/rerank request.
inline constexpr size_t kMaxPoolingInputs = 2048;

// {input: string | [string] | [int] | [[int]], model?, encoding_format?: "float" | "base64",
//  dimensions?: int, instruction?: string (ours: a query's task, "Instruct: ...\nQuery:")}
// -> {object: "list", data: [{object: "embedding", index, embedding}], model, usage}.
// Texts get the tokenizer's special tokens (Qwen3-Embedding's <|endoftext|>); token arrays are used
// as given. base64: the little-endian float32 bytes of each vector.
Json embeddings_response(const Json& body, engine::Pooler& pooler, const ApiDefaults& defaults);

// {query: string, documents: [string | {text}], model?, top_n?: int, return_documents?: bool
//  (default true), instruction?: string} -> {id, model, results: [{index, relevance_score,
//  document: {text}}] best first (top_n of them), usage}.
Json rerank_response(const Json& body, engine::Pooler& pooler, const ApiDefaults& defaults);

// Little-endian float32 bytes in base64 (RFC 4648, with padding), as OpenAI's encoding_format.
std::string base64_floats(const std::vector<float>& v);

}  // namespace qwen3::server
