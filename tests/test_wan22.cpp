// Wan2.2 I2V-A14B (issue 27 item 7): a two-expert folder (high_noise_model/ + low_noise_model/, shared umT5 / VAE /
// tokenizer, no CLIP) written here at tiny size, detected from content, loaded into one ModelBundle with two DiTs,
// sampled with the expert switch at the boundary timestep and per-expert guidance; checked against schedules worked by
// hand from upstream wan/image2video.py; and the one-DiT Wan2.1 path left as it was.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"
#include "engine/core/weights.h"
#include "engine/guidance/guided_edit.h"
#include "engine/guidance/guided_generate.h"
#include "engine/models/common/anchor_weights.h"
#include "engine/models/common/layers.h"
#include "engine/models/wan/conditioning.h"
#include "engine/pipeline/i2v_pipeline.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/sched/scheduler.h"
#include "render/image.h"
#include "tests/layout_bundle.h"
#include "tests/test_util.h"

using namespace focalscope;
namespace fs = std::filesystem;

namespace {

// The tiny DiT of ../shared/fixtures/wan_checkpoint_layout (dim 96, 3 heads, 3 layers, text_dim 32, in_dim 36) as a
// Wan2.2 expert: i2v without the CLIP image branch. Random weights, the head too (init() zero-inits it as upstream,
// which would make every expert predict the same zero velocity).
WanModel random_expert(uint64_t seed) {
  WanConfig c = WanConfig::from_json(read_json_object_file(focalscope::testing::layout_dir() + "/config.json"));
  c.image_branch = false;
  WanModel m = WanModel::init(c, seed);
  auto g = at::detail::createCPUGenerator(seed + 1000);
  for (auto& [n, t] : m.named_parameters())
    if (n.rfind("head.head", 0) == 0) t.copy_(at::randn(t.sizes(), g) * 0.05);
  return m;
}

// Upstream's layout (wan/configs/wan_i2v_A14B.py, Wan-AI/Wan2.2-I2V-A14B): each expert folder has config.json (the
// Wan2.1-style config: model_type "i2v", in_dim 36 — it says nothing about img_emb) and the DiT shards; the umT5, VAE
// and tokenizer sit at the root under the Wan2.1 names; there is no CLIP file.
std::string write_wan22_folder(const std::string& tag, uint64_t seed_high = 11, uint64_t seed_low = 22) {
  const std::string dir = focalscope::testing::temp_dir("wan22_" + tag);
  const std::string src = focalscope::testing::layout_dir();
  for (const auto& [sub, seed] : std::vector<std::pair<std::string, uint64_t>>{{"high_noise_model", seed_high}, {"low_noise_model", seed_low}}) {
    fs::create_directories(dir + "/" + sub);
    fs::copy_file(src + "/config.json", dir + "/" + sub + "/config.json", fs::copy_options::overwrite_existing);
    save_safetensors(dir + "/" + sub + "/diffusion_pytorch_model.safetensors", random_expert(seed).named_parameters());
  }
  fs::create_directories(dir + "/google/umt5-xxl");
  for (const char* f : {"models_t5_umt5-xxl-enc-bf16.pth", "Wan2.1_VAE.pth", "google/umt5-xxl/spiece.model"})
    fs::copy_file(src + "/" + f, dir + "/" + f, fs::copy_options::overwrite_existing);
  return dir;
}

GenerateRequest small_request() {
  GenerateRequest req;
  auto g = at::detail::createCPUGenerator(5);
  req.image = at::rand({3, 48, 64}, g) * 2 - 1;
  req.prompt = "A cat walks on the grass";
  req.frames = 5;
  req.max_area = 64 * 64;
  req.seed = 7;
  req.hallucination_window = 0;
  return req;
}

// Records, per forward, the step and the expert the listener is told about (ForwardInfo).
struct ExpertLog : ProbeListener {
  std::vector<std::pair<int, int>> seen;  // (step, expert) at layer 0
  bool wants(const ForwardInfo& info, int layer) const override {
    if (layer == 0) const_cast<ExpertLog*>(this)->seen.emplace_back(info.step, info.expert);
    return false;
  }
};

}  // namespace

