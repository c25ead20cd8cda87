// Similarity capture (engine/capture) and its statistics (analysis/layer_stats): Eq. 10 maps on the tiny DiT
// fixture against a direct computation, keyword resolution, cond/uncond separation, fp16 storage, the memory
// estimate, layer/step subsets, publication of finished steps, and that capturing never changes the output.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <atomic>
#include <map>
#include <thread>

#include "analysis/layer_stats.h"
#include "engine/capture/capture_keywords.h"
#include "engine/capture/capture_layout.h"
#include "engine/capture/similarity_capture.h"
#include "engine/capture/text_response.h"
#include "engine/core/error.h"
#include "engine/core/fixture.h"
#include "engine/models/wan/wan_model.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/text/tokenizer.h"
#include "tests/layout_bundle.h"
#include "tests/test_util.h"

using namespace focalscope;
using focalscope::testing::fixtures_root;
using focalscope::testing::shared_fixture;

namespace {

// Records what the probe hands out at every layer (clones), for direct recomputation.
struct Recorder : ProbeListener {
  std::map<int, at::Tensor> x_norm, x, text_v;
  bool wants(const ForwardInfo&, int) const override { return true; }
  void on_cross_attn_values(BlockProbe& p) override {
    x_norm[p.layer] = p.x_norm.clone();
    x[p.layer] = p.x.clone();
    text_v[p.layer] = p.text_v.clone();
  }
};

// Eq. 10 in double with plain loops: z [L, dim], values [rows, dim] -> cos [K][L].
std::vector<std::vector<double>> direct_cosine(const at::Tensor& z_in, const at::Tensor& values_in,
                                               const std::vector<CaptureKeyword>& kws) {
  at::Tensor z = z_in.to(at::kDouble).contiguous(), v = values_in.to(at::kDouble).contiguous();
  const int64_t L = z.size(0), D = z.size(1);
  auto za = z.accessor<double, 2>();
  auto va = v.accessor<double, 2>();
  std::vector<std::vector<double>> out;
  for (const auto& k : kws) {
    std::vector<double> mean(static_cast<size_t>(D), 0.0);
    for (int64_t t : k.tokens)
      for (int64_t d = 0; d < D; ++d) mean[d] += va[t][d] / static_cast<double>(k.tokens.size());
    double vn = 0;
    for (double m : mean) vn += m * m;
    vn = std::sqrt(vn);
    std::vector<double> row;
    for (int64_t u = 0; u < L; ++u) {
      double dot = 0, zn = 0;
      for (int64_t d = 0; d < D; ++d) {
        dot += za[u][d] * mean[d];
        zn += za[u][d] * za[u][d];
      }
      row.push_back(dot / (std::sqrt(zn) * vn));
    }
    out.push_back(row);
  }
  return out;
}

// max |captured - direct| over keywords and tokens for one (step, pass, layer) slot.
double max_error(const SimilarityCapture& cap, int s, int p, int l, const std::vector<std::vector<double>>& direct) {
  double worst = 0;
  for (size_t k = 0; k < direct.size(); ++k) {
    std::vector<float> m = cap.map(s, p, l, static_cast<int>(k));
    EXPECT_EQ(m.size(), direct[k].size());
    for (size_t u = 0; u < m.size(); ++u) worst = std::max(worst, std::abs(double(m[u]) - direct[k][u]));
  }
  return worst;
}

struct DitFixture {
  Fixture f;
  WanModel model;
  DitInputs in;
  DitFixture() : f(load_fixture(fixtures_root() + "/wan_dit_i2v_tiny")) {
    model = WanModel::load(f.weights, WanConfig::from_json(f.config["constructor_args"]));
    in.x = f.in("x").unsqueeze(0);
    in.t = f.in("t1");
    in.context = f.in("context");
    in.y = f.in("y").unsqueeze(0);
    in.clip_fea = f.in("clip_fea");
  }
  std::array<int64_t, 3> grid() const { return {in.x.size(2), in.x.size(3) / 2, in.x.size(4) / 2}; }
  // One forward as sampler step 0 with the listeners attached (in order).
  at::Tensor forward_step0(std::initializer_list<ProbeListener*> listeners) const {
    ProbeChain chain;
    for (ProbeListener* l : listeners) chain.add(l);
    ForwardOptions opt;
    opt.step = 0;
    opt.listener = &chain;
    return model.forward(in, opt);
  }
};

// Two keywords: a single token and a two-piece word (mean of rows 2 and 4).
std::vector<CaptureKeyword> test_keywords() { return {{"one", {1}}, {"two-piece", {2, 4}}}; }

}  // namespace

