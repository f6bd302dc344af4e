#include "core/parallel_for.h"

#include <omp.h>

namespace qwen3 {

namespace {
int g_threads = 0;
}

int num_threads() {
  if (g_threads <= 0) g_threads = omp_get_num_procs();
  return g_threads;
}

void set_num_threads(int n) { g_threads = n > 0 ? n : omp_get_num_procs(); }

int omp_thread_index() { return omp_get_thread_num(); }

}  // namespace qwen3
