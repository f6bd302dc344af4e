// llama.cpp's decode tok/s after a context of `depth` positions, for the llama.cpp peer at depths
// where llama-bench's own fill does not fit a session: `llama-bench -d 32768` on 2 cores fills the
// cache one causal prompt long, quadratic in attention (about an hour with an f16 cache, several
// with q8_0). Here the cache is filled in independent chunks of -c positions (each chunk runs as
// sequence 1 and attends only to itself), each chunk is copied into sequence 0 and dropped from 1,
// so that sequence 0 ends up with `depth` cells at positions 0..depth-1, the cells a real fill
// leaves (only their values differ, and attention's cost does not depend on them). The timed part
// is llama-bench's test_gen: one-token decodes of random ids, after llama-bench's warm-up.
// --real-fill fills as llama-bench does instead (one sequence, batches of 2048), to check the method.
//
// Not built with the project: it links against your own llama.cpp build (not part of this repo),
//   g++ -O2 -std=c++17 bench/llama_depth_tg.cpp -I LLAMA/include -I LLAMA/ggml/include \
//       -L LLAMA/build/bin -lllama -lggml -lggml-base -lggml-cpu -Wl,-rpath,LLAMA/build/bin -o llama_depth_tg
//   ./llama_depth_tg -m MODEL.gguf -d 32768 -ctk q8_0 -n 32 -r 3 [-t 2] [-c 512] [--real-fill]
// prints one JSON line: {"depth", "ctk", "fill", "fill_s", "tg": [tok/s per repetition]}.
#include <llama.h>
#include <ggml-cpu.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static ggml_type parse_type(const char* s) {
  if (!strcmp(s, "f16")) return GGML_TYPE_F16;
  if (!strcmp(s, "q8_0")) return GGML_TYPE_Q8_0;
  if (!strcmp(s, "bf16")) return GGML_TYPE_BF16;
  if (!strcmp(s, "f32")) return GGML_TYPE_F32;
  fprintf(stderr, "unknown type %s\n", s); exit(2);
}
static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static void null_log(ggml_log_level, const char*, void*) {}

int main(int argc, char** argv) {
  const char* model_path = nullptr; int depth = 8192, n_gen = 32, threads = 2, chunk = 512, reps = 1;
  const char* ctk = "f16"; bool real_fill = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { if (i + 1 >= argc) { fprintf(stderr, "%s needs a value\n", a.c_str()); exit(2); } return argv[++i]; };
    if (a == "-m") model_path = next(); else if (a == "-d") depth = atoi(next());
    else if (a == "-n") n_gen = atoi(next()); else if (a == "-t") threads = atoi(next());
    else if (a == "-c") chunk = atoi(next()); else if (a == "-r") reps = atoi(next());
    else if (a == "-ctk") ctk = next(); else if (a == "--real-fill") real_fill = true;
    else { fprintf(stderr, "unknown argument %s\n", a.c_str()); return 2; }
  }
  if (!model_path || depth < 1 || chunk < 1) { fprintf(stderr, "usage: depth_tg -m GGUF -d DEPTH [-n 32] [-t 2] [-c 512] [-r 1] [-ctk f16|q8_0] [--real-fill]\n"); return 2; }
  llama_log_set(null_log, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  llama_model* model = llama_model_load_from_file(model_path, mp);
  if (!model) { fprintf(stderr, "cannot load %s\n", model_path); return 1; }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = depth + n_gen + chunk;
  cp.n_batch = 2048; cp.n_ubatch = 512;            // llama-bench's defaults
  cp.type_k = cp.type_v = parse_type(ctk);
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
  cp.n_seq_max = 2; cp.kv_unified = true;         // sequence 1 carries the chunks
  cp.swa_full = false;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) { fprintf(stderr, "cannot create context\n"); return 1; }
  ggml_threadpool_params tpp = ggml_threadpool_params_default(threads);  // as llama-bench (poll 50)
  ggml_threadpool* tp = ggml_threadpool_new(&tpp);
  llama_attach_threadpool(ctx, tp, nullptr);
  llama_set_n_threads(ctx, threads, threads);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  llama_memory_t mem = llama_get_memory(ctx);

  auto gen = [&](int n) {  // llama-bench's test_gen
    llama_token token = llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : std::rand() % n_vocab;
    for (int i = 0; i < n; ++i) {
      if (llama_decode(ctx, llama_batch_get_one(&token, 1)) != 0) { fprintf(stderr, "decode failed\n"); exit(1); }
      llama_synchronize(ctx);
      token = std::rand() % n_vocab;
    }
  };
  gen(1);  // warmup, as llama-bench
  llama_memory_clear(mem, false);

  const double t_fill = now();
  if (real_fill) {  // llama-bench's test_prompt
    std::vector<llama_token> toks(2048);
    for (int done = 0; done < depth;) {
      int n = std::min(depth - done, 2048);
      for (int i = 0; i < n; ++i) toks[i] = std::rand() % n_vocab;
      if (llama_decode(ctx, llama_batch_get_one(toks.data(), n)) != 0) { fprintf(stderr, "fill failed\n"); return 1; }
      done += n;
    }
  } else {
    llama_batch b = llama_batch_init(chunk, 0, 1);
    for (int p0 = 0; p0 < depth; p0 += chunk) {
      const int n = std::min(chunk, depth - p0);
      b.n_tokens = n;
      for (int i = 0; i < n; ++i) {
        b.token[i] = std::rand() % n_vocab; b.pos[i] = p0 + i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 1;
        b.logits[i] = i == n - 1;
      }
      if (llama_decode(ctx, b) != 0) { fprintf(stderr, "chunk fill failed at %d\n", p0); return 1; }
      llama_memory_seq_cp(mem, 1, 0, -1, -1);
      llama_memory_seq_rm(mem, 1, -1, -1);
    }
    llama_batch_free(b);
  }
  llama_synchronize(ctx);
  const double fill_s = now() - t_fill;
  if (llama_memory_seq_pos_min(mem, 0) != 0 || llama_memory_seq_pos_max(mem, 0) != depth - 1 ||
      llama_memory_seq_pos_max(mem, 1) != -1) {
    fprintf(stderr, "unexpected cache: seq 0 [%d, %d], seq 1 max %d\n", llama_memory_seq_pos_min(mem, 0),
            llama_memory_seq_pos_max(mem, 0), llama_memory_seq_pos_max(mem, 1));
    return 1;
  }
  printf("{\"depth\": %d, \"ctk\": \"%s\", \"fill\": \"%s\", \"fill_s\": %.1f, \"tg\": [", depth, ctk,
         real_fill ? "real" : "chunked", fill_s);
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    gen(n_gen);
    const double s = now() - t0;
    printf("%s%.3f", r ? ", " : "", n_gen / s);
    fflush(stdout);
    llama_memory_seq_rm(mem, 0, depth, -1);  // back to `depth` for the next repetition
  }
  printf("]}\n");
  llama_free(ctx);
  ggml_threadpool_free(tp);
  llama_model_free(model);
  return 0;
}