// ---- layout and memory ----------------------------------------------------------------------------------

TEST(CaptureLayout, MemoryEstimateFormulaAnd14BExample) {
  // Wan2.1-I2V-14B 480P: 81 frames -> 21 latent frames, 480x832 -> 60x104 latents -> 30x52 tokens.
  const auto grid = token_grid(21, 60, 104, {1, 2, 2});
  EXPECT_EQ(grid, (std::array<int64_t, 3>{21, 30, 52}));
  CaptureLayout l = make_capture_layout({}, 40, 40, 1, grid);
  EXPECT_EQ(l.map_elems(), 32760);
  EXPECT_EQ(l.bytes(), 40LL * 40 * 32760 * 2);
  EXPECT_EQ(l.bytes(), 104832000);
  EXPECT_EQ(SimilarityCapture::estimate_bytes(l), 104832000);
  EXPECT_EQ(format_bytes(l.bytes()), "104.8 MB");
  EXPECT_EQ(l.bytes_per_keyword(), l.bytes());
  // Linear in keywords and passes; subsets shrink it.
  CaptureSelection both;
  both.uncond = true;
  EXPECT_EQ(make_capture_layout(both, 40, 40, 3, grid).bytes(), 6 * 104832000LL);
  CaptureSelection sub;
  sub.layers = {0, 10, 20, 30};
  sub.steps = {0, 39};
  EXPECT_EQ(make_capture_layout(sub, 40, 40, 1, grid).bytes(), 4LL * 2 * 32760 * 2);
  EXPECT_NE(l.describe().find("104.8 MB"), std::string::npos) << l.describe();
  // Bad selections are named errors.
  sub.layers = {40};
  EXPECT_THROW(make_capture_layout(sub, 40, 40, 1, grid), Error);
  CaptureSelection none;
  none.cond = false;
  EXPECT_THROW(make_capture_layout(none, 40, 40, 1, grid), Error);
}

TEST(CaptureLayout, IndexLists) {
  EXPECT_TRUE(parse_index_list("all", 10, "--layers").empty());
  EXPECT_EQ(parse_index_list("3,1,1,7", 10, "--layers"), (std::vector<int>{1, 3, 7}));
  EXPECT_EQ(parse_index_list("2-5", 10, "--layers"), (std::vector<int>{2, 3, 4, 5}));
  EXPECT_EQ(parse_index_list("0-9:4", 10, "--layers"), (std::vector<int>{0, 4, 8}));
  EXPECT_EQ(parse_index_list("even:3", 11, "--layers"), (std::vector<int>{0, 5, 10}));
  EXPECT_EQ(evenly_spaced(40, 8).front(), 0);
  EXPECT_EQ(evenly_spaced(40, 8).back(), 39);
  EXPECT_EQ(evenly_spaced(3, 8).size(), 3u);
  EXPECT_THROW(parse_index_list("12", 10, "--layers"), Error);
  EXPECT_THROW(parse_index_list("a", 10, "--layers"), Error);
  EXPECT_THROW(parse_index_list("5-2", 10, "--layers"), Error);
}

// ---- keywords ---------------------------------------------------------------------------------------------

