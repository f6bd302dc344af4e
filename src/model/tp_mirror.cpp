#include "model/tp_mirror.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "core/error.h"
#include "model/qwen3_model.h"

namespace qwen3 {

namespace {

enum Kind : int64_t { kStep = 1, kShutdown = 2 };

// The message is a sequence of int64 words.
void put(std::vector<std::byte>& m, int64_t v) {
  const size_t at = m.size();
  m.resize(at + sizeof v);
  std::memcpy(m.data() + at, &v, sizeof v);
}

class Reader {
 public:
  explicit Reader(const std::vector<std::byte>& m) : m_(m) {}
  int64_t next() {
    if (pos_ + sizeof(int64_t) > m_.size()) fail("tensor parallel: truncated step message from rank 0");
    int64_t v;
    std::memcpy(&v, m_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  int64_t count() {  // a length: 0 <= n <= words left
    const int64_t n = next();
    if (n < 0 || size_t(n) > (m_.size() - pos_) / sizeof(int64_t)) fail("tensor parallel: bad length {} in a step message", n);
    return n;
  }

 private:
  const std::vector<std::byte>& m_;
  size_t pos_ = 0;
};

[[noreturn]] void fatal(Communicator& comm, const std::string& what) {
  std::fprintf(stderr, "qwen3: error: rank %d of %d: %s\n", comm.rank(), comm.size(), what.c_str());
  comm.abort(1);
  std::abort();  // not reached
}

}  // namespace

void tp_send_step(Communicator& comm, std::span<const SeqChunk> batch, KvCache& kv) {
  std::vector<std::byte> m;
  const KvCacheOptions& o = kv.options();
  if (!o.journal)
    fail("tensor parallel: this KV cache does not record its changes for the other ranks; make it from the "
         "model's kv_options()");
  put(m, kStep);
  for (int64_t v : {int64_t(kv.id()), int64_t(o.num_layers), int64_t(o.num_kv_heads), int64_t(o.head_dim),
                    int64_t(o.page_size), o.num_pages, int64_t(o.dtype), int64_t(o.prefix_key_mask)})
    put(m, v);
  const std::vector<int64_t> ops = kv.take_journal();
  put(m, int64_t(ops.size()));
  for (int64_t v : ops) put(m, v);
  put(m, int64_t(batch.size()));
  for (const SeqChunk& ch : batch) {
    put(m, ch.seq);
    put(m, int64_t(ch.want));
    put(m, int64_t(ch.tokens.size()));
    for (int32_t t : ch.tokens) put(m, t);
  }
  comm.broadcast(m);
}

void tp_send_shutdown(Communicator& comm) {
  std::vector<std::byte> m;
  put(m, kShutdown);
  comm.broadcast(m);
}

void tp_serve(Qwen3Model& model, Communicator& comm) {
  std::unique_ptr<KvCache> kv;
  uint64_t kv_id = 0;
  std::set<uint64_t> retired;
  std::vector<std::byte> msg;
  std::vector<int64_t> ops;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<SeqChunk> batch;
  Logits out;
  for (;;) {
    comm.broadcast_idle(msg);
    try {
      Reader r(msg);
      const int64_t kind = r.next();
      if (kind == kShutdown) return;
      if (kind != kStep) fail("unknown message kind {} from rank 0", kind);
      const uint64_t id = uint64_t(r.next());
      KvCacheOptions o;
      o.num_layers = int(r.next());
      o.num_kv_heads = int(r.next());
      o.head_dim = int(r.next());
      o.page_size = int(r.next());
      o.num_pages = r.next();
      const int64_t dt = r.next();
      if (dt < 0 || dt > int64_t(KvDType::FP8)) fail("unknown KV cache type {} from rank 0", dt);
      o.dtype = KvDType(dt);
      o.prefix_key_mask = uint64_t(r.next());
      ops.resize(size_t(r.count()));
      for (int64_t& v : ops) v = r.next();
      if (!kv || id != kv_id) {
        // A new cache on rank 0: its journal starts at its creation. One cache is mirrored at a time.
        if (retired.contains(id)) fail("rank 0 went back to KV cache {} after using another one", id);
        if (kv) retired.insert(kv_id);
        kv.reset();
        kv = std::make_unique<KvCache>(o);
        kv_id = id;
      }
      kv->replay(ops);
      const int64_t n = r.count();
      tokens.resize(size_t(n));
      batch.resize(size_t(n));
      for (int64_t i = 0; i < n; ++i) {
        batch[size_t(i)].seq = r.next();
        const int64_t want = r.next();
        if (want < 0 || want > int64_t(LogitsWanted::All)) fail("bad logits request {} in a step message", want);
        batch[size_t(i)].want = LogitsWanted(want);
        auto& t = tokens[size_t(i)];
        t.resize(size_t(r.count()));
        for (int32_t& v : t) v = int32_t(r.next());
        batch[size_t(i)].tokens = t;
      }
    } catch (const std::exception& e) {
      fatal(comm, std::string("cannot mirror rank 0's step: ") + e.what());
    }
    try {
      model.forward(batch, *kv, out);
    } catch (const Error&) {
      // Rank 0's forward() failed the same way, before any collective: nothing to do.
    } catch (const std::exception& e) {
      fatal(comm, e.what());
    }
  }
}

}  // namespace qwen3
