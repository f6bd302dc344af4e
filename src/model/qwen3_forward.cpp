// THE Qwen3 forward pass, layer by layer in Hugging Face's order (modeling_qwen3.py):
//   x = embed(ids)
//   per layer:  h = rms_norm(x);  q, k, v = h·Wqkvᵀ (+b);  q, k = q_norm(q), k_norm(k) per head;
//               q, k = rope(q, k);  append k, v to the paged cache;  a = attention(q, cache);
//               x += a·Woᵀ (+b);  h = rms_norm(x);  x += (act(h·Wgateᵀ) * h·Wupᵀ)·Wdownᵀ
//   logits = rms_norm(x)·Wheadᵀ   (Whead = embed_tokens when tied), only for the rows asked for;
//   hidden_states() stops before the head and returns rms_norm(x) of those rows (embedding models).
// Tensor parallel (world_size > 1): each rank holds its query/KV heads and MLP columns, so o_proj
// and down_proj give partial sums, added up by one all-reduce each (the o_proj bias after it); the
// embedding table and head are split by vocabulary rows: a rank looks up only its ids (the others'
// rows stay zero until the all-reduce) and computes its slice of the logits, which rank 0 gathers.
// All activations are float32 [num_tokens, features]; the batch is ragged: tokens of all chunks are
// stacked, and only attention looks at which sequence a token belongs to.
#include <cmath>
#include <unordered_set>

#include "core/error.h"
#include "model/qwen3_model.h"
#include "model/tp_mirror.h"