TEST(CaptureKeywords, WordsMapToTokensAndMultiPieceWordsKeepAllPieces) {
  WanTokenizer tok(shared_fixture("wan_checkpoint_layout") + "/google/umt5-xxl/spiece.model");
  // Pieces: ▁A ▁c at ▁wa l ks ▁on ▁the ▁grass , ▁rea list ic ▁style .
  auto kws = resolve_keywords(tok, "A cat walks on the grass, realistic style.", {"cat", "Grass", "realistic"}, 512);
  ASSERT_EQ(kws.size(), 3u);
  EXPECT_EQ(kws[0].word, "cat");
  EXPECT_EQ(kws[0].tokens, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(kws[1].word, "grass");
  EXPECT_EQ(kws[1].tokens, (std::vector<int64_t>{8}));
  EXPECT_EQ(kws[2].tokens, (std::vector<int64_t>{10, 11, 12}));
  // "play" is "▁" + "play": the bare word-boundary piece is left out of the mean.
  auto play = resolve_keywords(tok, "  Two   dogs\tplay\nin the snow!  ", {"play"}, 512);
  EXPECT_EQ(play[0].tokens, (std::vector<int64_t>{5}));
  try {
    resolve_keywords(tok, "A cat walks", {"dog"}, 512);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("keyword 'dog'"), std::string::npos) << m;
    EXPECT_NE(m.find("cat"), std::string::npos) << m;  // lists the prompt's words
  }
  EXPECT_THROW(resolve_keywords(tok, "A cat walks", {"cat", "CAT"}, 512), Error);
  EXPECT_EQ(split_keyword_list(" red, circle ,,ball "), (std::vector<std::string>{"red", "circle", "ball"}));
}

// ---- maps on the DiT fixture --------------------------------------------------------------------------------

TEST(SimilarityCapture, MapsMatchDirectCosineAndUpstreamReference) {
  c10::InferenceMode guard;
  DitFixture fx;
  const auto kws = test_keywords();
  CaptureLayout layout = make_capture_layout({}, fx.model.cfg.num_layers, 1, 2, fx.grid());
  SimilarityCapture cap(kws, layout);
  Recorder rec;
  at::Tensor out_with = fx.forward_step0({&cap, &rec});
  ASSERT_EQ(cap.ready_steps(), 1);  // every (pass, layer) of the only step written -> published

  // fp16 storage, exactly the estimated size.
  EXPECT_EQ(cap.maps().scalar_type(), at::kHalf);
  EXPECT_EQ(cap.maps().nbytes(), static_cast<size_t>(layout.bytes()));
  EXPECT_EQ(cap.maps().sizes(), (std::vector<int64_t>{1, 1, 3, 2, 3, 4, 4}));

  // Every layer against the direct double computation from the probe's own tensors. fp16 keeps 11 significant
  // bits: |cos| <= 1 rounds by at most 2^-11.
  for (int l = 0; l < fx.model.cfg.num_layers; ++l) {
    auto direct = direct_cosine(rec.x_norm[l][0], rec.text_v[l][0], kws);
    EXPECT_LT(max_error(cap, 0, 0, l, direct), 5e-4) << "layer " << l;
  }
  // Layer 0 against upstream's own tensors: norm3 output and text embedding recorded by the Python reference,
  // values = cross_attn.v of the text embedding.
  at::Tensor te = fx.f.in("t1_text_embedding_out")[0];
  at::Tensor v_ref = at::linear(te, fx.f.weights.get("blocks.0.cross_attn.v.weight"), fx.f.weights.get("blocks.0.cross_attn.v.bias"));
  auto ref = direct_cosine(fx.f.in("t1_block0_norm3_out")[0], v_ref, kws);
  EXPECT_LT(max_error(cap, 0, 0, 0, ref), 1e-3);

  // Stored values are the fp16 rounding of the float cosine.
  auto direct0 = direct_cosine(rec.x_norm[0][0], rec.text_v[0][0], kws);
  const c10::Half* h = cap.map_data(0, 0, 0, 1);
  for (size_t u = 0; u < direct0[1].size(); ++u)
    EXPECT_NEAR(static_cast<float>(h[u]), static_cast<float>(c10::Half(static_cast<float>(direct0[1][u]))), 1e-3);

  // Capture is read-only: bit-identical output with and without it.
  ForwardOptions plain;
  plain.step = 0;
  at::Tensor out_without = fx.model.forward(fx.in, plain);
  EXPECT_TRUE(at::equal(out_with, out_without));

  // Residual-stream variant compares with x instead.
  SimilarityCapture cap_x(kws, layout, CaptureSource::Residual);
  EXPECT_TRUE(at::equal(fx.forward_step0({&cap_x}), out_without));
  for (int l = 0; l < fx.model.cfg.num_layers; ++l)
    EXPECT_LT(max_error(cap_x, 0, 0, l, direct_cosine(rec.x[l][0], rec.text_v[l][0], kws)), 5e-4) << "layer " << l;
  EXPECT_EQ(parse_capture_source("x"), CaptureSource::Residual);
  EXPECT_EQ(parse_capture_source("x_norm"), CaptureSource::NormedInput);
  EXPECT_THROW(parse_capture_source("q"), Error);
}

