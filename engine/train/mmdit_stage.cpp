#include "engine/train/mmdit_stage.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "engine/clip/clip_text.h"
#include "engine/clip/clip_vision.h"
#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/text/tokenizer.h"
#include "engine/train/checkpoint.h"
#include "engine/train/clip_stage.h"
#include "engine/train/dit_stage.h"
#include "engine/train/flow_matching.h"
#include "engine/train/latent_pool.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_loop.h"
#include "engine/train/vae_stage.h"
#include "engine/train/wan_teacher.h"

namespace focalscope::train {

MmditTrainConfig MmditTrainConfig::embedded() {
  MmditTrainConfig c;
  HunyuanConfig& d = c.dit;
  d.patch_size = {1, 1, 1};  // as the Wan toy: at 64x64 the 8x8 latent grid has no room for 2x2 patches
  d.in_channels = 16;
  d.out_channels = 16;
  d.hidden_size = 128;
  d.heads_num = 4;
  d.mlp_width_ratio = 4.0;
  d.mm_double_blocks_depth = 4;  // 12 blocks in all like the Wan toy, double : single = 1 : 2 like the release
  d.mm_single_blocks_depth = 8;
  d.rope_dim_list = {8, 12, 12};
  d.rope_theta = 256.0;
  d.guidance_embed = true;
  d.text_states_dim = 64;     // TinyMllm width
  d.text_states_dim_2 = 128;  // the toy CLIP text width
  c.mllm = TinyMllmConfig::embedded();
  return c;
}

MmditTrainConfig MmditTrainConfig::tiny() {
  MmditTrainConfig c = embedded();
  c.world = {48, 48, 5, 8};
  HunyuanConfig& d = c.dit;
  d.hidden_size = 32;
  d.heads_num = 2;
  d.mm_double_blocks_depth = 1;
  d.mm_single_blocks_depth = 1;
  d.rope_dim_list = {4, 6, 6};
  d.text_states_dim = 16;
  LlamaConfig& l = c.mllm.llama;
  l.hidden_size = 16;
  l.intermediate_size = 32;
  l.num_hidden_layers = 1;
  l.num_attention_heads = 2;
  l.num_key_value_heads = 1;
  l.head_dim = 8;
  c.mllm.text_len = 16;
  c.batch = 4;
  c.steps = 20;
  c.lr = 2e-3;
  c.warmup = 2;
  c.pool_initial = 8;
  c.pool_max = 16;
  c.pool_chunk = 4;
  c.single_until = 4;
  c.double_until = 8;
  return c;
}

nlohmann::json MmditTrainConfig::to_json() const {
  return {{"dit", dit.to_json()},
          {"mllm", mllm.to_json()},
          {"world", world.to_json()},
          {"batch", batch},
          {"lr", lr},
          {"warmup", warmup},
          {"weight_decay", weight_decay},
          {"ema_decay", ema_decay},
          {"shift", shift},
          {"uniform_share", uniform_share},
          {"text_dropout", text_dropout},
          {"change_weight", change_weight},
          {"change_scale", change_scale},
          {"guidance_value", guidance_value},
          {"pool", {{"initial", pool_initial}, {"rate", pool_rate}, {"max", pool_max}, {"chunk", pool_chunk}}},
          {"curriculum", {{"single_until", single_until}, {"double_until", double_until}}}};
}

std::string mmdit_checkpoint_path(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "mmdit" / "checkpoint.safetensors").string();
}

namespace {

// adaLN-Zero: every modulation and the final projection start at 0, so each block starts as the identity and the
// model's first output is 0 (DiT's initialisation; HunyuanVideo zero-initialises its refiner's modulation alike).
void zero_modulations(HunyuanModel& m) {
  auto zero = [](Linear& l) {
    l.w.zero_();
    if (l.b.defined()) l.b.zero_();
  };
  for (auto& b : m.refiner) zero(b.adaLN);
  for (auto& b : m.double_blocks) {
    zero(b.img.mod);
    zero(b.txt.mod);
  }
  for (auto& b : m.single_blocks) zero(b.modulation);
  zero(m.final_mod);
  zero(m.final_linear);
}

}  // namespace