namespace qwen3 {

using kernels::matmul;

namespace {

struct TokenPlan {
  std::vector<int32_t> ids;        // [N]
  std::vector<int64_t> positions;  // [N]
  std::vector<int64_t> chunk_begin;  // [chunks + 1], offsets into the stacked tokens
};

kernels::Act to_act(Activation a) {
  switch (a) {
    case Activation::SiLU: return kernels::Act::SiLU;
    case Activation::GeluErf: return kernels::Act::GeluErf;
    case Activation::GeluTanh: return kernels::Act::GeluTanh;
    case Activation::ReLU: return kernels::Act::ReLU;
  }
  return kernels::Act::SiLU;
}

void add_bias(float* y, int64_t n, const std::vector<float>& b) {
  if (b.empty()) return;
  const int64_t d = int64_t(b.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < d; ++i) y[t * d + i] += b[size_t(i)];
}

}  // namespace

Logits Qwen3Model::forward(std::span<const SeqChunk> batch, KvCache& kv) {
  Logits out;
  forward(batch, kv, out);
  return out;
}

void Qwen3Model::forward(std::span<const SeqChunk> batch, KvCache& kv, Logits& out) { run(batch, kv, out, false); }

void Qwen3Model::hidden_states(std::span<const SeqChunk> batch, KvCache& kv, Logits& out) {
  if (tensor_parallel()) fail("hidden states (embeddings) are computed by one process, not under tensor parallelism");
  run(batch, kv, out, true);
}

void Qwen3Model::run(std::span<const SeqChunk> batch, KvCache& kv, Logits& out, bool hidden) {
  const Qwen3Config& c = config_;
  const int64_t H = c.hidden_size, D = c.head_dim, Hq = q_heads_, Hkv = kv_heads_, I = inter_;
  const int64_t qkv_dim = (Hq + 2 * Hkv) * D;
  const bool parallel = tensor_parallel();
  if (parallel && comm_->rank() == 0) tp_send_step(*comm_, batch, kv);  // the other ranks run this same call
  TpJournalPause journal_pause(kv);  // our own reserve / commit happen on every rank

  // --- validate the whole batch before touching anything ---
  const KvCacheOptions& ko = kv.options();
  if (ko.num_layers != c.num_hidden_layers || ko.num_kv_heads != Hkv || ko.head_dim != D)
    fail("forward: the KV cache holds {} layers x {} KV heads x head_dim {}, this model needs {} x {} x {}",
         ko.num_layers, ko.num_kv_heads, ko.head_dim, c.num_hidden_layers, Hkv, D);
  if (weights_.headless && !hidden)
    for (auto& ch : batch)
      if (ch.want != LogitsWanted::None)
        fail("forward: this checkpoint has no lm_head (an embedding model: Qwen3Model's weights); it gives hidden "
             "states, not logits");
  TokenPlan plan;  // the batch's tokens stacked: N rows, chunk by chunk
  plan.chunk_begin.push_back(0);
  std::unordered_set<SeqId> seen;
  int64_t pages = 0;
  for (size_t b = 0; b < batch.size(); ++b) {
    const SeqChunk& ch = batch[b];
    if (!kv.contains(ch.seq)) fail("forward: sequence {} is not in the KV cache", ch.seq);
    if (!seen.insert(ch.seq).second) fail("forward: sequence {} appears twice in one batch", ch.seq);
    if (ch.tokens.empty()) fail("forward: sequence {} has no new tokens", ch.seq);
    const int64_t pos0 = kv.num_tokens(ch.seq);
    if (pos0 + int64_t(ch.tokens.size()) > c.max_context())
      fail("forward: sequence {} would reach {} tokens, past {} {}", ch.seq, pos0 + int64_t(ch.tokens.size()),
           c.max_context_source(), c.max_context());
    for (size_t i = 0; i < ch.tokens.size(); ++i) {
      const int32_t id = ch.tokens[i];
      if (id < 0 || id >= c.vocab_size)
        fail("forward: token id {} (sequence {}, index {}) is outside the vocabulary [0, {})", id, ch.seq, i, c.vocab_size);
      plan.ids.push_back(id);
      plan.positions.push_back(pos0 + int64_t(i));
    }
    plan.chunk_begin.push_back(int64_t(plan.ids.size()));
    pages += kv.pages_needed(ch.seq, int64_t(ch.tokens.size()));
  }
  if (pages <= kv.num_free_pages()) {
    for (auto& ch : batch) kv.reserve(ch.seq, int64_t(ch.tokens.size()));
  } else {
    // The sum over-counts when sequences share a partial page (fork then pop): each counts a
    // copy-on-write page, but after the first copy the others own it alone. Reserve one by one,
    // and on failure give back what was reserved (a private copy made on the way stays: same data).
    size_t done = 0;
    try {
      for (; done < batch.size(); ++done) kv.reserve(batch[done].seq, int64_t(batch[done].tokens.size()));
    } catch (const KvCacheFull&) {
      for (size_t i = 0; i < done; ++i) kv.pop(batch[i].seq, 0);
      throw KvCacheFull(fmt::format("KV cache full: this batch needs up to {} more pages, {} are free", pages,
                                    kv.num_free_pages()));
    }
  }

  const int64_t N = int64_t(plan.ids.size());
  // --- workspace: kept between calls, so steady-state decoding allocates nothing here ---
  Workspace& ws = workspace_;
  for (auto [buf, size] : {std::pair{&ws.x, N * H}, {&ws.h, N * H}, {&ws.qkv, N * qkv_dim}, {&ws.attn, N * Hq * D},
                           {&ws.gate_up, N * 2 * I}, {&ws.act, N * I}, {&ws.tmp, N * H}, {&ws.cos, N * D / 2},
                           {&ws.sin, N * D / 2}})
    buf->resize(size_t(size));
  std::vector<float>&x = ws.x, &h = ws.h, &qkv = ws.qkv, &attn = ws.attn, &gate_up = ws.gate_up, &act = ws.act,
                     &tmp = ws.tmp, &cos_t = ws.cos, &sin_t = ws.sin;
  const kernels::MatmulOptions mo{.bf16_activations = numerics_ == Numerics::Fast};
  // RoPE tables for every token: [N, D/2], angles in double precision.
  for (int64_t t = 0; t < N; ++t)
    for (int64_t i = 0; i < D / 2; ++i) {
      const double ang = double(plan.positions[size_t(t)]) * rope_.inv_freq[size_t(i)];
      cos_t[size_t(t * D / 2 + i)] = float(std::cos(ang) * rope_.attention_scaling);
      sin_t[size_t(t * D / 2 + i)] = float(std::sin(ang) * rope_.attention_scaling);
    }

  const ShardRange vocab = weights_.vocab;
  const bool vocab_split = vocab.size != c.vocab_size;
  for (int64_t t = 0; t < N; ++t) {
    const int64_t id = plan.ids[size_t(t)] - vocab.begin;
    if (id >= 0 && id < vocab.size) kernels::load_row(weights_.embed_tokens.view(), id, &x[size_t(t * H)]);
    else std::fill_n(&x[size_t(t * H)], H, 0.0f);  // another rank's row
  }
  if (vocab_split) comm_->all_reduce_sum(x.data(), N * H);  // exact: one row plus zeros

  const float scale = float(1.0 / std::sqrt(double(D)));
  std::vector<kernels::AttentionSeq> attn_seqs(batch.size());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const Qwen3Layer& L = weights_.layers[size_t(l)];
    // attention block
    kernels::rms_norm(x.data(), N, H, L.input_layernorm.data(), c.rms_norm_eps, h.data());
    matmul(h.data(), N, L.qkv.view(), qkv.data(), mo);  // [N, (Hq + 2 Hkv) * D]
    add_bias(qkv.data(), N, L.qkv.bias);
    for (int64_t t = 0; t < N; ++t) {
      float* row = &qkv[size_t(t * qkv_dim)];
      kernels::rms_norm(row, Hq, D, L.q_norm.data(), c.rms_norm_eps, row);              // q heads
      kernels::rms_norm(row + Hq * D, Hkv, D, L.k_norm.data(), c.rms_norm_eps, row + Hq * D);  // k heads
    }
    kernels::rope_neox(qkv.data(), N, qkv_dim, Hq + Hkv, D, cos_t.data(), sin_t.data());  // q and k heads are adjacent
    for (size_t b = 0; b < batch.size(); ++b) {
      const SeqChunk& ch = batch[b];
      const int64_t t0 = plan.chunk_begin[b], n = plan.chunk_begin[b + 1] - t0, pos0 = plan.positions[size_t(t0)];
      for (int64_t i = 0; i < n; ++i) {  // k, v rounded or quantized to the cache's type
        const float* row = &qkv[size_t((t0 + i) * qkv_dim)];
        kernels::store_kv(row + Hq * D, Hkv, D, ko.dtype, kv.key(int(l), ch.seq, pos0 + i));
        kernels::store_kv(row + (Hq + Hkv) * D, Hkv, D, ko.dtype, kv.value(int(l), ch.seq, pos0 + i));
      }
      attn_seqs[b] = {.row0 = t0, .T = n, .pos0 = pos0};
    }
    for (size_t b = 0; b < batch.size(); ++b) attn_seqs[b].block_table = kv.block_table(batch[b].seq).data();
    kernels::attention({.q = qkv.data(), .q_stride = qkv_dim, .out = attn.data(), .num_heads = Hq,
                        .num_kv_heads = Hkv, .head_dim = D, .scale = scale, .kv_dtype = ko.dtype,
                        .k = kv.storage().key(int(l), 0, 0), .v = kv.storage().value(int(l), 0, 0),
                        .page_size = ko.page_size, .seqs = attn_seqs});  // all sequences in one call
    matmul(attn.data(), N, L.o_proj.view(), tmp.data(), mo);  // [N, H], this rank's heads' part
    if (parallel) comm_->all_reduce_sum(tmp.data(), N * H);
    add_bias(tmp.data(), N, L.o_proj.bias);
    for (int64_t i = 0; i < N * H; ++i) x[size_t(i)] += tmp[size_t(i)];
    // MLP block
    kernels::rms_norm(x.data(), N, H, L.post_attention_layernorm.data(), c.rms_norm_eps, h.data());
    matmul(h.data(), N, L.gate_up.view(), gate_up.data(), mo);  // [N, 2 I]
    kernels::gated_act(gate_up.data(), N, I, to_act(c.hidden_act), act.data());
    matmul(act.data(), N, L.down.view(), tmp.data(), mo);  // [N, H], this rank's columns' part
    if (parallel) comm_->all_reduce_sum(tmp.data(), N * H);
    for (int64_t i = 0; i < N * H; ++i) x[size_t(i)] += tmp[size_t(i)];
  }
  for (size_t b = 0; b < batch.size(); ++b) kv.commit(batch[b].seq, int64_t(batch[b].tokens.size()));