TEST(SimilarityCapture, GivenDirectionsGiveTheSameMapsAsTheWordsTheyCameFrom) {
  // analyze --control absent reads a control word's values from another text and hands them over as given
  // directions: handed the keyword's own value rows, the maps must be the keyword capture's.
  c10::InferenceMode guard;
  DitFixture fx;
  const auto kws = test_keywords();
  const int L = fx.model.cfg.num_layers;
  CaptureLayout layout = make_capture_layout({}, L, 1, 2, fx.grid());
  SimilarityCapture cap(kws, layout);
  Recorder rec;
  fx.forward_step0({&cap, &rec});

  FixedDirections d;
  d.names = {"one", "two-piece"};
  for (int l = 0; l < L; ++l) {
    const at::Tensor tv = rec.text_v[l][0].to(at::kFloat);
    d.per_layer.push_back(at::stack({tv[1], (tv[2] + tv[4]) / 2}));
  }
  SimilarityCapture given(d, layout);
  EXPECT_EQ(given.keywords()[1].word, "two-piece");
  fx.forward_step0({&given});
  ASSERT_EQ(given.ready_steps(), 1);
  for (int l = 0; l < L; ++l)
    for (int k = 0; k < 2; ++k) {
      const auto a = cap.map(0, 0, l, k), b = given.map(0, 0, l, k);
      for (size_t u = 0; u < a.size(); ++u) ASSERT_NEAR(a[u], b[u], 1e-3) << "layer " << l << " keyword " << k;
    }
  // A layer without directions, or the wrong number of rows, is refused when the capture is made.
  FixedDirections short_rows = d;
  short_rows.per_layer.pop_back();
  EXPECT_THROW(SimilarityCapture(short_rows, layout), Error);
  FixedDirections wrong_k = d;
  wrong_k.names.push_back("three");
  EXPECT_THROW(SimilarityCapture(wrong_k, layout), Error);
}

TEST(SimilarityCapture, ConditionalAndUnconditionalPassesAreKeptApart) {
  c10::InferenceMode guard;
  DitFixture fx;
  const auto kws = test_keywords();
  // CFG batch: row 0 cond (prompt), row 1 uncond (another prompt, another latent).
  DitInputs in2 = fx.in;
  in2.x = at::cat({fx.in.x, fx.in.x * 0.5 + 0.3}, 0);
  in2.t = at::cat({fx.in.t, fx.in.t});
  in2.y = fx.in.y.expand({2, -1, -1, -1, -1});
  in2.clip_fea = fx.in.clip_fea.expand({2, -1, -1});
  in2.context = at::cat({fx.model.pad_context(fx.f.in("context")), fx.model.pad_context(fx.f.in("context2"))}, 0);
  CaptureSelection both;
  both.uncond = true;
  CaptureLayout layout = make_capture_layout(both, 3, 1, 2, fx.grid());
  SimilarityCapture cap(kws, layout);
  Recorder rec;
  ProbeChain chain;
  chain.add(&cap);
  chain.add(&rec);
  ForwardOptions opt;
  opt.step = 0;
  opt.roles = {PassRole::Cond, PassRole::Uncond};
  opt.listener = &chain;
  at::Tensor out = fx.model.forward(in2, opt);
  ASSERT_EQ(cap.ready_steps(), 1);
  const int pc = layout.pass_slot(PassRole::Cond), pu = layout.pass_slot(PassRole::Uncond);
  ASSERT_EQ(pc, 0);
  ASSERT_EQ(pu, 1);
  for (int l = 0; l < 3; ++l) {
    // Cond: cond z with the prompt's V(k). Uncond: uncond z with the SAME V(k) (the negative prompt has no keyword).
    EXPECT_LT(max_error(cap, 0, pc, l, direct_cosine(rec.x_norm[l][0], rec.text_v[l][0], kws)), 5e-4) << l;
    EXPECT_LT(max_error(cap, 0, pu, l, direct_cosine(rec.x_norm[l][1], rec.text_v[l][0], kws)), 5e-4) << l;
    EXPECT_FALSE(at::equal(cap.maps()[0][pc][l], cap.maps()[0][pu][l])) << l;
    EXPECT_TRUE(cap.filled(0, pc, l));
    EXPECT_TRUE(cap.filled(0, pu, l));
  }
  // The cond maps of the batch equal those of a cond-only batch-1 run on row 0.
  SimilarityCapture single(kws, make_capture_layout({}, 3, 1, 2, fx.grid()));
  ForwardOptions o1;
  o1.step = 0;
  o1.listener = &single;
  fx.model.forward(fx.in, o1);
  for (int l = 0; l < 3; ++l)
    for (int k = 0; k < 2; ++k) {
      auto a = cap.map(0, pc, l, k), b = single.map(0, 0, l, k);
      for (size_t u = 0; u < a.size(); ++u) ASSERT_NEAR(a[u], b[u], 1e-3) << l << " " << k;
    }
  // And the batch output is unchanged by the capture.
  ForwardOptions plain;
  plain.step = 0;
  plain.roles = opt.roles;
  EXPECT_TRUE(at::equal(out, fx.model.forward(in2, plain)));
}

