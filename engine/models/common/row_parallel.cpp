#include "engine/models/common/row_parallel.h"

#include <ATen/ATen.h>
#include <dlfcn.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace focalscope::row_parallel {

namespace {

struct OpenBlas {
  int (*get)() = reinterpret_cast<int (*)()>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  void (*set)(int) = reinterpret_cast<void (*)(int)>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  static const OpenBlas& instance() {
    static const OpenBlas o;
    return o;
  }
};

struct BlasGuardState {
  std::mutex mutex;
  int depth = 0, saved = 1;
  static BlasGuardState& instance() {
    static BlasGuardState s;
    return s;
  }
};

// The worker pool. Created on first use and never destroyed: its threads only ever wait on a condition
// variable between batches, and process exit ends them.
class Pool {
 public:
  static Pool& instance() {
    static Pool* p = new Pool();
    return *p;
  }

  void run(const std::vector<std::function<void()>>& jobs) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {  // another forward is using the pool: plain threads for this one
      std::vector<std::thread> ts;
      for (size_t i = 1; i < jobs.size(); ++i) ts.emplace_back(jobs[i]);
      jobs[0]();
      for (auto& t : ts) t.join();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (threads_.size() + 1 < jobs.size()) {
        const size_t slot = threads_.size();
        pending_.push_back(nullptr);
        threads_.emplace_back([this, slot] { loop(slot); });
      }
      for (size_t i = 1; i < jobs.size(); ++i) pending_[i - 1] = &jobs[i];
      remaining_ = jobs.size() - 1;
    }
    wake_.notify_all();
    jobs[0]();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return remaining_ == 0; });
  }

 private:
  void loop(size_t slot) {
    for (;;) {
      const std::function<void()>* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return pending_[slot] != nullptr; });
        job = pending_[slot];
        pending_[slot] = nullptr;
      }
      (*job)();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--remaining_ == 0) done_.notify_all();
    }
  }

  std::mutex busy_;   // held by the caller whose batch runs on the pool
  std::mutex mutex_;  // guards pending_ and remaining_
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  std::vector<const std::function<void()>*> pending_;  // one slot per pool thread
  size_t remaining_ = 0;
};

}  // namespace

int blas_threads() {
  const auto& b = OpenBlas::instance();
  return (b.get && b.set) ? b.get() : 0;
}

SingleThreadedBlas::SingleThreadedBlas() {
  auto& s = BlasGuardState::instance();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.depth++ == 0 && OpenBlas::instance().set) {
    s.saved = OpenBlas::instance().get();
    OpenBlas::instance().set(1);
  }
}

SingleThreadedBlas::~SingleThreadedBlas() {
  auto& s = BlasGuardState::instance();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.depth == 0 && OpenBlas::instance().set) OpenBlas::instance().set(s.saved);
}

bool gemm_bits_row_independent() {
  static std::mutex mutex;
  static std::map<int, bool> known;  // OpenBLAS thread count -> verdict
  const int threads = blas_threads();
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = known.find(threads); it != known.end()) return it->second;
  at::NoGradGuard no_grad;
  bool same = true;
  // Rows x (in, out) as in the embedded DiT's projections and FFN; values from a formula, not the global RNG.
  for (const auto& [rows, k, n] : {std::tuple<int64_t, int64_t, int64_t>{256, 128, 128}, {256, 128, 512}, {256, 512, 128}}) {
    const at::Tensor a = at::sin(at::arange(rows * k, at::kFloat) * 0.37f).view({rows, k});
    const at::Tensor w = at::cos(at::arange(k * n, at::kFloat) * 0.11f).view({k, n});
    const at::Tensor whole = at::mm(a, w);
    at::Tensor top, bottom;
    {
      SingleThreadedBlas one;
      top = at::mm(a.narrow(0, 0, rows / 2), w);
      bottom = at::mm(a.narrow(0, rows / 2, rows / 2), w);
    }
    same = same && at::equal(whole.narrow(0, 0, rows / 2), top) && at::equal(whole.narrow(0, rows / 2, rows / 2), bottom);
  }
  known[threads] = same;
  return same;
}

void run(const std::vector<std::function<void()>>& jobs) {
  if (jobs.empty()) return;
  if (jobs.size() == 1) {
    jobs[0]();
    return;
  }
  Pool::instance().run(jobs);
}

}  // namespace focalscope::row_parallel
