#include "engine/guidance/guided_generate.h"

#include "engine/pipeline/model_bundle.h"

namespace focalscope {

GuidedResult generate_guided(const ModelBundle& m, const GenerateRequest& req, const GuidanceConfig& g, const RunHooks& hooks) {
  GuidedResult out;
  if (!g.active()) {
    out.run = generate(m, req, hooks);
    return out;
  }
  std::unique_ptr<FocalGuidance> fg;
  ProbeChain chain;
  RunHooks h = hooks;
  h.listener = &chain;
  h.on_conditioned = [&](const RunConditioning& rc) {
    out.plan = plan_focal_guidance(m, req.prompt, rc.clip_fea, g, rc.grid[1], rc.grid[2]);
    fg = std::make_unique<FocalGuidance>(m, g, out.plan, m.dit.cfg.num_layers);
    out.weak_layers = fg->weak_layers();
    chain.add(fg.get());
    chain.add(hooks.listener);
    if (hooks.on_conditioned) hooks.on_conditioned(rc);
  };
  out.run = generate(m, req, h);
  return out;
}

}  // namespace focalscope
