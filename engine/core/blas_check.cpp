#include "engine/core/blas_check.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>

namespace focalscope {
namespace {

std::string resolve(const std::string& p) {
  if (p.empty()) return p;
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf)) return buf;
  return p;
}

std::string base_name(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

bool blas_like(const std::string& path) {
  const std::string b = base_name(path);
  for (const char* k : {"blas", "lapack", "mkl", "blis", "atlas", "flexiblas"})
    if (b.find(k) != std::string::npos) return true;
  return false;
}

int collect_objects(struct dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (info->dlpi_name && *info->dlpi_name) {
    std::string r = resolve(info->dlpi_name);
    if (blas_like(r) && std::find(out->begin(), out->end(), r) == out->end()) out->push_back(r);
  }
  return 0;
}

// Looks `sym` up in `handle` (the object and its dependencies) or the global scope.
void* lookup(void* handle, const char* sym) { return ::dlsym(handle ? handle : RTLD_DEFAULT, sym); }

}  // namespace

BlasInfo detect_blas(bool measure) {
  BlasInfo info;
  ::dl_iterate_phdr(collect_objects, &info.loaded);

  // The object that provides the Fortran sgemm_ libtorch calls.
  void* handle = nullptr;
  if (void* sgemm = ::dlsym(RTLD_DEFAULT, "sgemm_")) {
    Dl_info di{};
    if (::dladdr(sgemm, &di) && di.dli_fname) {
      info.library = resolve(di.dli_fname);
      handle = ::dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    }
  }
  if (info.library.empty()) {
    info.vendor = "unknown (no sgemm_ in the global symbol scope; BLAS linked statically into libtorch?)";
  } else if (auto* cfg = reinterpret_cast<char* (*)()>(lookup(handle, "openblas_get_config"))) {
    info.vendor = cfg();
    if (info.vendor.rfind("OpenBLAS", 0) != 0) info.vendor = "OpenBLAS " + info.vendor;
  } else if (lookup(handle, "mkl_get_version_string") || lookup(handle, "MKL_Get_Version_String")) {
    info.vendor = "MKL";
  } else if (lookup(handle, "bli_info_get_version_str")) {
    info.vendor = "BLIS";
  } else if (lookup(handle, "ATL_buildinfo")) {
    info.vendor = "ATLAS";
  } else if (lookup(handle, "flexiblas_exit")) {
    info.vendor = "FlexiBLAS";
  } else if (base_name(info.library).rfind("libblas.so", 0) == 0) {
    // A plain libblas.so with none of the optimised libraries' entry points: the netlib reference BLAS
    // (Debian: /usr/lib/x86_64-linux-gnu/blas/libblas.so.3).
    info.vendor = "reference (netlib)";
    info.is_reference = true;
  } else {
    info.vendor = "unknown (" + base_name(info.library) + ")";
  }
  if (handle) ::dlclose(handle);

  if (measure) {
    const int64_t n = 1024;
    at::Tensor a = at::randn({n, n}, at::kFloat), b = at::randn({n, n}, at::kFloat);
    at::Tensor c = at::matmul(a, b);  // warm-up (thread pools, page faults)
    double best = 1e30, total = 0;
    for (int it = 0; it < 5 && (it < 2 || total < 1.0); ++it) {
      auto t0 = std::chrono::steady_clock::now();
      c = at::matmul(a, b);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, s);
      total += s;
    }
    info.matmul_gflops = 2.0 * n * n * n / best / 1e9;
  }
  return info;
}

std::string slow_blas_warning(const BlasInfo& info) {
  if (!info.is_reference) return "";
  std::ostringstream o;
  o << "\n"
    << "********************************************************************************\n"
    << "WARNING: libtorch is running on the REFERENCE BLAS (netlib), which is 10-50x slower\n"
    << "         than an optimised BLAS for every matmul and convolution.\n"
    << "         loaded: " << info.library << "\n";
  if (info.matmul_gflops > 0) o << "         measured: " << info.matmul_gflops << " GFLOP/s (1024x1024 fp32 matmul)\n";
  o << "Fix (Debian/Ubuntu), then restart FocalScope:\n"
    << "    sudo apt-get install libopenblas0-pthread\n"
    << "    sudo update-alternatives --set libblas.so.3-x86_64-linux-gnu \\\n"
    << "         /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3\n"
    << "    sudo update-alternatives --set liblapack.so.3-x86_64-linux-gnu \\\n"
    << "         /usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3\n"
    << "(or `sudo update-alternatives --config libblas.so.3-x86_64-linux-gnu` and pick openblas;\n"
    << " check for an LD_LIBRARY_PATH that points at a reference libblas.so.3)\n"
    << "********************************************************************************\n";
  return o.str();
}

void warn_if_slow_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string w = slow_blas_warning(detect_blas(false));
    if (!w.empty()) std::cerr << w << std::flush;
  });
}

std::string blas_summary(const BlasInfo& info) {
  std::ostringstream o;
  o << info.vendor;
  if (const std::string core = openblas_core(); !core.empty()) {
    o << " [core " << core;
    // Set by main() when it forced a better core than OpenBLAS's own pick (openblas_core_upgrade).
    if (const char* own = std::getenv("FOCALSCOPE_OPENBLAS_OWN_CORE")) o << ", forced by focalscope: OpenBLAS picked " << own;
    o << "]";
  }
  if (!info.library.empty()) o << " (" << info.library << ")";
  if (info.matmul_gflops > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, ", %.1f GFLOP/s fp32 matmul", info.matmul_gflops);
    o << buf;
  }
  return o.str();
}

std::string openblas_core() {
  using NameFn = char* (*)();
  auto fn = reinterpret_cast<NameFn>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return fn ? std::string(fn()) : std::string();
}

CpuIsa detect_cpu_isa() {
  CpuIsa c;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  c.avx = __builtin_cpu_supports("avx");
  c.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  c.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512cd");
  c.avx512_bf16 = c.avx512 && __builtin_cpu_supports("avx512bf16");
#endif  // elsewhere all false: no x86 core is ever forced
  return c;
}

namespace {
// Instruction-set levels: 1 SSE only, 2 AVX, 3 AVX2+FMA, 4 AVX-512, 5 AVX-512 BF16; 0 = a core name not listed
// here (another architecture, or one whose level is not a plain step on this ladder: leave it alone).
int core_level(const std::string& core) {
  static const char* const sse[] = {"Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Core2", "Penryn",
                                    "Dunnington", "Nehalem", "Atom", "Opteron", "Opteron_SSE3", "Barcelona",
                                    "Bobcat", "Nano"};
  for (const char* n : sse)
    if (core == n) return 1;
  if (core == "Sandybridge") return 2;
  if (core == "Haswell" || core == "Zen") return 3;
  if (core == "SkylakeX") return 4;
  if (core == "Cooperlake" || core == "SapphireRapids") return 5;
  return 0;
}
int cpu_level(const CpuIsa& c) {
  if (c.avx512_bf16) return 5;
  if (c.avx512) return 4;
  if (c.avx2_fma) return 3;
  return c.avx ? 2 : 1;
}
}  // namespace

std::string openblas_core_upgrade(const std::string& picked, const CpuIsa& cpu) {
  const int have = core_level(picked), can = cpu_level(cpu);
  if (have == 0 || have >= can) return "";
  static const char* const by_level[] = {"", "", "Sandybridge", "Haswell", "SkylakeX", "Cooperlake"};
  return by_level[can];
}

void set_compute_threads(int n) {
  if (n <= 0) return;
  at::set_num_threads(n);
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(n);
}

}  // namespace focalscope