TEST(SimilarityCapture, LayerAndStepSubsetsAndStepPublication) {
  c10::InferenceMode guard;
  DitFixture fx;
  const auto kws = test_keywords();
  CaptureSelection sel;
  sel.layers = {0, 2};
  sel.steps = {1, 2};
  CaptureLayout layout = make_capture_layout(sel, 3, 4, 2, fx.grid());
  EXPECT_EQ(layout.bytes(), 2LL * 1 * 2 * 2 * 48 * 2);
  SimilarityCapture cap(kws, layout);
  ForwardInfo info;
  info.roles = {PassRole::Cond};
  for (int step = 0; step < 4; ++step)
    for (int layer = 0; layer < 3; ++layer) {
      info.step = step;
      EXPECT_EQ(cap.wants(info, layer), (step == 1 || step == 2) && layer != 1) << step << " " << layer;
    }
  info.step = 1;
  info.roles = {PassRole::Uncond};  // only cond is stored
  EXPECT_FALSE(cap.wants(info, 0));

  Recorder rec;
  ProbeChain chain;
  chain.add(&cap);
  chain.add(&rec);
  const at::Tensor ts[4] = {fx.f.in("t1"), fx.f.in("t2"), fx.f.in("t1") * 0.5, fx.f.in("t2") * 0.25};
  std::map<int, std::map<int, at::Tensor>> z_at, v_at;  // step -> layer -> tensors
  for (int step = 0; step < 4; ++step) {
    EXPECT_EQ(cap.ready_steps(), std::max(0, std::min(step - 1, 2))) << "before step " << step;
    DitInputs in = fx.in;
    in.t = ts[step];
    ForwardOptions opt;
    opt.step = step;
    opt.listener = &chain;
    fx.model.forward(in, opt);
    for (int l = 0; l < 3; ++l) {
      z_at[step][l] = rec.x_norm[l][0];
      v_at[step][l] = rec.text_v[l][0];
    }
  }
  EXPECT_EQ(cap.ready_steps(), 2);
  EXPECT_EQ(cap.ready_slot(1), 0);
  EXPECT_EQ(cap.ready_slot(2), 1);
  EXPECT_EQ(cap.ready_slot(0), -1);  // not captured
  EXPECT_THROW(cap.map_data(2, 0, 0, 0), Error);  // no such slot
  for (int s = 0; s < 2; ++s)
    for (int l = 0; l < 2; ++l) {
      const int step = layout.steps[s], layer = layout.layers[l];
      EXPECT_TRUE(cap.filled(s, 0, l));
      EXPECT_LT(max_error(cap, s, 0, l, direct_cosine(z_at[step][layer], v_at[step][layer], kws)), 5e-4) << s << l;
    }
  // Published steps are immutable: rerunning step 1 does not touch its maps.
  std::vector<float> before = cap.map(0, 0, 0, 0);
  EXPECT_FALSE(cap.wants(ForwardInfo{1, 0, {PassRole::Cond}, {}}, 0));
  EXPECT_EQ(cap.map(0, 0, 0, 0), before);
}

