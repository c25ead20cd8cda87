// Image + prompt (+ negative prompt) -> video, as wan/image2video.py WanI2V.generate does it:
// tokenizer -> umT5 (cond / uncond), CLIP tokens of the image, VAE latent of [image, zeros...] with the mask,
// seeded noise, flow-matching sampler with classifier-free guidance, VAE decode.
// Progress is reported per step through a callback; the run can be cancelled between steps.
#pragma once
#include <ATen/ATen.h>

#include <array>
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "engine/models/probe.h"
#include "engine/pipeline/hallucination.h"
#include "engine/pipeline/kv_lock.h"
#include "engine/pipeline/kv_lock_config.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/pipeline/run_memory.h"
#include "engine/sched/dyn_cfg.h"

namespace focalscope {

// KV-Lock editing inputs (engine/pipeline/kv_lock_config.h): a run with config.editing() is an edit of a source video.
struct KvLockRequest {
  KvLockConfig config;
  at::Tensor source_video;    // [3, F, H, W] in [-1, 1] at the run's output size and frame count (resolve_params)
  at::Tensor pixel_mask;      // [F, H, W], nonzero = edited, at the run's output size and frame count
  std::string source_prompt;  // the source pass's text; "" -> the edit prompt
  at::Tensor source_image;    // [3, H, W] the source pass's reference; undefined -> the request's image
};

struct GenerateRequest {
  at::Tensor image;                 // [3, H, W] float in [-1, 1]
  std::string prompt;
  std::string negative_prompt;      // empty -> the model's default negative prompt
  int64_t seed = 0;
  int steps = -1;                   // <= 0: model default (likewise below)
  double shift = -1;
  double guide_scale = -1;          // two experts (Wan2.2): both experts' scale unless guide_scale_high is given
  double guide_scale_high = -1;     // two experts: the high-noise expert's scale (< 0: guide_scale, else the default)
  int frames = -1;                  // pixel frames, 1 + 4k
  long long max_area = -1;
  std::string solver;               // "" -> default
  // The benchmark's empty-prompt floor runs the model with "" (text-free); everywhere else an empty prompt is an error.
  bool allow_empty_prompt = false;
  // KV-Lock's hallucination metric (engine/pipeline/hallucination.h), on for every run: the sliding window W (0 = off)
  // and an optional latent-grid mask [lat_f, lat_h, lat_w] for the local reading.
  int hallucination_window = 10;
  at::Tensor hallucination_mask;
  // KV-Lock's dynamic CFG (engine/sched/dyn_cfg.h); needs CFG (guide scale != 1) and, for the omega schedule, the
  // hallucination metric.
  DynCfgConfig dyncfg;
  KvLockRequest kvlock;
};

// The resolved run parameters (defaults filled in, validated).
struct RunParams {
  int steps, frames, fps;
  double shift, guide_scale;
  // Two experts (Wan2.2 I2V-A14B): guide_scale is the low-noise expert's, guide_scale_high the high-noise one's;
  // steps with timestep >= boundary_timestep run the high-noise expert. One DiT: guide_scale_high = guide_scale, -1.
  double guide_scale_high = 0;
  double boundary_timestep = -1;
  long long max_area;
  std::string solver, negative_prompt;
  int64_t lat_f, lat_h, lat_w;      // latent grid
  int64_t height, width;            // pixel size of the generated video
};

struct StepProgress {
  int step;          // steps completed (1..total)
  int total;
  double elapsed_s;
  double eta_s;
  int64_t timestep;
  at::Tensor x0;     // the sampler's current data prediction (latent), for previews
  const HallucinationTrace* hallucination = nullptr;  // the metric so far (this step included); null when off
};

// What the run is conditioned on, known once text and image are encoded (before the first step).
struct RunConditioning {
  const RunParams& params;
  std::array<int64_t, 3> grid;   // DiT token grid (F', H', W')
  at::Tensor clip_fea;           // [1, tokens, clip_dim] (undefined for t2v)
};

struct RunHooks {
  ProbeListener* listener = nullptr;                    // probe points (capture, guidance)
  // Called once before sampling (e.g. Focal Guidance plans its anchors from clip_fea here).
  std::function<void(const RunConditioning&)> on_conditioned;
  // Called once with the run's precomputed cross-attention context (batch rows: cond, then uncond with CFG) before
  // sampling; it may edit it, e.g. knock the text out of chosen layers (WanModel::swap_layer_text). `expert`: -1 for a
  // one-DiT model; a Wan2.2 two-expert model calls it twice, with its low-noise (0) and high-noise (1) expert's context
  // (each expert has its own text projections: text_cross_context(m, text, expert) gives the matching one).
  std::function<void(CrossContext&, int expert)> edit_cross;
  // The embedded MMDiT's knockout (it has no cross-attention to edit): in these layers the conditional pass's image
  // tokens read none of the prompt's rows in the joint attention (the MLLM's image rows stay readable, as a Wan
  // layer's image cross-attention stays). Wan models refuse it (they use edit_cross).
  std::vector<int> hide_prompt_layers;
  std::function<void(const StepProgress&)> on_step;     // called after every step
  std::function<void(const std::string&)> on_stage;     // "encode text", "encode image", "decode", ...
  const std::atomic<bool>* cancel = nullptr;            // checked between steps
};

struct GenerateResult {
  RunParams params;
  at::Tensor video;      // [3, F, H, W] float in [-1, 1]
  at::Tensor latent;     // final latent [16, lat_f, lat_h, lat_w]
  at::Tensor clip_fea;   // [1, tokens, clip_dim]
  bool cancelled = false;
  double seconds_encode = 0, seconds_sample = 0, seconds_decode = 0;
  HallucinationTrace hallucination;  // per step (the steps run so far when cancelled); window 0 when off
  // Per step run: which expert ran it (1 = high-noise, 0 = low-noise; empty for a one-DiT model) and the guidance
  // scale it used (filled for every model).
  std::vector<int> step_expert;
  std::vector<double> step_guide_scale;
  // Dynamic CFG: what each step did, and the resolved omega0 / tau / scheduled steps (empty / 0 when off).
  std::vector<DynCfgStep> dyncfg;
  double dyncfg_omega0 = 0, dyncfg_tau = 0;
  int dyncfg_kappa = 0;
  bool dyncfg_tau_calibrated = false;
  // KV-Lock editing: what each step did, the tau alpha read, the locked steps, and the cache's peak size.
  std::vector<KvLockStep> kvlock;
  double kvlock_tau = 0;
  bool kvlock_tau_calibrated = false;
  int kvlock_kappa = 0;
  int64_t kvlock_cache_bytes = 0;
};

// Latent size for an image of h x w pixels at `max_area` (upstream's float64 floor arithmetic; see
// ARCHITECTURE.md §5.2): lat = floor(floor(sqrt(area * aspect) / vae_stride) / patch) * patch.
std::pair<int64_t, int64_t> latent_size(int64_t h, int64_t w, long long max_area, int vae_stride, int patch_h, int patch_w);

RunParams resolve_params(const ModelBundle& m, const GenerateRequest& req);

// The memory a run of these parameters needs beyond the loaded weights (engine/pipeline/run_memory.h); generate()
// refuses a CPU run whose estimate exceeds the memory available, with the numbers.
RunMemoryEstimate run_memory(const ModelBundle& m, const RunParams& p);

// Text features for one prompt: [L, text_dim] (real tokens + EOS, as T5EncoderModel returns them).
at::Tensor encode_prompt(const ModelBundle& m, const std::string& prompt);
// Every DiT layer's text keys / values for one text (batch 1, float32 context): what the model's cross-attention
// sees for it. "" gives the empty prompt's (the causal ablation's knockout context).
// `expert` 1: the high-noise expert's (Wan2.2); otherwise the (low-noise) DiT's.
CrossContext text_cross_context(const ModelBundle& m, const std::string& text, int expert = -1);
// KV-Lock's sigma2 threshold for this model when none is given: its calibrated kvlock tau, else the paper's 0.01.
// `local`: for sigma2 read inside an edit mask: the calibrated tau_local when the model has one. *calibrated
// (optional) says whether a calibrated value was used.
double kvlock_tau(const ModelBundle& m, bool* calibrated = nullptr, bool local = false);

// The KV lock's cost for a run (cache size, extra forwards), known before it starts.
KvLockCost kvlock_cost(const ModelBundle& m, const RunParams& p, const KvLockConfig& c);

GenerateResult generate(const ModelBundle& m, const GenerateRequest& req, const RunHooks& hooks = {});

}  // namespace focalscope
