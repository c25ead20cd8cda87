#include "app/cli/ablate_run.h"

#include <c10/core/InferenceMode.h>

#include <cmath>
#include <limits>
#include <memory>

#include "analysis/shapes_checker.h"
#include "app/cli/analyze_run.h"
#include "app/cli/bench_runner.h"
#include "app/cli/media.h"
#include "engine/capture/capture_keywords.h"
#include "engine/core/error.h"
#include "engine/shapes/shapes_prompts.h"

namespace focalscope::cli {


namespace {

double agreement(const analysis::CaseVerdict& v) {
  if (v.answers.empty()) return v.pass ? 1.0 : 0.0;
  int ok = 0;
  for (const auto& a : v.answers) ok += a.ok;
  return double(ok) / double(v.answers.size());
}

}  // namespace

std::vector<analysis::AblationRow> run_ablation_unit(const ModelBundle& m, const std::vector<CrossContext>& empty,
                                                     const shapes::BenchCase& bc, int seed_index,
                                                     const AblationOptions& opt) {
  GenerateRequest req;
  req.image = load_image_tensor(bc.ref_path);
  req.prompt = bc.c.prompt;
  req.seed = bench_case_seed(bc, seed_index);  // the benchmark's noise for this case: runs pair with bench's
  req.steps = opt.steps;
  req.guide_scale = opt.cfg;
  req.frames = bc.c.annotation.value("frames", -1);
  const RunParams P = resolve_params(m, req);
  const int total = 2 + static_cast<int>(opt.layers.size());
  int done = 0;
  auto tick = [&] {
    ++done;
    if (opt.on_variant) opt.on_variant(done, total);
  };
  auto judge = [&](const GenerateResult& r, int layer) {
    analysis::AblationRow row;
    row.case_id = bc.id;
    row.dimension = shapes::dimension_name(bc.c.dim);
    row.seed = seed_index;
    row.layer = layer;
    const analysis::CaseVerdict v = analysis::check_case(video_to_rgb_frames(r.video), bc.c.annotation);
    row.pass = v.pass;
    row.agreement = agreement(v);
    row.moran_i = row.moran_excess = std::numeric_limits<double>::quiet_NaN();
    return row;
  };

  // Un-ablated, with similarity capture of the prompt's object words (Moran's I per layer, as analyze computes it).
  std::vector<std::string> words = shapes::object_words(bc.c.prompt);
  std::vector<CaptureKeyword> kws;
  if (!words.empty()) kws = resolve_keywords(*m.tokenizer, bc.c.prompt, words, m.text_len, m.text_row_offset());
  std::unique_ptr<SimilarityCapture> cap, null_cap;
  ProbeChain chain;
  RunHooks base_hooks;
  base_hooks.cancel = opt.cancel;
  if (!kws.empty()) {
    CaptureSelection sel;
    const auto grid = token_grid(P.lat_f, P.lat_h, P.lat_w, m.patch_size());
    cap = std::make_unique<SimilarityCapture>(kws, make_capture_layout(sel, m.num_layers(), P.steps,
                                                                       static_cast<int64_t>(kws.size()), grid));
    chain.add(cap.get());
    // The prompt's control words in the same run, for the words rule's statistic (analysis/weak_layers.h, ControlWords).
    const std::vector<std::string> control = control_words(m, bc.c.prompt, words);
    if (!control.empty()) {
      auto ck = resolve_keywords(*m.tokenizer, bc.c.prompt, control, m.text_len, m.text_row_offset());
      null_cap = std::make_unique<SimilarityCapture>(
          ck, make_capture_layout(sel, m.num_layers(), P.steps, static_cast<int64_t>(ck.size()), grid));
      chain.add(null_cap.get());
    }
    base_hooks.listener = &chain;
  }
  GenerateResult base = generate(m, req, base_hooks);
  if (base.cancelled) return {};
  tick();
  std::vector<double> moran(static_cast<size_t>(m.num_layers()), std::numeric_limits<double>::quiet_NaN());
  std::vector<double> excess = moran;
  if (cap) {
    cap->finish();
    const auto values = capture_statistics(*cap).front().layer_means();
    std::vector<analysis::MapStats> nulls;
    if (null_cap) {
      null_cap->finish();
      nulls = capture_statistics(*null_cap).front().layer_means();  // mean over the control words
    }
    for (size_t s = 0; s < values.size(); ++s) {
      const auto l = static_cast<size_t>(cap->layout().layers[s]);
      moran[l] = values[s].morans_i;
      excess[l] = nulls.empty() ? 0.0 : values[s].morans_i - nulls[s].morans_i;  // no control word: neutral, as analyze
    }
  }
  std::vector<analysis::AblationRow> rows{judge(base, analysis::kAblateBaseline)};
  const at::Tensor z0 = base.latent.to(at::kCPU, at::kFloat);

  auto knocked = [&](const std::vector<int>& layers) {
    RunHooks h;
    h.cancel = opt.cancel;
    // Row 0 is the conditional pass; the unconditional one keeps its negative prompt.
    if (m.is_mmdit()) h.hide_prompt_layers = layers;  // joint attention: the image tokens stop reading the prompt's rows
    else h.edit_cross = [&](CrossContext& cc, int expert) { WanModel::swap_layer_text(cc, empty.at(expert == 1 ? 1 : 0), layers, {0}); };
    return generate(m, req, h);
  };
  std::vector<int> every(static_cast<size_t>(m.num_layers()));
  for (int l = 0; l < m.num_layers(); ++l) every[static_cast<size_t>(l)] = l;
  GenerateResult all = knocked(every);
  if (all.cancelled) return {};
  tick();
  const double text_effect = (all.latent.to(at::kCPU, at::kFloat) - z0).norm().item<double>();
  rows.push_back(judge(all, analysis::kAblateAllLayers));
  rows.back().latent_rel = 1.0;
  for (int l : opt.layers) {
    GenerateResult r = knocked({l});
    if (r.cancelled) return {};
    tick();
    analysis::AblationRow row = judge(r, l);
    const double d = (r.latent.to(at::kCPU, at::kFloat) - z0).norm().item<double>();
    // A prompt whose removal changes nothing at all (text_effect 0) leaves every layer's share undefined: NaN, skipped.
    row.latent_rel = text_effect > 0 ? d / text_effect : std::numeric_limits<double>::quiet_NaN();
    row.moran_i = moran[static_cast<size_t>(l)];
    row.moran_excess = excess[static_cast<size_t>(l)];
    rows.push_back(row);
  }
  return rows;
}

}  // namespace focalscope::cli
