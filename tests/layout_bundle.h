// A runnable bundle from ../shared/fixtures/wan_checkpoint_layout (the official release layout at tiny size).
// Its DiT expects 1280-wide CLIP tokens (img_emb is hard-wired to ViT-H upstream) while its CLIP tower is the 64-wide
// fixture one, so the folder is not a consistent generator: swap in a small random 1280-wide tower (2 blocks,
// 32 px, patch 8) for end-to-end runs.
#pragma once
#include <memory>

#include "engine/pipeline/model_bundle.h"
#include "tests/test_util.h"

namespace focalscope::testing {

inline std::string layout_dir() { return shared_fixture("wan_checkpoint_layout"); }

inline std::unique_ptr<ModelBundle> runnable_layout_bundle() {
  LoadOptions opt;
  opt.check = false;
  auto b = load_model_bundle(layout_dir(), opt);
  ClipVisionConfig c = b->clip.cfg;
  c.dim = 1280;
  c.num_heads = 16;
  c.num_layers = 2;
  c.mlp_ratio = 1.0;
  b->clip = ClipVision::random_init(c, 3);
  check_bundle(*b);
  return b;
}

}  // namespace focalscope::testing
