#include "engine/guidance/guided_generate.h"

#include <cmath>

#include "engine/core/error.h"
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
  // FSG / AC read the image branch: visual anchors are img_emb(CLIP patch tokens) projected by each layer's
  // cross_attn.v_img (Eq. 7-8, 13). A Wan2.2 I2V-A14B expert has neither, with or without a CLIP file.
  if ((g.fsg || g.ac) && !m.is_mmdit() && (!m.dit.cfg.has_image_branch() || (m.dit_high && !m.dit_high->cfg.has_image_branch())))
    fail("focal guidance", std::string("FSG / the Attention Cache need the DiT's CLIP image branch (img_emb, cross_attn.v_img) for ") +
                               "their visual anchors; this model has none (a Wan2.2 I2V-A14B expert" +
                               (m.has_clip ? "; the --clip tower gives keyword maps but nothing projects its anchors" : ", run without --clip") +
                               "): run without --fsg / --ac (dynamic CFG and the analyses work)");
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
