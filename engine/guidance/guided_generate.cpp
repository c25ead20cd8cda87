#include "engine/guidance/guided_generate.h"

#include <cmath>

#include "engine/core/error.h"
#include "engine/models/common/anchor_weights.h"
#include "engine/pipeline/model_bundle.h"

namespace focalscope {

GuidanceConfig with_model_defaults(GuidanceConfig g, const ModelBundle& m) {
  if (!g.tau_cache_given && !std::isnan(m.calibrated_tau_cache)) g.tau_cache = m.calibrated_tau_cache;
  if (!g.tau_sel_given && !std::isnan(m.calibrated_tau_sel)) g.tau_sel = m.calibrated_tau_sel;
  return g;
}

GuidedResult generate_guided(const ModelBundle& m, const GenerateRequest& req, const GuidanceConfig& config,
                             const RunHooks& hooks, bool record_cache_values) {
  GuidedResult out;
  out.config = with_model_defaults(config, m);
  const GuidanceConfig& g = out.config;
  GenerateRequest run_req = req;  // dynamic CFG rides in the request (the sampler applies it)
  if (g.dyncfg.enabled) run_req.dyncfg = g.dyncfg;
  if (g.kvlock.editing()) run_req.kvlock.config = g.kvlock;  // the edit's inputs (source, mask) ride in req.kvlock
  if (!g.active()) {
    out.run = generate(m, run_req, hooks);
    // Switched on with every strength at 0: the baseline, bit for bit; say so rather than pass silently.
    if (!out.run.cancelled) out.noops = guidance_noops(g, FsgPlan{{}, {KeywordAnchor{}}}, out.stats);
    return out;
  }
  // Wan2.1 reads its anchors through the image branch (img_emb, cross_attn.v_img: Eq. 7-8, 13). A Wan2.2 I2V-A14B
  // expert has none: its anchors are weights over latent frame 0's tokens, read through each layer's own text value
  // projection (WanBlockView, docs/focal_guidance.md); with no CLIP text tower the weights are uniform.
  const bool frame_anchors = !m.is_mmdit() && !m.dit.cfg.has_image_branch();
  if ((g.fsg || g.ac) && frame_anchors && !m.dit.cfg.is_i2v())
    fail("focal guidance", "FSG / the Attention Cache anchor their keywords in the reference image: this is not an image-to-video model");
  std::unique_ptr<FocalGuidance> fg;
  ProbeChain chain;
  RunHooks h = hooks;
  h.listener = &chain;
  h.on_conditioned = [&](const RunConditioning& rc) {
    out.plan = plan_focal_guidance(m, req.prompt, rc.clip_fea, g, rc.grid[1], rc.grid[2]);
    if (m.is_mmdit()) {
      // No image cross-attention: a keyword's visual value is the similarity-weighted mean of the layer's values of
      // the MLLM's image rows (hunyuan_visual_anchor_weights, docs/architectures.md), and its text rows sit after
      // those image rows.
      FsgPlan dit_plan = out.plan;
      std::vector<at::Tensor> sims;
      for (auto& k : dit_plan.keywords) {
        for (auto& t : k.tokens) t += m.text_row_offset();
        sims.push_back(k.sim);
      }
      const int64_t g_side = m.clip.cfg.image_size / m.clip.cfg.patch_size;
      const at::Tensor anchors = sims.empty() ? at::Tensor() : hunyuan_visual_anchor_weights(sims, g_side, m.mllm->cfg.image_stride);
      fg = std::make_unique<FocalGuidance>(g, m.num_layers(), m.weak_layers, anchors, dit_plan);
    } else if (frame_anchors) {
      std::vector<at::Tensor> sims;
      for (const auto& k : out.plan.keywords) sims.push_back(k.sim);  // undefined without CLIP: uniform weights
      const at::Tensor anchors = sims.empty() ? at::Tensor() : anchor_weights_on_grid(sims, rc.grid[1], rc.grid[2]);
      fg = std::make_unique<FocalGuidance>(g, m.num_layers(), m.weak_layers, anchors, out.plan);
    } else {
      fg = std::make_unique<FocalGuidance>(m, g, out.plan, m.num_layers());
    }
    fg->record_cache_values(record_cache_values);
    out.weak_layers = fg->weak_layers();
    chain.add(fg.get());
    chain.add(hooks.listener);
    if (hooks.on_conditioned) hooks.on_conditioned(rc);
  };
  out.run = generate(m, run_req, h);
  if (fg) out.stats = fg->stats();
  if (!out.run.cancelled) out.noops = guidance_noops(g, out.plan, out.stats);
  return out;
}

}  // namespace focalscope
