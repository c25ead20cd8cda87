#include "engine/guidance/guided_edit.h"

#include <cstdio>

#include "engine/core/error.h"
#include "engine/core/weights.h"

namespace focalscope {

namespace {
// Video frames [3, F, H, W] to h x w (antialiased bilinear; untouched when the size already matches).
at::Tensor resize_video(const at::Tensor& v, int64_t h, int64_t w) {
  if (v.size(2) == h && v.size(3) == w) return v;
  return at::_upsample_bilinear2d_aa(v.permute({1, 0, 2, 3}), {h, w}, false).permute({1, 0, 2, 3}).contiguous();
}
}  // namespace

EditJob prepare_edit(const ModelBundle& m, const EditRequest& req, const GuidanceConfig& guidance) {
  const at::Tensor& sv = req.source_video;
  if (!sv.defined() || sv.dim() != 4 || sv.size(0) != 3 || sv.size(1) < 1)
    fail(req.source_name, "expected an RGB video [3, frames, height, width]");
  const at::Tensor& mk = req.mask;
  if (!mk.defined() || mk.dim() != 3) fail(req.mask_name, "expected a mask [frames, height, width]");
  if (mk.size(1) != sv.size(2) || mk.size(2) != sv.size(3))
    fail(req.mask_name, "is " + std::to_string(mk.size(2)) + "x" + std::to_string(mk.size(1)) + " but the video (" +
                            req.source_name + ") is " + std::to_string(sv.size(3)) + "x" + std::to_string(sv.size(2)));
  EditJob job;
  job.gen = req.gen;
  job.gen.image = req.image.defined() ? req.image : sv.select(1, 0);
  job.guidance = with_model_defaults(guidance, m);
  job.params = resolve_params(m, job.gen);
  const RunParams& P = job.params;
  if (sv.size(1) < P.frames)
    fail(req.source_name, "has " + std::to_string(sv.size(1)) + " frames; the model makes " + std::to_string(P.frames) +
                              " (a shorter source cannot be edited; pass --frames to make fewer)");
  if (mk.size(0) != 1 && mk.size(0) < P.frames)
    fail(req.mask_name, "has " + std::to_string(mk.size(0)) + " frames; it needs 1 (static) or at least " + std::to_string(P.frames));
  const at::Tensor pm = (mk.size(0) == 1 ? mk.expand({P.frames, mk.size(1), mk.size(2)}) : mk.narrow(0, 0, P.frames)) != 0;
  const double cover = pm.to(at::kFloat).mean().item<double>();
  if (cover == 0) fail(req.mask_name, "is empty: no pixel is marked for editing");
  if (cover == 1) fail(req.mask_name, "covers every pixel: there is no background to keep");
  // The source and the mask at the run's size (nearest for the mask, so it stays binary).
  at::Tensor source = resize_video(sv.narrow(1, 0, P.frames).to(at::kFloat), P.height, P.width);
  at::Tensor mask = at::upsample_nearest2d(pm.to(at::kFloat).unsqueeze(0), {P.height, P.width}).squeeze(0);
  job.mask_fraction = mask.mean().item<double>();
  if (job.mask_fraction == 0) fail(req.mask_name, "is empty at the model's resolution (" + std::to_string(P.width) + "x" + std::to_string(P.height) + ")");
  job.gen.kvlock.source_video = source;
  job.gen.kvlock.pixel_mask = mask;
  job.gen.kvlock.source_prompt = req.source_prompt;
  if (req.image.defined()) job.gen.kvlock.source_image = sv.select(1, 0);
  if (job.guidance.kvlock.editing()) job.cost = kvlock_cost(m, P, job.guidance.kvlock);
  return job;
}

EditResult run_edit(const ModelBundle& m, const EditJob& job, const RunHooks& hooks) {
  EditResult r;
  r.source = job.gen.kvlock.source_video;
  r.mask = job.gen.kvlock.pixel_mask;
  r.guided = generate_guided(m, job.gen, job.guidance, hooks);
  r.noops = r.guided.noops;
  const KvLockConfig& kc = job.guidance.kvlock;
  if (kc.lock && !r.guided.run.cancelled) {
    bool any = false;
    for (const auto& s : r.guided.run.kvlock) any = any || s.alpha > 0;
    if (!any)
      r.noops.push_back("kvlock: the fusion ratio was 0 in every locked step (sigma2 never above 0 there, or kappa 0): "
                        "the background lock did nothing");
  }
  return r;
}

std::string kvlock_summary(const GenerateResult& r) {
  int passes = 0, scheduled = 0;
  double sum = 0, lo = 1e9, hi = -1;
  for (const auto& s : r.kvlock) {
    if (!s.scheduled) continue;
    ++scheduled;
    passes += s.source_pass;
    sum += s.alpha;
    lo = std::min(lo, s.alpha);
    hi = std::max(hi, s.alpha);
  }
  char buf[256];
  if (scheduled == 0) return "kv lock: off (no locked steps)";
  std::snprintf(buf, sizeof buf, "kv lock: last %d steps, alpha mean %.3f (min %.3f, max %.3f), %d source passes, cache %.2f MB, tau %.4g%s",
                scheduled, sum / scheduled, lo, hi, passes, r.kvlock_cache_bytes / 1048576.0, r.kvlock_tau,
                r.kvlock_tau_calibrated ? " (calibrated)" : "");
  return buf;
}

}  // namespace focalscope