TEST(SimilarityCapture, ReadersSeeOnlyFinishedStepsAndFinishPublishesPartialRuns) {
  c10::InferenceMode guard;
  DitFixture fx;
  // Both passes requested but the run has no uncond rows: a step closes when the next one starts, and finish()
  // closes the last one.
  CaptureSelection both;
  both.uncond = true;
  SimilarityCapture cap(test_keywords(), make_capture_layout(both, 3, 2, 2, fx.grid()));
  ForwardOptions opt;
  opt.listener = &cap;
  opt.step = 0;
  fx.model.forward(fx.in, opt);
  EXPECT_EQ(cap.ready_steps(), 0);
  EXPECT_EQ(cap.ready_slot(0), -1);  // captured but not finished: the uncond pass never came
  EXPECT_THROW(cap.map(0, 0, 0, 0), Error);
  opt.step = 1;
  fx.model.forward(fx.in, opt);
  EXPECT_EQ(cap.ready_steps(), 1);
  EXPECT_TRUE(cap.filled(0, 0, 1));
  EXPECT_FALSE(cap.filled(0, 1, 1));  // the uncond slot stays empty (zeros)
  cap.finish();
  EXPECT_EQ(cap.ready_steps(), 2);
}

// ---- statistics ------------------------------------------------------------------------------------------

TEST(LayerStats, MeansOverFramesKeywordsAndStepsAndWeakLayers) {
  using namespace focalscope::analysis;
  // 2 layers, 2 steps, 1 keyword, 2 frames of 4x4: layer 0 smooth (a gradient), layer 1 checkerboard.
  SampleLayerStats st(2, 2, 1, 2);
  std::vector<float> smooth(32), checker(32);
  for (int f = 0; f < 2; ++f)
    for (int i = 0; i < 16; ++i) {
      smooth[f * 16 + i] = static_cast<float>(i / 4 + (f + 1) * (i % 4));
      checker[f * 16 + i] = static_cast<float>(((i / 4) + (i % 4)) % 2);
    }
  for (int s = 0; s < 2; ++s) {
    st.add_map(0, s, 0, smooth.data(), 4, 4);
    st.add_map(1, s, 0, checker.data(), 4, 4);
  }
  EXPECT_THROW(st.add_map(0, 0, 0, smooth.data(), 4, 4), Error);
  auto means = st.layer_means();
  const MapStats f0 = map_stats(smooth.data(), 4, 4), f1 = map_stats(smooth.data() + 16, 4, 4);
  EXPECT_NEAR(means[0].morans_i, (f0.morans_i + f1.morans_i) / 2, 1e-12);
  EXPECT_NEAR(means[0].std_minmax, (f0.std_minmax + f1.std_minmax) / 2, 1e-12);
  EXPECT_GT(means[0].morans_i, 0.3);
  EXPECT_LT(means[1].morans_i, 0.0);
  EXPECT_NEAR(st.layer_means({1})[0].morans_i, means[0].morans_i, 1e-12);

  SampleLayerStats partial(1, 2, 1, 1);
  std::vector<float> one(16, 0.f);
  partial.add_map(0, 0, 0, one.data(), 4, 4);
  EXPECT_THROW(partial.layer_means(), Error);  // step slot 1 missing
  EXPECT_NO_THROW(partial.layer_means({0}));

  // Curves over samples: 10 layers, layers 4-5 dip.
  LayerCurves curves(10);
  for (int s = 0; s < 5; ++s) {
    std::vector<MapStats> per_layer(10);
    for (int l = 0; l < 10; ++l) {
      per_layer[l].morans_i = (l == 4 || l == 5 ? 0.2 : 0.7) + 0.01 * ((s + l) % 3);
      per_layer[l].std_minmax = 0.25;
    }
    curves.add_sample(per_layer);
  }
  EXPECT_EQ(curves.samples(), 5);
  WeakLayerReport r = curves.detect();
  EXPECT_EQ(r.weak, (std::vector<int>{4, 5}));
  EXPECT_EQ(r.score.size(), 10u);
  WeakLayerOptions o;
  o.override_layers = std::vector<int>{7};
  EXPECT_EQ(curves.detect(o).weak, (std::vector<int>{7}));
  EXPECT_EQ(contiguous_runs({1, 2, 3, 7, 9, 10}), (std::vector<std::pair<int, int>>{{1, 3}, {7, 7}, {9, 10}}));
}

