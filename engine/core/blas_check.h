// Which BLAS libtorch's CPU matmuls actually run on.
//
// Debian's libtorch links `libblas.so.3`, which the alternatives system resolves to either OpenBLAS
// (/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3) or the netlib reference implementation
// (/usr/lib/x86_64-linux-gnu/blas/libblas.so.3), which is 10-50x slower. This finds the shared object that
// provides `sgemm_` in the running process (dlsym + dladdr, path resolved through the symlinks) and checks it
// for OpenBLAS / MKL / BLIS / ATLAS entry points.
#pragma once
#include <string>
#include <vector>

namespace focalscope {

struct BlasInfo {
  std::string library;              // resolved path of the shared object providing sgemm_ ("" if none found)
  std::string vendor;               // "OpenBLAS 0.3.21 ...", "MKL", "BLIS", "ATLAS", "reference (netlib)", ...
  bool is_reference = false;        // the netlib reference BLAS: slow
  std::vector<std::string> loaded;  // every BLAS/LAPACK-like object mapped into the process (resolved paths)
  double matmul_gflops = 0;         // best of a few 1024x1024 fp32 at::matmul, 0 when not measured
};

// measure = time a 1024x1024 fp32 at::matmul a few times (~0.1 s with OpenBLAS, a few s with the reference BLAS).
BlasInfo detect_blas(bool measure = false);

// The multi-line warning text for `info` (how to switch to OpenBLAS), or "" when the BLAS is fine.
std::string slow_blas_warning(const BlasInfo& info);

// Prints slow_blas_warning(detect_blas(false)) to stderr when the reference BLAS is loaded (once per process).
void warn_if_slow_blas();

// One line for logs: "OpenBLAS 0.3.21 ... (/usr/lib/.../libblas.so.3), 85.3 GFLOP/s".
std::string blas_summary(const BlasInfo& info);

// The kernel set ("core") OpenBLAS runs on ("Haswell", "SkylakeX", "Cooperlake", ...), "" when OpenBLAS is not the
// BLAS. It picks one when it loads, unless OPENBLAS_CORETYPE names one: an AVX-512 machine forced to "Haswell" runs
// GEMMs at about half speed (measured here: 1024^2 sgemm 210 vs 388 GFLOP/s), which blas_summary makes visible.
std::string openblas_core();

// What the CPU can run, as far as choosing OpenBLAS kernels goes (CPUID + the OS's saved-state check, via
// __builtin_cpu_supports).
struct CpuIsa {
  bool avx = false;
  bool avx2_fma = false;
  bool avx512 = false;       // F + BW + DQ + VL + CD: what OpenBLAS's SkylakeX kernels use
  bool avx512_bf16 = false;  // + BF16: Cooperlake's
};
CpuIsa detect_cpu_isa();

// OpenBLAS picks its kernels from a table of CPU models it knows; a CPU newer than the library falls back to the
// oldest x86-64 set. Measured on this project's Intel Xeon with AVX-512 BF16: OpenBLAS 0.3.21 picks "Prescott" (SSE3)
// there, and a toy DiT forward takes 2.2x as long as with "Cooperlake" (scripts/bench_blas_core.sh). Returns the
// core to force through OPENBLAS_CORETYPE when `picked` is a known core below what `cpu` runs, else "" (unknown
// names, and cores at or above the CPU's level, are left alone).
std::string openblas_core_upgrade(const std::string& picked, const CpuIsa& cpu);

// Sets ATen's intra-op threads and, when OpenBLAS is the BLAS, its thread count too: OpenBLAS keeps its own pool
// (at::set_num_threads does not reach it), and two pools fighting over 2 cores is much slower than one.
void set_compute_threads(int n);

}  // namespace focalscope
