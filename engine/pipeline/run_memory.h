// The memory a generation needs beyond the loaded weights, estimated before it starts (issue 28: refuse an absurd
// --frames / --max-area with the number instead of being killed by the kernel an hour in).
//
// Counted, float32 (what the CPU path computes in), for the largest moment of each phase:
//   sampling  one DiT layer's live activations for every CFG row: ~12 copies of the token stream [L, dim] (input,
//             norms, q / k / v, attention output, residuals, modulation products) + 2 of the MLP hidden [L, ffn]
//             + the attention's score tile (chunked over queries: at most 64 MB per thread) + the latents the sampler
//             keeps (solver history, hallucination window: ~16 latent copies);
//   decode    the VAE decoder's widest feature map for one causal chunk (4 pixel frames at full size) x 4 live tensors
//             (input, two convolution outputs, the causal cache) + the decoded video [3, F, H, W].
// The two phases do not overlap, so the need is their maximum. The factors are deliberately generous: the estimate
// is a ceiling used to refuse, not a prediction (docs/robustness.md).
#pragma once
#include <cstdint>
#include <string>

namespace focalscope {

struct RunMemoryInputs {
  int64_t tokens = 0;        // DiT sequence length per CFG row (image tokens, + text tokens for an MMDiT)
  int64_t dim = 0, ffn = 0;  // DiT width and MLP hidden width
  int64_t rows = 1;          // CFG rows per forward
  int64_t latent_elems = 0;  // C * F' * h * w
  int64_t vae_channels = 0;  // the VAE decoder's widest feature map
  int64_t frames = 0, height = 0, width = 0;  // pixel video
  int threads = 1;
};

struct RunMemoryEstimate {
  double sampling_bytes = 0, decode_bytes = 0;
  double need() const { return sampling_bytes > decode_bytes ? sampling_bytes : decode_bytes; }
  std::string summary() const;  // "~3.1 GB (sampling 1.2 GB, VAE decode 3.1 GB)"
};

RunMemoryEstimate estimate_run_memory(const RunMemoryInputs& in);

// Bytes the OS can give this process now (MemAvailable of /proc/meminfo; physical memory where that is missing).
double available_memory_bytes();

// Throws Error("run", "needs ~X GB ... this machine has Y GB available: ...") when the estimate exceeds what is
// available; `what` names the knobs that shrink it (e.g. "--frames / --max-area").
void check_run_memory(const RunMemoryEstimate& e, const std::string& what);

}  // namespace focalscope
