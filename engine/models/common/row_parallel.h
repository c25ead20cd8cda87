// Running the batch rows of a DiT forward on separate cores (used by WanModel's fast path, see wan_model.cpp).
//
// Why: at the embedded model's width OpenBLAS splitting each GEMM across cores spends much of the gain on
// thread hand-offs (a forward issues hundreds of GEMMs of 0.05-1 ms). The rows of a batch (CFG's cond/uncond
// pair) are independent through the block stack, so one core per row with single-threaded BLAS needs no
// synchronisation inside the forward at all.
#pragma once
#include <functional>
#include <vector>

namespace focalscope::row_parallel {

// Threads in OpenBLAS's own pool (libtorch's thread settings do not reach it), or 0 when the BLAS in use is not
// OpenBLAS (looked up at run time; the rows then stay together).
int blas_threads();

// Whether this BLAS computes a GEMM's rows with the same bits whatever the row count and thread count: a
// whole-batch multi-threaded product compared with its halves computed single-threaded, at the DiT's shapes. Not
// every kernel set does (measured: OpenBLAS 0.3.21's Haswell kernels, forced by OPENBLAS_CORETYPE=Haswell on an
// AVX-512 machine, differ in the last bit with the row count even on one thread; its SkylakeX / Cooperlake kernels do
// not), and the row-parallel path is only allowed where it holds, so that a read-only listener never changes the
// output. Probed once per thread count.
bool gemm_bits_row_independent();

// While any guard is alive (in any thread) OpenBLAS runs single-threaded; the last one to end restores the
// previous count. Process-wide: BLAS calls of other threads in that window also run on one thread.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;
};

// Runs jobs[0] on the calling thread and the others on long-lived pool threads (which keep their thread-local
// buffers between forwards), and returns when all are done. Jobs must not throw. One batch of jobs at a time: a
// caller that finds the pool busy runs its extra jobs on temporary threads instead.
void run(const std::vector<std::function<void()>>& jobs);

}  // namespace focalscope::row_parallel