  // --- logits, only for the rows asked for ---
  out.vocab_size = c.vocab_size;
  out.rows.clear();
  for (size_t b = 0; b < batch.size(); ++b) {
    const int64_t n = plan.chunk_begin[b + 1] - plan.chunk_begin[b];
    if (batch[b].want == LogitsWanted::All)
      for (int64_t i = 0; i < n; ++i) out.rows.push_back({b, i});
    else if (batch[b].want == LogitsWanted::Last)
      out.rows.push_back({b, n - 1});
  }
  const int64_t R = int64_t(out.rows.size());
  std::vector<float>& sel = ws.sel;
  sel.resize(size_t(R * H));
  for (int64_t r = 0; r < R; ++r) {
    const int64_t t = plan.chunk_begin[out.rows[size_t(r)].chunk] + out.rows[size_t(r)].token;
    std::copy(&x[size_t(t * H)], &x[size_t(t * H)] + H, &sel[size_t(r * H)]);
  }
  kernels::rms_norm(sel.data(), R, H, weights_.norm.data(), c.rms_norm_eps, sel.data());
  if (hidden) {  // transformers' last_hidden_state: the final norm, no head
    out.vocab_size = H;
    out.data.assign(sel.begin(), sel.end());
    return;
  }
  const bool root = !parallel || comm_->rank() == 0;
  if (!vocab_split) {  // one process, or a replicated head: rank 0 alone computes the logits
    if (root) {
      out.data.resize(size_t(R * c.vocab_size));
      matmul(sel.data(), R, weights_.head().view(), out.data.data(), mo);
    }
    return;
  }
  // Vocabulary-parallel head: this rank's [R, vocab.size] slice, gathered by rank 0.
  std::vector<float>& local = ws.local_logits;
  local.resize(size_t(R * vocab.size));
  matmul(sel.data(), R, weights_.head().view(), local.data(), mo);
  const int P = comm_->size();
  std::vector<int64_t> counts(static_cast<size_t>(P)), begins(counts), sizes(counts);
  for (int r = 0; r < P; ++r) {
    const ShardRange v = vocab_rows(c.vocab_size, r, P);
    begins[size_t(r)] = v.begin, sizes[size_t(r)] = v.size, counts[size_t(r)] = R * v.size;
  }
  std::vector<float>& all = ws.gathered;
  if (root) all.resize(size_t(R * c.vocab_size));
  comm_->gather(local.data(), counts, root ? all.data() : nullptr);
  if (!root) return;
  out.data.resize(size_t(R * c.vocab_size));
  const float* src = all.data();
  for (int r = 0; r < P; ++r)
    for (int64_t i = 0; i < R; ++i, src += sizes[size_t(r)])
      std::copy(src, src + sizes[size_t(r)], &out.data[size_t(i * c.vocab_size + begins[size_t(r)])]);
}

}  // namespace qwen3