StageResult train_mmdit(const StageOptions& opt, MmditTrainConfig cfg) {
  namespace fs = std::filesystem;
  const std::string tok_path = tokenizer_output_path(opt.out_dir), vae_path = vae_output_path(opt.out_dir),
                    clip_path = clip_output_path(opt.out_dir), ckpt_path = mmdit_checkpoint_path(opt.out_dir);
  require_stage_output(tok_path, "tokenizer");
  require_stage_output(vae_path, "vae");
  require_stage_output(clip_path, "clip");
  WanTokenizer tok(tok_path);
  cfg.mllm.llama.vocab_size = tok.vocab_size();

  WanVAE vae = load_trained_vae(vae_path, opt.device);
  auto clip_file = SafetensorsFile::open(clip_path);
  const auto meta_json = [&](const char* key) { return parse_json_text(clip_file->metadata().at(key), clip_path); };
  const ClipVisionConfig vcfg = naming_file(clip_path, [&] { return ClipVisionConfig::from_json(meta_json("clip_vision_config"), clip_path); });
  const ClipTextConfig tcfg = naming_file(clip_path, [&] { return ClipTextConfig::from_json(meta_json("clip_text_config"), clip_path); });
  const TensorSet clip_set = load_tensor_file(clip_path);
  ClipVision clip = ClipVision::load(clip_set, vcfg, "visual.", at::kFloat, opt.device);
  ClipText clip_text = ClipText::load(clip_set, tcfg, "textual.", at::kFloat, opt.device);
  if (vcfg.image_size != cfg.world.width) fail(clip_path, "CLIP image size differs from the world canvas");
  if (tcfg.text_len < cfg.mllm.text_len) fail(clip_path, "CLIP text positions are fewer than the MLLM's text_len");
  cfg.mllm.vision_dim = vcfg.dim;
  cfg.dit.text_states_dim = static_cast<int>(cfg.mllm.llama.hidden_size);
  cfg.dit.text_states_dim_2 = tcfg.dim;
  cfg.dit.validate();
  cfg.mllm.validate("mmdit stage");

  std::optional<WanTeacher> teacher;
  nlohmann::json teacher_desc;  // null: plain flow matching
  if (!cfg.teacher_dir.empty()) {
    if (!(cfg.teacher_share > 0.0 && cfg.teacher_share <= 1.0))
      fail("--teacher-share", std::to_string(cfg.teacher_share) + " is not in (0, 1]");
    teacher.emplace(WanTeacher::load(cfg.teacher_dir, opt.out_dir, opt.device));
    teacher_desc = teacher->describe();
    teacher_desc["share"] = cfg.teacher_share;
  }

  at::manual_seed(stream_seed(opt.seed, kStreamMmditInit, 1));  // HunyuanModel::random draws from the global RNG
  HunyuanModel dit = HunyuanModel::random(cfg.dit, at::kFloat, opt.device, 0.02);
  zero_modulations(dit);
  TinyMllm mllm = TinyMllm::random_init(cfg.mllm, stream_seed(opt.seed, kStreamMmditInit, 2), opt.device);
  NamedTensors params;
  append_prefixed(params, dit.named_parameters(), "dit.");
  append_prefixed(params, mllm.named_parameters(), "mllm.");
  for (auto& [name, t] : params) t.requires_grad_(true);
  AdamW adam(params, AdamW::Options{0.9, 0.99, 1e-8, cfg.weight_decay, 1.0});
  Ema ema(params, cfg.ema_decay);

  const int B = opt.batch > 0 ? opt.batch : cfg.batch;
  const int64_t target = opt.steps > 0 ? opt.steps : cfg.steps;
  int64_t start = 0;
  const std::string fingerprint = file_fingerprint(vae_path);
  if (opt.resume) {
    if (auto ck = read_checkpoint(ckpt_path)) {
      if (ck->meta.value("stage", "") != "mmdit") fail(ckpt_path, "not an MMDiT checkpoint");
      if (ck->meta.at("config").at("dit") != cfg.dit.to_json() || ck->meta.at("config").at("mllm") != cfg.mllm.to_json())
        fail(ckpt_path, "was trained with another MMDiT / MLLM config");
      if (ck->meta.value("vae", "") != fingerprint)
        fail(ckpt_path, "was trained on latents of another VAE (" + vae_path + " changed)");
      copy_named(params, ck->tensors, "param.");
      adam.load_state(ck->tensors, ck->meta.value("adam_t", ck->step));
      ema.load_state(ck->tensors);
      start = ck->step;
      if (!opt.quiet) {
        std::fprintf(stderr, "[mmdit] resuming from step %lld\n", static_cast<long long>(start));
        const nlohmann::json before = ck->meta.value("teacher", nlohmann::json());
        if (before != teacher_desc)
          std::fprintf(stderr, "[mmdit] note: the checkpoint was trained %s; this run trains %s\n",
                       before.is_null() ? "without a teacher" : ("with teacher " + before.dump()).c_str(),
                       teacher_desc.is_null() ? "without one" : ("with " + teacher_desc.dump()).c_str());
        note_cooldown_change(ck->meta, start, target, opt.lr_cooldown, ckpt_path, "mmdit");
      }
    }
  }

  fs::create_directories(fs::path(opt.out_dir) / "mmdit");
  const PoolSchedule sched{cfg.pool_initial, cfg.pool_rate, cfg.pool_max, cfg.pool_chunk, cfg.single_until, cfg.double_until, opt.seed};
  // Records are a function of (VAE, seed, curriculum, index): a pool written for the same recipe is reused even by a
  // fresh run; a stale one is an error when resuming and discarded otherwise. The records are stage "dit"'s, so its pool.bin
  // may be copied here to skip the encoding.
  const std::string recipe = sched.recipe(fingerprint);
  LatentPool pool((fs::path(opt.out_dir) / "mmdit" / "pool.bin").string(), cfg.world, recipe);
  pool.open_existing(/*discard_other_recipe=*/!opt.resume);
  auto seed_of = [&](int64_t i) { return sched.seed_of(i); };
  auto objects_of = [&](int64_t i) { return sched.objects_of(i); };
  auto pool_target = [&](int64_t s) { return sched.target(s); };
  if (!opt.quiet) {
    int64_t n_mllm = 0;
    for (auto& [k, t] : mllm.named_parameters()) n_mllm += t.numel();
    std::fprintf(stderr, "[mmdit] MMDiT %lld + MLLM %lld parameters, %lld prompt rows, batch %d, target %lld steps; pool %lld clips on disk\n",
                 cfg.dit.num_params(), static_cast<long long>(n_mllm), static_cast<long long>(cfg.mllm.text_len), B,
                 static_cast<long long>(target), static_cast<long long>(pool.size()));
  }

  LoopSpec spec;
  spec.stage = "mmdit";
  // fm_loss: the loss against the flow-matching target eps - x0 (= loss without a teacher), so a distilled run reads
  // on the same scale as a plain one.
  spec.columns = {"loss", "mse", "sigma", "lr", "grad_norm", "pool", "fm_loss", "teacher_s"};
  spec.samples_per_step = B;
  spec.start_step = start;
  spec.target_steps = target;
  spec.step = [&](int64_t s) -> std::vector<double> {
    const int64_t n = pool_target(s);
    {
      at::NoGradGuard ng;
      pool.ensure(n, vae, seed_of, objects_of, cfg.pool_chunk);
    }
    shapes::SplitMix64 rng(stream_seed(opt.seed, kStreamMmditStep, static_cast<uint64_t>(s)));
    auto [x0s, ys, refs, changes, prompts, sigmas] =
        draw_pool_batch(pool, n, B, rng, cfg.text_dropout, cfg.shift, cfg.uniform_share);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    at::Tensor x0 = at::stack(x0s, 0).to(opt.device, at::kFloat);
    // The clean image latent: frame 0 of VAE([reference, zeros]), which the causal VAE encodes from the reference
    // alone, exactly what the sampler's image latent is.
    at::Tensor img = at::stack(ys, 0).to(opt.device, at::kFloat).narrow(2, 0, 1);
    at::Tensor ref = at::stack(refs, 0).to(at::kFloat).div(127.5).sub(1.0).to(opt.device);
    at::Tensor sig = at::tensor(sigmas, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat).to(opt.device);
    at::Generator gen = at::detail::createCPUGenerator(stream_seed(opt.seed, kStreamMmditStep, static_cast<uint64_t>(s)) ^ 0xe95);
    at::Tensor eps = at::randn(x0.sizes(), gen, f32).to(opt.device);
    at::Tensor sv = sig.view({B, 1, 1, 1, 1});
    const int64_t F = x0.size(2);
    at::Tensor noisy = ((1.0 - sv) * x0 + sv * eps).narrow(2, 1, F - 1);
    auto [ids, tmask] = tok.encode_batch(prompts, cfg.mllm.text_len);
    const TinyMllmText text = mllm.encode(clip, clip_text, clip.preprocess(ref), ids, tmask);
    HunyuanInputs in;
    in.x = at::cat({img, noisy}, 2);
    in.t = sig * 1000.0;
    in.text_states = text.states;
    in.text_mask = text.mask;
    in.text_states_2 = text.pooled;
    in.guidance = at::full({B}, cfg.guidance_value * 1000.0, f32.device(opt.device));
    at::Tensor v = dit.forward(in).narrow(2, 1, F - 1);
    at::Tensor target_v = (eps - x0).narrow(2, 1, F - 1);
    at::Tensor change = at::stack(changes, 0).to(opt.device, at::kFloat).unsqueeze(1).narrow(2, 1, F - 1);
    const FlowLossWeights weights{cfg.change_weight, cfg.change_scale};
    double fm_loss = NAN, teacher_s = 0;  // teacher_s: the teacher's share of the step's wall time
    if (teacher) {
      const auto t0 = std::chrono::steady_clock::now();
      // The teacher sees every frame noisy (as Wan is trained); its frames 1.. are the student's noisy frames.
      const at::Tensor vt = teacher->velocity((1.0 - sv) * x0 + sv * eps, sig, at::stack(ys, 0).to(opt.device, at::kFloat),
                                              ref, prompts).narrow(2, 1, F - 1);
      teacher_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      at::NoGradGuard ng;
      fm_loss = weighted_flow_loss(v.detach(), target_v, change, weights).first.item<double>();
      target_v = cfg.teacher_share * vt + (1.0 - cfg.teacher_share) * target_v;
    }
    auto [loss, mse] = weighted_flow_loss(v, target_v, change, weights);
    if (!teacher) fm_loss = loss.item<double>();
    loss.backward();
    const double lr = (s < cfg.warmup ? cfg.lr * double(s + 1) / double(cfg.warmup) : cfg.lr) *
                      lr_cooldown_factor(s, target, opt.lr_cooldown);
    const double gn = adam.step(lr);
    ema.update(params, adam.t());
    return {loss.item<double>(), mse, sig.mean().item<double>(), lr, gn, double(n), fm_loss, teacher_s};
  };
  spec.checkpoint = [&](int64_t done) {
    NamedTensors ts;
    append_prefixed(ts, params, "param.");
    adam.append_state(ts);
    ema.append_state(ts);
    write_checkpoint(ckpt_path, ts,
                     {{"stage", "mmdit"}, {"step", done}, {"seed", opt.seed}, {"adam_t", adam.t()}, {"vae", fingerprint},
                      {"pool", pool.size()}, {"config", cfg.to_json()}, {"teacher", teacher_desc},
                      {"lr_cooldown", {{"steps", opt.lr_cooldown}, {"target", target}}}});
  };
  if (start < target &&
      !prefill_pool(pool, pool_target(start), vae, seed_of, objects_of, cfg.pool_chunk, opt.device.is_cuda(), opt.quiet, "mmdit")) {
    StageResult stopped;
    stopped.first_step = stopped.steps_done = start;
    stopped.summary = "stopped by signal while encoding the latent pool (" + std::to_string(pool.size()) + " of " +
                      std::to_string(pool_target(start)) + " clips kept; --resume continues)";
    return stopped;
  }
  StageResult r = run_loop(opt, spec);
  char buf[200];
  std::snprintf(buf, sizeof buf, "%lld steps, %lld pooled clips, %.2f samples/s", static_cast<long long>(r.steps_done),
                static_cast<long long>(pool.size()), r.samples_per_s);
  r.summary = buf;
  return r;
}

}  // namespace focalscope::train