// ---- end to end through generate() ----------------------------------------------------------------------

TEST(SimilarityCapture, EndToEndRunOnTheCheckpointLayout) {
  // The folder's CLIP tower is narrower than its DiT's img_emb: tests/layout_bundle.h swaps in a 1280-wide one.
  auto bundle = focalscope::testing::runnable_layout_bundle();

  GenerateRequest req;
  at::manual_seed(0);
  req.image = at::rand({3, 64, 64}) * 2 - 1;
  req.prompt = "A cat walks on the grass, realistic style.";
  req.steps = 3;
  req.frames = 5;
  req.max_area = 64 * 64;
  req.seed = 7;
  const RunParams P = resolve_params(*bundle, req);
  const auto grid = token_grid(P.lat_f, P.lat_h, P.lat_w, bundle->dit.cfg.patch_size);
  auto kws = resolve_keywords(*bundle->tokenizer, req.prompt, {"cat", "grass"}, bundle->text_len);
  CaptureSelection both;
  both.uncond = true;
  SimilarityCapture cap(kws, make_capture_layout(both, bundle->dit.cfg.num_layers, P.steps, 2, grid));
  std::vector<int> ready_at_step;
  RunHooks hooks;
  hooks.listener = &cap;
  hooks.on_step = [&](const StepProgress&) { ready_at_step.push_back(cap.ready_steps()); };
  GenerateResult with = generate(*bundle, req, hooks);
  cap.finish();
  EXPECT_EQ(ready_at_step, (std::vector<int>{1, 2, 3}));  // each step readable as soon as it is done
  GenerateResult without = generate(*bundle, req);
  EXPECT_TRUE(at::equal(with.latent, without.latent));
  EXPECT_TRUE(at::equal(with.video, without.video));

  // A reader thread polling while the sampler runs sees each step exactly as it ends up (published maps are final).
  {
    SimilarityCapture cap2(kws, cap.layout());
    RunHooks h2;
    h2.listener = &cap2;
    std::atomic<bool> done{false};
    std::thread worker([&] {
      generate(*bundle, req, h2);
      cap2.finish();
      done = true;
    });
    std::vector<std::vector<float>> seen;  // first map of each step, copied as soon as it was ready
    while (static_cast<int>(seen.size()) < P.steps) {
      const int ready = cap2.ready_steps();
      for (int s = static_cast<int>(seen.size()); s < ready; ++s) seen.push_back(cap2.map(s, 0, 0, 0));
      if (done && static_cast<int>(seen.size()) == cap2.ready_steps()) break;
      std::this_thread::yield();
    }
    worker.join();
    ASSERT_EQ(static_cast<int>(seen.size()), P.steps);
    for (int s = 0; s < P.steps; ++s) EXPECT_EQ(seen[s], cap.map(s, 0, 0, 0)) << "step " << s;
  }

  at::Tensor maps = cap.maps().to(at::kFloat);
  EXPECT_TRUE(at::isfinite(maps).all().item<bool>());
  EXPECT_LE(maps.abs().max().item<double>(), 1.0 + 1e-3);
  EXPECT_GT(maps.abs().max().item<double>(), 0.0);
  // Statistics of the cond pass.
  const auto& L = cap.layout();
  analysis::SampleLayerStats st(static_cast<int>(L.layers.size()), static_cast<int>(L.steps.size()), 2, grid[0]);
  for (int s = 0; s < cap.ready_steps(); ++s)
    for (int l = 0; l < static_cast<int>(L.layers.size()); ++l)
      for (int k = 0; k < 2; ++k) st.add_map(l, s, k, cap.map(s, 0, l, k).data(), grid[1], grid[2]);
  auto per_layer = st.layer_means();
  ASSERT_EQ(per_layer.size(), L.layers.size());
  for (const auto& m : per_layer) {
    EXPECT_TRUE(std::isfinite(m.morans_i));
    EXPECT_GE(m.std_minmax, 0.0);
    EXPECT_LE(m.std_minmax, 0.5);
  }
}