TEST(Wan22, FolderIsDetectedFromContent) {
  const std::string dir = write_wan22_folder("detect");
  ModelLayout L = detect_model_layout(dir);
  EXPECT_EQ(L.format, "wan2.2-i2v-a14b");
  EXPECT_NE(L.variant.find("Wan2.2 I2V-A14B"), std::string::npos) << L.variant;
  EXPECT_NE(L.variant.find("two experts"), std::string::npos) << L.variant;
  EXPECT_NE(L.variant.find("boundary 0.900"), std::string::npos) << L.variant;
  EXPECT_NE(L.variant.find("no CLIP"), std::string::npos) << L.variant;
  EXPECT_NE(L.dit_high_weights.find("high_noise_model"), std::string::npos);
  EXPECT_NE(L.dit_weights.find("low_noise_model"), std::string::npos);
  EXPECT_TRUE(L.clip_weights.empty());
  // A Wan2.1 DiT (with img_emb) in an expert folder is refused by content, naming the folder.
  const std::string bad = write_wan22_folder("detect_bad");
  fs::remove(bad + "/high_noise_model/diffusion_pytorch_model.safetensors");
  for (const auto& e : fs::directory_iterator(focalscope::testing::layout_dir()))
    if (e.path().filename().string().rfind("diffusion_pytorch_model", 0) == 0)
      fs::copy_file(e.path(), bad + "/high_noise_model/" + e.path().filename().string());
  const std::string msg = focalscope::testing::error_of([&] { detect_model_layout(bad); });
  EXPECT_NE(msg.find("high_noise_model/ holds a Wan DiT of variant 'I2V (CLIP image branch)'"), std::string::npos) << msg;
  fs::remove_all(dir);
  fs::remove_all(bad);
  // For trying the CLI by hand: FOCALSCOPE_WAN22_OUT=DIR keeps a copy of the folder there
  // (focalscope info --model-dir DIR; focalscope generate --model-dir DIR ...).
  if (const char* keep = std::getenv("FOCALSCOPE_WAN22_OUT"); keep && *keep)
  {
    const std::string tmp = write_wan22_folder("keep");
    fs::copy(tmp, keep, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    fs::remove_all(tmp);
  }
}

TEST(Wan22, BundleHoldsTwoExpertsAndUpstreamDefaults) {
  const std::string dir = write_wan22_folder("bundle");
  auto b = load_model_bundle(dir);
  ASSERT_TRUE(b->two_experts());
  EXPECT_FALSE(b->has_clip);
  EXPECT_TRUE(b->dit.cfg.is_i2v());
  EXPECT_FALSE(b->dit.cfg.has_image_branch());
  EXPECT_FALSE(b->dit_high->cfg.has_image_branch());
  EXPECT_FALSE(b->dit.img_lin1.w.defined());
  // Each expert holds its own folder's weights (low -> dit, high -> dit_high), exactly as written.
  const WanModel lo = random_expert(22), hi = random_expert(11);
  const auto pl = b->dit.named_parameters(), ph = b->dit_high->named_parameters(), wl = lo.named_parameters(), wh = hi.named_parameters();
  ASSERT_EQ(pl.size(), wl.size());
  for (size_t i = 0; i < pl.size(); ++i) {
    EXPECT_TRUE(at::equal(pl[i].second, wl[i].second)) << pl[i].first;
    EXPECT_TRUE(at::equal(ph[i].second, wh[i].second)) << ph[i].first;
  }
  EXPECT_FALSE(at::equal(b->dit.head.w, b->dit_high->head.w));
  // wan/configs/wan_i2v_A14B.py: sample_shift 5.0, sample_steps 40, sample_guide_scale (3.5, 3.5) = (low, high),
  // boundary 0.900, num_train_timesteps 1000 (shared_config.py) -> boundary timestep 900.
  EXPECT_EQ(b->defaults.solver, "unipc");
  EXPECT_EQ(b->defaults.steps, 40);
  EXPECT_EQ(b->defaults.shift, 5.0);
  EXPECT_EQ(b->defaults.guide_scale, 3.5);
  EXPECT_EQ(b->defaults.guide_scale_high, 3.5);
  EXPECT_EQ(b->defaults.boundary, 0.9);
  EXPECT_EQ(b->boundary_timestep(), 900.0);
  EXPECT_EQ(b->defaults.negative_prompt.rfind("色调艳丽", 0), 0u);  // Wan2.2's list has no "镜头晃动，" prefix
  EXPECT_TRUE(b->high_noise_step(900));
  EXPECT_FALSE(b->high_noise_step(899));
  fs::remove_all(dir);
}

// The default schedule, worked by hand from upstream:
//   FlowUniPCMultistepScheduler(num_train_timesteps=1000, shift=1): sigma_max = 1 - 1/1000 = 0.999 (its first training
//   sigma), sigma_min = 0; set_timesteps(40, shift=5): sigma_i = 0.999 * (1 - i/40), shifted 5 s / (1 + 4 s), t_i =
//   int(1000 * shifted). image2video.py: boundary = 0.900 * 1000 = 900; t >= 900 -> high_noise_model, guide_scale[1].
//   t_i >= 900  <=>  5 s / (1 + 4 s) >= 0.9  <=>  1.4 s >= 0.9  <=>  s >= 9/14 = 0.642857
//               <=>  0.999 (40 - i) / 40 >= 0.642857  <=>  40 - i >= 25.74  <=>  i <= 14.
//   i = 14: s = 0.999 * 26/40 = 0.649350, shifted = 3.246750 / 3.597400 = 0.902527 -> t = 902 (high-noise)
//   i = 15: s = 0.999 * 25/40 = 0.624375, shifted = 3.121875 / 3.497500 = 0.892602 -> t = 892 (low-noise)
//   So steps 0-14 (15 steps) run the high-noise expert and steps 15-39 (25) the low-noise one.
TEST(Wan22, DefaultScheduleSwitchesExpertsAtStep15) {
  auto s = make_scheduler("unipc");
  s->set_timesteps(40, 5.0);
  EXPECT_EQ(s->timesteps()[14], 902);
  EXPECT_EQ(s->timesteps()[15], 892);
  const std::string dir = write_wan22_folder("default_run");
  auto b = load_model_bundle(dir);
  GenerateRequest req = small_request();  // defaults: 40 steps, shift 5, guide (3.5, 3.5)
  ExpertLog log;
  RunHooks hooks;
  hooks.listener = &log;
  GenerateResult r = generate(*b, req, hooks);
  ASSERT_EQ(r.params.steps, 40);
  EXPECT_EQ(r.params.shift, 5.0);
  EXPECT_EQ(r.params.boundary_timestep, 900.0);
  std::vector<int> want(40, 0);
  for (int i = 0; i <= 14; ++i) want[i] = 1;
  EXPECT_EQ(r.step_expert, want);
  EXPECT_EQ(r.step_guide_scale, std::vector<double>(40, 3.5));
  // Listeners (capture, guidance) are told the expert of every forward.
  ASSERT_EQ(log.seen.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(log.seen[i], std::make_pair(i, want[i])) << i;
  EXPECT_TRUE(at::isfinite(r.video).all().item<bool>());
  fs::remove_all(dir);
}

// Per-expert guidance on a 12-step schedule, worked by hand as above:
//   sigma_i = 0.999 (12 - i) / 12 >= 9/14  <=>  12 - i >= 7.72  <=>  i <= 4.
//   i = 4: s = 0.666000, shifted = 3.330000 / 3.664000 = 0.908843 -> t = 908 (high-noise, scale guide_scale_high = 6)
//   i = 5: s = 0.582750, shifted = 2.913750 / 3.331000 = 0.874737 -> t = 874 (low-noise, scale guide_scale = 2)
// The run must equal, bit for bit, a loop written here that calls the high expert with scale 6 on steps 0-4 and the
// low expert with scale 2 on steps 5-11 (image2video.py: noise_pred = uncond + scale * (cond - uncond)); swapping the
// scales or the experts must not.
TEST(Wan22, PerExpertGuidanceMatchesAHandWorkedSchedule) {
  const std::string dir = write_wan22_folder("guidance");
  auto b = load_model_bundle(dir);
  GenerateRequest req = small_request();
  req.steps = 12;
  req.guide_scale = 2.0;       // low-noise expert (sample_guide_scale[0])
  req.guide_scale_high = 6.0;  // high-noise expert (sample_guide_scale[1])
  GenerateResult r = generate(*b, req);
  const std::vector<int> want_expert{1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(r.step_expert, want_expert);
  EXPECT_EQ(r.step_guide_scale, (std::vector<double>{6, 6, 6, 6, 6, 2, 2, 2, 2, 2, 2, 2}));

  auto replay = [&](int last_high_step, double scale_high, double scale_low, bool swap_experts) {
    c10::InferenceMode guard;
    const WanModel& hi = swap_experts ? b->dit : *b->dit_high;
    const WanModel& lo = swap_experts ? *b->dit_high : b->dit;
    // Conditioning as image2video.py: context / context_null, y = [mask, VAE([image, zeros])], no clip_fea.
    at::Tensor context = at::cat({b->dit.pad_context(encode_prompt(*b, req.prompt).to(at::kFloat)),
                                  b->dit.pad_context(encode_prompt(*b, b->defaults.negative_prompt).to(at::kFloat))}, 0);
    const RunParams& P = r.params;
    at::Tensor resized = at::upsample_bicubic2d(req.image.unsqueeze(0).to(at::kFloat), {P.height, P.width}, false);
    at::Tensor vin = at::cat({resized.unsqueeze(2), at::zeros({1, 3, P.frames - 1, P.height, P.width})}, 2);
    at::Tensor y = at::cat({i2v_mask(P.lat_f, P.lat_h, P.lat_w).unsqueeze(0), b->vae.encode(vin)}, 1).expand({2, -1, -1, -1, -1});
    const CrossContext c_hi = hi.precompute_cross(context, at::Tensor()), c_lo = lo.precompute_cross(context, at::Tensor());
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(req.seed));
    at::Tensor latent = at::randn({16, P.lat_f, P.lat_h, P.lat_w}, gen, at::TensorOptions().dtype(at::kFloat));
    auto s = make_scheduler("unipc");
    s->set_timesteps(12, 5.0);
    for (int i = 0; i < 12; ++i) {
      const bool high = i <= last_high_step;
      DitInputs in;
      in.x = latent.unsqueeze(0).expand({2, -1, -1, -1, -1});
      in.t = at::full({2}, static_cast<double>(s->timesteps()[i]), at::TensorOptions().dtype(at::kDouble));
      in.y = y;
      ForwardOptions o;
      o.step = i;
      o.roles = {PassRole::Cond, PassRole::Uncond};
      o.cross = high ? &c_hi : &c_lo;
      at::Tensor out = (high ? hi : lo).forward(in, o);
      latent = s->step(cfg_combine(out[1], out[0], high ? scale_high : scale_low), s->timesteps()[i], latent);
    }
    return latent;
  };
  EXPECT_TRUE(at::equal(r.latent, replay(4, 6.0, 2.0, false)));
  EXPECT_FALSE(at::equal(r.latent, replay(4, 2.0, 6.0, false)));  // scales swapped
  EXPECT_FALSE(at::equal(r.latent, replay(4, 6.0, 2.0, true)));   // experts swapped
  EXPECT_FALSE(at::equal(r.latent, replay(5, 6.0, 2.0, false)));  // switch one step late
  // A single --cfg applies to both experts (upstream: a float guide_scale becomes (g, g)).
  GenerateRequest one = req;
  one.guide_scale_high = -1;
  one.guide_scale = 4.0;
  EXPECT_EQ(generate(*b, one).step_guide_scale, std::vector<double>(12, 4.0));
  fs::remove_all(dir);
}

// The DiT without img_emb runs with y and no clip_fea. Its output is the image-branch model's with that branch
// silenced: the same weights plus an image branch whose value projection is zero add softmax(...) · 0 = 0 to every
// cross-attention output, so both paths give the same numbers, bit for bit.
TEST(Wan22, AbsentImageBranchRuns) {
  c10::InferenceMode guard;
  const WanModel noimg = random_expert(3);
  WanConfig c = noimg.cfg;
  c.image_branch = true;
  c.clip_dim = 64;
  WanModel with = WanModel::init(c, 4);
  auto mine = noimg.named_parameters();
  std::map<std::string, at::Tensor> by_name(mine.begin(), mine.end());
  for (auto& [n, t] : with.named_parameters()) {
    if (by_name.count(n)) t.copy_(by_name.at(n));
    else if (n.find("cross_attn.v_img") != std::string::npos) t.zero_();
  }
  with.pack_projections();
  auto g = at::detail::createCPUGenerator(9);
  DitInputs in;
  in.x = at::randn({2, 16, 2, 4, 6}, g);
  in.t = at::tensor({950.0, 120.0}, at::kDouble);
  in.context = at::randn({2, 7, 32}, g);
  in.y = at::randn({2, 20, 2, 4, 6}, g);
  at::Tensor a = noimg.forward(in);  // no clip_fea: nothing to give
  EXPECT_TRUE(at::isfinite(a).all().item<bool>());
  EXPECT_EQ(a.sizes(), in.x.sizes());
  in.clip_fea = at::randn({2, 5, 64}, g);
  EXPECT_TRUE(at::equal(a, with.forward(in)));
  ForwardOptions ref;
  ref.reference_path = true;
  in.clip_fea = at::Tensor();
  EXPECT_TRUE(at::allclose(noimg.forward(in, ref), a, 1e-5, 1e-5));
  // y stays required (in_dim 36), and the checkpoint must agree with the config about the image branch.
  DitInputs no_y = in;
  no_y.y = at::Tensor();
  EXPECT_THROW(noimg.forward(no_y), Error);
  TensorSet w;
  w.origin = "with_img";
  for (const auto& [n, t] : with.named_parameters()) w.add(n, t, "with_img");
  const std::string msg = focalscope::testing::error_of([&] { WanModel::load(w, noimg.cfg); });
  EXPECT_NE(msg.find("without the CLIP image branch but the checkpoint has image cross-attention"), std::string::npos) << msg;
}

// A one-DiT Wan2.1 folder: no second expert, its own defaults, one guidance scale, no expert table, and the same
// run as a single-expert loop written here (bit for bit).
TEST(Wan22, Wan21FolderIsUnchanged) {
  auto b = focalscope::testing::runnable_layout_bundle();
  EXPECT_FALSE(b->two_experts());
  EXPECT_EQ(b->boundary_timestep(), -1.0);
  EXPECT_EQ(b->defaults.shift, 3.0);
  EXPECT_EQ(b->defaults.guide_scale, 5.0);
  EXPECT_EQ(b->defaults.boundary, 0.0);
  EXPECT_FALSE(b->defaults.to_json().contains("boundary"));  // manifests written as before
  EXPECT_FALSE(b->dit.cfg.to_json().contains("image_branch"));
  EXPECT_TRUE(b->dit.cfg.has_image_branch());
  GenerateRequest req = small_request();
  req.steps = 3;
  ExpertLog log;
  RunHooks hooks;
  hooks.listener = &log;
  GenerateResult r = generate(*b, req, hooks);
  EXPECT_TRUE(r.step_expert.empty());
  EXPECT_EQ(r.step_guide_scale, std::vector<double>(3, 5.0));
  for (const auto& [step, expert] : log.seen) EXPECT_EQ(expert, -1);
  GenerateRequest high = req;
  high.guide_scale_high = 2.0;
  EXPECT_NE(focalscope::testing::error_of([&] { generate(*b, high); }).find("--cfg-high"), std::string::npos);
  // The same run by hand (image2video.py of Wan2.1: clip_fea through img_emb, one DiT, one scale).
  c10::InferenceMode guard;
  const RunParams& P = r.params;
  at::Tensor image = req.image.to(at::kFloat);
  at::Tensor clip_fea = b->clip.clip_fea(image).to(at::kFloat);
  at::Tensor context = at::cat({b->dit.pad_context(encode_prompt(*b, req.prompt).to(at::kFloat)),
                                b->dit.pad_context(encode_prompt(*b, b->defaults.negative_prompt).to(at::kFloat))}, 0);
  at::Tensor resized = at::upsample_bicubic2d(image.unsqueeze(0), {P.height, P.width}, false);
  at::Tensor vin = at::cat({resized.unsqueeze(2), at::zeros({1, 3, P.frames - 1, P.height, P.width})}, 2);
  at::Tensor y = at::cat({i2v_mask(P.lat_f, P.lat_h, P.lat_w).unsqueeze(0), b->vae.encode(vin)}, 1).expand({2, -1, -1, -1, -1});
  const CrossContext cross = b->dit.precompute_cross(context, clip_fea.expand({2, -1, -1}));
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(req.seed));
  at::Tensor latent = at::randn({16, P.lat_f, P.lat_h, P.lat_w}, gen, at::TensorOptions().dtype(at::kFloat));
  auto s = make_scheduler("unipc");
  s->set_timesteps(3, 3.0);
  for (int i = 0; i < 3; ++i) {
    DitInputs in;
    in.x = latent.unsqueeze(0).expand({2, -1, -1, -1, -1});
    in.t = at::full({2}, static_cast<double>(s->timesteps()[i]), at::TensorOptions().dtype(at::kDouble));
    in.y = y;
    in.clip_fea = clip_fea;
    ForwardOptions o;
    o.step = i;
    o.roles = {PassRole::Cond, PassRole::Uncond};
    o.cross = &cross;
    at::Tensor out = b->dit.forward(in, o);
    latent = s->step(cfg_combine(out[1], out[0], 5.0), s->timesteps()[i], latent);
  }
  EXPECT_TRUE(at::equal(r.latent, latent));
}

// No CLIP ships with the A14B experts: a run without one needs none (no clip_fea anywhere); --clip FILE adds a tower
// without any width check against the image-less DiTs. FSG / AC still run: their anchors are weights over latent
// frame 0's tokens, read through each layer's own text value projection (WanBlockView; docs/focal_guidance.md). With
// no CLIP text tower there is no Eq. 6: keywords must be given, and the weights are uniform.
TEST(Wan22, ClipIsOptionalAndFocalGuidanceAnchorsOnTheReferenceFrame) {
  const std::string dir = write_wan22_folder("clip");
  ModelLayout L = detect_model_layout(dir);
  L.clip_weights = focalscope::testing::layout_dir() + "/models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth";
  auto b = load_model_bundle(L);
  EXPECT_TRUE(b->has_clip);
  EXPECT_EQ(b->clip.cfg.dim, 64);
  GenerateRequest req = small_request();
  req.steps = 2;
  const GenerateResult plain = generate(*b, req);
  EXPECT_FALSE(plain.clip_fea.defined());
  EXPECT_EQ(plain.step_expert, (std::vector<int>{1, 0}));  // 2 steps, shift 5: t = 999, then sigma 0.4995 -> t = 833

  // The seam's visual values against their formula, in each expert: w @ v(norm3(x[cond, frame 0])).
  struct Check : ProbeListener {
    const ModelBundle* m = nullptr;
    int calls = 0;
    double worst = 0;
    bool wants(const ForwardInfo&, int layer) const override { return layer == 1; }
    void on_cross_attn_input(BlockProbe& p) override {
      const int64_t n = p.info.grid[1] * p.info.grid[2];
      at::Tensor w = at::rand({2, n});
      w = w / w.sum(1, true);
      const at::Tensor got = p.view.visual_values(w, p);
      const WanModel& d = p.info.expert == 1 ? *m->dit_high : m->dit;
      const auto& blk = d.blocks[1];
      int64_t row = 0;
      while (p.info.roles[static_cast<size_t>(row)] != PassRole::Cond) ++row;
      const at::Tensor x0 = p.x[row].narrow(0, 0, n).unsqueeze(0).to(at::kFloat);
      const at::Tensor want = at::matmul(w, blk.ca_v(layer_norm_affine(x0, blk.norm3, d.cfg.eps)).to(at::kFloat)[0]);
      worst = std::max(worst, (got - want).abs().max().item<double>());
      EXPECT_FALSE(p.view.visual_values_are_static());
      ++calls;
    }
  } check;
  check.m = b.get();
  RunHooks h;
  h.listener = &check;
  generate(*b, req, h);
  EXPECT_EQ(check.calls, 2) << "one forward per step (cond + uncond in one batch), one per expert";
  EXPECT_LT(check.worst, 1e-5);

  GuidanceConfig g;
  g.set_mode("fg");
  g.weak_layers = {1};
  std::string msg = focalscope::testing::error_of([&] { generate_guided(*b, req, g); });
  EXPECT_NE(msg.find("keywords"), std::string::npos) << msg;
  g.keywords = {"cat"};
  const GuidedResult guided = generate_guided(*b, req, g);
  EXPECT_FALSE(at::equal(guided.run.latent, plain.latent)) << "FSG + AC on layer 1 change the run";
  ASSERT_EQ(guided.stats.weak.size(), 1u);
  EXPECT_EQ(guided.stats.weak[0].fsg_applications, 2) << "both steps, both experts";
  GuidanceConfig zero = g;
  zero.lambda_txt = zero.lambda_lat = zero.lambda_cache = 0;
  EXPECT_TRUE(at::equal(generate_guided(*b, req, zero).run.latent, plain.latent)) << "strengths 0: the plain run, bit for bit";
  fs::remove_all(dir);
}

// --clip with Wan's whole open-clip file and its xlm-roberta-large/ tokenizer beside it: the image-less experts get
// Eq. 6 — keywords selected from the CLIP word-patch maps (none given), the CLIP tokens computed for FSG only (the
// result's clip_fea, what the DiT read, stays empty), and each keyword's frame-0 anchor weights follow its map.
TEST(Wan22, ClipWithItsTextTowerSelectsKeywordsByEq6) {
  const std::string dir = write_wan22_folder("eq6");
  const fs::path clip_dir = fs::path(focalscope::testing::temp_dir("wan22_eq6_clip"));
  fs::copy_file(focalscope::testing::layout_dir() + "/models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth",
                clip_dir / "clip.pth", fs::copy_options::overwrite_existing);
  fs::create_directories(clip_dir / "xlm-roberta-large");
  fs::copy_file(std::string(FOCALSCOPE_SOURCE_DIR) + "/tests/data/xlmr_tiny/sentencepiece.bpe.model",
                clip_dir / "xlm-roberta-large" / "sentencepiece.bpe.model", fs::copy_options::overwrite_existing);
  ModelLayout L = detect_model_layout(dir);
  L.clip_weights = (clip_dir / "clip.pth").string();
  auto b = load_model_bundle(L);
  ASSERT_NE(b->xlmr_text, nullptr);
  GenerateRequest req = small_request();
  req.steps = 2;
  GuidanceConfig g;
  g.set_mode("fg");
  g.weak_layers = {1};
  g.tau_sel = -1;  // every content word (cosines are >= -1; a word at exactly -1 is not selected)
  const GuidedResult r = generate_guided(*b, req, g);
  EXPECT_FALSE(r.run.clip_fea.defined()) << "the DiTs read no CLIP tokens";
  std::vector<std::string> picked;
  for (const auto& k : r.plan.keywords) {
    picked.push_back(k.word);
    ASSERT_TRUE(k.sim.defined());
    EXPECT_GT((k.sim - k.sim.mean()).abs().max().item<double>(), 0) << k.word << ": a map, not a constant";
  }
  EXPECT_EQ(picked, (std::vector<std::string>{"cat", "walks", "grass"}));
  ASSERT_EQ(r.stats.weak.size(), 1u);
  EXPECT_EQ(r.stats.weak[0].fsg_applications, 2);
  // The keywords' anchors are their maps on the token grid: not the uniform weights a run without the tower uses.
  std::vector<at::Tensor> sims;
  for (const auto& k : r.plan.keywords) sims.push_back(k.sim);
  const at::Tensor w = anchor_weights_on_grid(sims, 3, 4);
  EXPECT_GT((w - 1.0 / 12).abs().max().item<double>(), 1e-3);
  fs::remove_all(dir);
  fs::remove_all(clip_dir);
}

// KV-Lock editing on two experts: each step's source pass runs that step's expert with that expert's own projections
// of the source text, so the K / V it locks are the ones the target pass's expert computes. Two identical experts
// give the one-DiT edit bit for bit (the per-expert source contexts and forwards are plumbing, nothing else); two
// different experts run a source pass in every step and the lock pulls the background toward the source.
TEST(Wan22, KvLockEditsRunOnBothExperts) {
  c10::InferenceMode guard;
  EditRequest req;
  at::manual_seed(3);
  req.source_video = (at::rand({3, 5, 64, 64}) * 2 - 1) * 0.3;
  for (int f = 0; f < 5; ++f) req.source_video.select(1, f).narrow(1, 20, 16).narrow(2, 4 * f + 20, 16).fill_(0.8);
  req.mask = at::zeros({1, 64, 64});
  req.mask.narrow(2, 0, 24).fill_(1);
  req.gen.prompt = "A cat walks on the grass";
  req.gen.steps = 6;
  req.gen.frames = 5;
  req.gen.max_area = 64 * 64;
  req.gen.guide_scale = 5.0;
  GuidanceConfig full;
  full.set_mode("kvlock-kv");
  full.kvlock.alpha_fixed = 1;
  full.kvlock.kappa = 40;

  const std::string same = write_wan22_folder("kv_same", 11, 11);
  auto two = load_model_bundle(detect_model_layout(same));
  auto one = load_model_bundle(detect_model_layout(same));
  one->dit_high.reset();  // one DiT: the same weights at every step
  const EditResult a = run_edit(*two, prepare_edit(*two, req, full));
  const EditResult b = run_edit(*one, prepare_edit(*one, req, full));
  ASSERT_EQ(a.guided.run.step_expert.size(), 6u);
  EXPECT_EQ(a.guided.run.step_expert.front(), 1);
  EXPECT_EQ(a.guided.run.step_expert.back(), 0);
  EXPECT_TRUE(at::equal(a.guided.run.video, b.guided.run.video)) << "identical experts: the one-DiT edit, bit for bit";

  const std::string diff = write_wan22_folder("kv_diff");
  auto m = load_model_bundle(detect_model_layout(diff));
  const EditResult locked = run_edit(*m, prepare_edit(*m, req, full));
  int passes = 0;
  for (const auto& s : locked.guided.run.kvlock) passes += s.source_pass;
  EXPECT_EQ(passes, 6) << "a source pass in every step, high- and low-noise";
  const EditResult plain = run_edit(*m, prepare_edit(*m, req, GuidanceConfig{}));
  auto background_mse = [](const EditResult& e) {
    const at::Tensor bg = (1 - e.mask).unsqueeze(0);
    return ((e.guided.run.video - e.source).pow(2) * bg).sum().item<double>() / bg.sum().item<double>() / 3;
  };
  EXPECT_FALSE(at::equal(locked.guided.run.video, plain.guided.run.video));
  EXPECT_LT(background_mse(locked), background_mse(plain));
  // One step (t = 999: the high-noise expert only): the edit equals the one-DiT edit of the high-noise weights, so its
  // source pass ran the high-noise expert (the low-noise one, whose weights differ, would give another video).
  EditRequest one_step = req;
  one_step.gen.steps = 1;
  auto high_only = load_model_bundle(detect_model_layout(diff));
  high_only->dit = *high_only->dit_high;
  high_only->dit_high.reset();
  const EditResult h2 = run_edit(*m, prepare_edit(*m, one_step, full));
  const EditResult h1 = run_edit(*high_only, prepare_edit(*high_only, one_step, full));
  ASSERT_EQ(h2.guided.run.step_expert, (std::vector<int>{1}));
  EXPECT_TRUE(h2.guided.run.kvlock.at(0).source_pass);
  EXPECT_TRUE(at::equal(h2.guided.run.video, h1.guided.run.video));
  fs::remove_all(same);
  fs::remove_all(diff);
}

// analyze on a two-expert folder: the weak-layer rule and its bootstrap run once per expert on the stat steps that
// expert ran (metrics.json "weak_layers_by_expert", a table per expert, a curve figure per expert, per_layer.csv's
// expert column), and each expert's curve is the mean of the per-sample curves over that expert's steps.
TEST(Wan22, AnalyzeDecidesWeakLayersPerExpert) {
  const std::string dir = write_wan22_folder("analyze");
  const fs::path out = fs::path(focalscope::testing::temp_dir("wan22_analyze_out"));
  const at::Tensor img = (small_request().image + 1) * 127.5;
  const at::Tensor u8 = img.round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
  render::Image png;
  png.width = static_cast<int>(u8.size(1));
  png.height = static_cast<int>(u8.size(0));
  png.pixels.assign(u8.data_ptr<uint8_t>(), u8.data_ptr<uint8_t>() + u8.numel());
  render::save_png((out / "ref.png").string(), png);
  std::string log;
  ASSERT_EQ(focalscope::testing::run_cli(FOCALSCOPE_EXE, "analyze --model-dir " + dir + " --image " + (out / "ref.png").string() +
                                            " --prompt 'A cat walks on the grass' --keywords cat --samples 3 --steps 6 --frames 5"
                                            " --max-area 4096 --random-directions 2 --threads 2 --out " + out.string(), &log), 0) << log;
  const nlohmann::json j = read_json_file(out.string() + "/metrics.json");
  ASSERT_TRUE(j.contains("weak_layers_by_expert")) << log;
  const int layers = static_cast<int>(j["layers"].size());
  for (const char* x : {"high_noise", "low_noise"}) {
    SCOPED_TRACE(x);
    const auto& e = j["weak_layers_by_expert"][x];
    EXPECT_EQ(e["samples"].get<int>(), 3);
    ASSERT_EQ(static_cast<int>(e["layers"].size()), layers);
    // The expert's mean curve = the mean over samples of each sample's curve over that expert's steps.
    for (int l = 0; l < layers; ++l) {
      double mean = 0;
      for (const auto& smp : j["samples"]) mean += smp["layer_moran_i_by_expert"][x][static_cast<size_t>(l)].get<double>() / 3.0;
      EXPECT_NEAR(e["layers"][static_cast<size_t>(l)]["moran_i_mean"].get<double>(), mean, 1e-9) << l;
      const double p = e["layers"][static_cast<size_t>(l)]["p_weak"].get<double>();
      EXPECT_GE(p, 0.0);
      EXPECT_LE(p, 1.0);
    }
    EXPECT_TRUE(fs::exists(out / (std::string("fig2_layer_curves_") + x + ".png")));
    // The similarity mosaic and the map overlay once per expert, from the steps it ran (named in metrics.json too).
    for (const std::string f : {std::string("fig1_similarity_mosaic_") + x + ".png", std::string("fig3_map_overlay_") + x + ".png"}) {
      EXPECT_GT(fs::file_size(out / f), 1000u) << f;
      EXPECT_NE(j["figures"].dump().find(f), std::string::npos) << f;
    }
  }
  auto bytes = [&](const std::string& f) {
    std::ifstream in(out / f, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_NE(bytes("fig1_similarity_mosaic_high_noise.png"), bytes("fig1_similarity_mosaic_low_noise.png"));
  EXPECT_NE(bytes("fig3_map_overlay_high_noise.png"), bytes("fig3_map_overlay_low_noise.png"));
  // The two experts' curves differ (different weights, different steps), and each differs from the pooled one.
  EXPECT_NE(j["weak_layers_by_expert"]["high_noise"]["layers"][0]["moran_i_mean"], j["weak_layers_by_expert"]["low_noise"]["layers"][0]["moran_i_mean"]);
  EXPECT_NE(log.find("high-noise expert (its own stat steps, same rule):"), std::string::npos) << log;
  EXPECT_NE(log.find("weak layers of the low-noise expert: "), std::string::npos) << log;
  std::ifstream csv(out / "per_layer.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "layer,step,keyword,frame,moran_i,std,sample,pass,expert");
  int high = 0, low = 0;
  while (std::getline(csv, line)) {
    if (line.size() > 5 && line.compare(line.size() - 5, 5, ",high") == 0) ++high;
    if (line.size() > 4 && line.compare(line.size() - 4, 4, ",low") == 0) ++low;
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  // The same analysis from the experts as single files (as ComfyUI ships Wan2.2): analyze takes every model flag of
  // generate (--dit-high / --dit-low / --t5 / --vae / --dit-heads, --lora-high, --keep-quantised); one sample gives the
  // same curves.
  const std::string files = " --dit-high " + dir + "/high_noise_model/diffusion_pytorch_model.safetensors --dit-low " + dir +
                            "/low_noise_model/diffusion_pytorch_model.safetensors --t5 " + dir + "/models_t5_umt5-xxl-enc-bf16.pth --vae " +
                            dir + "/Wan2.1_VAE.pth --tokenizer " + dir + "/google/umt5-xxl/spiece.model --dit-heads 3";
  const std::string common = " --image " + (out / "ref.png").string() +
                             " --prompt 'A cat walks on the grass' --keywords cat --samples 1 --steps 4 --frames 5 --max-area 4096"
                             " --random-directions 2 --threads 2 --out ";
  ASSERT_EQ(focalscope::testing::run_cli(FOCALSCOPE_EXE, "analyze --model-dir " + dir + common + (out / "a").string(), &log), 0) << log;
  ASSERT_EQ(focalscope::testing::run_cli(FOCALSCOPE_EXE, "analyze" + files + common + (out / "b").string(), &log), 0) << log;
  const nlohmann::json ja = read_json_file((out / "a" / "metrics.json").string()), jb = read_json_file((out / "b" / "metrics.json").string());
  EXPECT_EQ(ja["samples"][0]["layer_moran_i_by_expert"], jb["samples"][0]["layer_moran_i_by_expert"]);
}

// The two experts as single files (--dit-high / --dit-low, as ComfyUI and the GGUF repos ship them): the same model as
// the two-sub-folder layout, bit for bit; wrong or mismatched files are one-line errors naming the file.
TEST(Wan22, ExpertsAsSingleFilesEqualTheFolder) {
  const std::string dir = write_wan22_folder("files");
  const std::string hi = dir + "/high_noise_model/diffusion_pytorch_model.safetensors", lo = dir + "/low_noise_model/diffusion_pytorch_model.safetensors";
  const std::string t5 = dir + "/models_t5_umt5-xxl-enc-bf16.pth", vae = dir + "/Wan2.1_VAE.pth", tok = dir + "/google/umt5-xxl/spiece.model";
  const ModelLayout L = wan22_layout_from_files(hi, lo, t5, vae, tok);
  EXPECT_EQ(L.format, "wan2.2-i2v-a14b");
  EXPECT_EQ(L.dit_high_weights, hi);
  EXPECT_EQ(L.dit_weights, lo);
  LoadOptions o;
  o.dit_heads = read_json_file(focalscope::testing::layout_dir() + "/config.json").value("num_heads", 0);  // files store no config
  auto files = load_model_bundle(L, o);
  auto folder = load_model_bundle(dir);
  ASSERT_TRUE(files->two_experts());
  c10::InferenceMode guard;
  GenerateRequest req = small_request();
  req.steps = 4;
  const at::Tensor a = generate(*files, req).video, b = generate(*folder, req).video;
  EXPECT_TRUE(at::equal(a, b)) << "max diff " << (a - b).abs().max().item<double>();
  // Swapped experts are a different model (the flags, not the content, say which is which).
  const at::Tensor c = generate(*load_model_bundle(wan22_layout_from_files(lo, hi, t5, vae, tok), o), req).video;
  EXPECT_FALSE(at::equal(a, c));
  // Errors: a missing flag, a Wan2.1 DiT (with a CLIP branch) as an expert, a file that holds no DiT.
  std::string m = focalscope::testing::error_of([&] { wan22_layout_from_files(hi, "", t5, vae, tok); });
  EXPECT_NE(m.find("missing --dit-low"), std::string::npos) << m;
  const std::string wan21 = focalscope::testing::layout_dir() + "/diffusion_pytorch_model.safetensors.index.json";
  if (fs::exists(wan21)) {
    m = focalscope::testing::error_of([&] { wan22_layout_from_files(wan21, lo, t5, vae, tok); });
    EXPECT_NE(m.find(wan21), std::string::npos) << m;
    EXPECT_NE(m.find("--dit-high expects a Wan2.2 I2V-A14B expert"), std::string::npos) << m;
  }
  m = focalscope::testing::error_of([&] { wan22_layout_from_files(hi, vae, t5, vae, tok); });
  EXPECT_NE(m.find(vae), std::string::npos) << m;
  EXPECT_NE(m.find("--dit-low expects a dit"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  fs::remove_all(dir);
}

// Wan2.2 LoRAs come as high / low pairs: --lora-high / --lora-low merge into that expert only (bit for bit what
// apply_loras gives on its weights); a plain --lora with two experts, and --lora-high with one DiT, are refused.
TEST(Wan22, LorasNameTheirExpert) {
  const std::string dir = write_wan22_folder("lora");
  const std::string lora = dir + "/lora.safetensors";
  {  // a kohya-style LoRA on two of the experts' projections (rank 2, alpha 1)
    auto g = at::detail::createCPUGenerator(3);
    std::vector<std::pair<std::string, at::Tensor>> t;
    for (const char* m : {"blocks_0_self_attn_q", "blocks_2_ffn_0"}) {
      const int64_t out = std::string(m).find("ffn") != std::string::npos ? 128 : 96;
      t.emplace_back(std::string("lora_unet_") + m + ".lora_down.weight", at::randn({2, 96}, g) * 0.1);
      t.emplace_back(std::string("lora_unet_") + m + ".lora_up.weight", at::randn({out, 2}, g) * 0.1);
      t.emplace_back(std::string("lora_unet_") + m + ".alpha", at::full({}, 1.0));
    }
    save_safetensors(lora, t);
  }
  LoadOptions o;
  o.loras = {{lora, 0.5, "high"}};
  auto b = load_model_bundle(detect_model_layout(dir), o);
  auto plain = load_model_bundle(dir);
  TensorSet want = load_safetensors(dir + "/high_noise_model/diffusion_pytorch_model.safetensors");
  formats::apply_loras(want, {{lora, 0.5}});
  for (const auto& [n, t] : b->dit_high->named_parameters()) ASSERT_TRUE(at::equal(t, want.get(n))) << n;
  const auto lo = b->dit.named_parameters(), lo0 = plain->dit.named_parameters();
  for (size_t i = 0; i < lo.size(); ++i) ASSERT_TRUE(at::equal(lo[i].second, lo0[i].second)) << lo[i].first;
  EXPECT_FALSE(at::equal(b->dit_high->blocks[0].sa_q.w, plain->dit_high->blocks[0].sa_q.w));
  ASSERT_EQ(b->load_notes.size(), 1u);
  EXPECT_EQ(b->load_notes[0].rfind("high-noise expert: ", 0), 0u) << b->load_notes[0];
  o.loras = {{lora, 1.0, ""}};
  std::string m = focalscope::testing::error_of([&] { load_model_bundle(detect_model_layout(dir), o); });
  EXPECT_NE(m.find("give --lora-high FILE and / or --lora-low FILE"), std::string::npos) << m;
  o.loras = {{lora, 1.0, "low"}};
  m = focalscope::testing::error_of([&] { load_model_bundle(detect_model_layout(focalscope::testing::layout_dir()), o); });
  EXPECT_NE(m.find("--lora-low names a Wan2.2 I2V-A14B expert; this model has one DiT"), std::string::npos) << m;
  fs::remove_all(dir);
}

// Layer-wise text knockout (ablate's intervention) on two experts: the hook gets each expert's own context, and with
// each expert's own empty-prompt context swapped into every layer of the conditional row, the run equals the run with
// an empty prompt, bit for bit; one layer changes it; the wrong expert's empty context would not match.
TEST(Wan22, TextKnockoutReachesBothExperts) {
  const std::string dir = write_wan22_folder("knock");
  auto b = load_model_bundle(dir);
  c10::InferenceMode guard;
  GenerateRequest req = small_request();
  req.steps = 4;
  const std::vector<CrossContext> empty{text_cross_context(*b, ""), text_cross_context(*b, "", 1)};
  std::vector<int> seen;
  auto knocked = [&](const std::vector<int>& layers) {
    RunHooks h;
    h.edit_cross = [&](CrossContext& cc, int expert) {
      seen.push_back(expert);
      WanModel::swap_layer_text(cc, empty.at(expert == 1 ? 1 : 0), layers, {0});
    };
    return generate(*b, req, h).latent;
  };
  std::vector<int> all;
  for (int l = 0; l < b->dit.cfg.num_layers; ++l) all.push_back(l);
  const at::Tensor none = knocked(all);
  EXPECT_EQ(seen, (std::vector<int>{0, 1}));
  GenerateRequest blank = req;
  blank.prompt = "";
  blank.allow_empty_prompt = true;
  EXPECT_TRUE(at::equal(none, generate(*b, blank).latent));
  const at::Tensor base = generate(*b, req).latent;
  EXPECT_TRUE(at::equal(knocked({}), base));
  EXPECT_FALSE(at::equal(knocked({1}), base));
  EXPECT_FALSE(at::equal(empty[0].layers[0].k, empty[1].layers[0].k)) << "the experts' projections differ";
  fs::remove_all(dir);
}