// Records x entering and leaving each layer's cross-attention.
struct CrossAttnDelta : ProbeListener {
  std::map<int, at::Tensor> before, after;
  bool wants(const ForwardInfo&, int) const override { return true; }
  void on_cross_attn_values(BlockProbe& p) override { before[p.layer] = p.x.clone(); }
  void on_cross_attn_output(BlockProbe& p) override { after[p.layer] = p.x.clone(); }
};

TEST(TextResponse, EqualsTheCrossAttentionChangeWhenOneLayerLosesItsText) {
  // R_l must be what the layer's cross-attention adds with the prompt minus what it adds with the empty prompt, over
  // the stream's size: recomputed here by running the block twice, once with layer l's text swapped for the empty
  // context (swap_layer_text, as `ablate` does), on the same input.
  c10::InferenceMode guard;
  DitFixture fx;
  const int L = fx.model.cfg.num_layers;
  const CrossContext prompt = fx.model.precompute_cross(fx.model.pad_context(fx.in.context), fx.in.clip_fea);
  const CrossContext empty = fx.model.precompute_cross(fx.model.pad_context(at::zeros_like(fx.in.context)), fx.in.clip_fea);
  CaptureLayout layout = make_capture_layout({}, L, 1, 1, fx.grid());
  TextResponseProbe probe(prompt, {empty}, layout, fx.model.cfg.num_heads);
  const at::Tensor plain = fx.forward_step0({});
  CrossAttnDelta rec;
  EXPECT_TRUE(at::equal(fx.forward_step0({&probe, &rec}), plain));  // read-only
  const auto r = probe.layer_means();
  ASSERT_EQ(r.size(), static_cast<size_t>(L));
  for (int l = 0; l < L; ++l) {
    CrossContext swapped = prompt;
    WanModel::swap_layer_text(swapped, empty, {l});
    CrossAttnDelta rec_swapped;
    ProbeChain chain;
    chain.add(&rec_swapped);
    ForwardOptions opt;
    opt.step = 0;
    opt.listener = &chain;
    opt.cross = &swapped;
    fx.model.forward(fx.in, opt);
    ASSERT_TRUE(at::allclose(rec_swapped.before[l], rec.before[l]));  // same input to layer l
    const at::Tensor moved = rec.after[l][0] - rec_swapped.after[l][0];
    const double expect = moved.norm(2, {-1}).mean().item<double>() / rec.before[l][0].norm(2, {-1}).mean().item<double>();
    EXPECT_GT(r[l], 0) << "layer " << l;
    EXPECT_NEAR(r[l], expect, 1e-4 * std::max(1.0, expect)) << "layer " << l;
  }
  // The plain ATen path (what other dtypes and devices take; the fused kernels are float32 CPU only) gives the same.
  {
    TextResponseProbe plain_path(prompt, {empty}, layout, fx.model.cfg.num_heads);
    plain_path.reference_path = true;
    fx.forward_step0({&plain_path});
    const auto rp = plain_path.layer_means();
    for (int l = 0; l < L; ++l) EXPECT_NEAR(rp[l], r[l], 1e-5 * std::max(1.0, r[l])) << "ATen path, layer " << l;
  }
  // The prompt against itself moves nothing.
  TextResponseProbe same(prompt, {prompt}, layout, fx.model.cfg.num_heads);
  fx.forward_step0({&same});
  for (double v : same.layer_means()) EXPECT_EQ(v, 0.0);
  // A layer or step that was not recorded is an error, not a silent zero.
  TextResponseProbe unrun(prompt, {empty}, layout, fx.model.cfg.num_heads);
  EXPECT_THROW(unrun.layer_means(), Error);
}
