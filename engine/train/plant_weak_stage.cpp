#include "engine/train/plant_weak_stage.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/models/wan/conditioning.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/train/checkpoint.h"
#include "engine/train/flow_matching.h"
#include "engine/train/latent_pool.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_loop.h"

namespace fs = std::filesystem;

namespace focalscope::train {

nlohmann::json PlantWeakConfig::to_json() const {
  return {{"layers", layers}, {"context", context}, {"reinit", reinit}, {"reinit_lr_mult", reinit_lr_mult},
          {"batch", batch}, {"steps", steps},
          {"lr", lr}, {"warmup", warmup}, {"cooldown", cooldown}, {"pool_clips", pool_clips}, {"shift", shift},
          {"uniform_share", uniform_share}, {"text_dropout", text_dropout}, {"change_weight", change_weight},
          {"change_scale", change_scale}};
}

nlohmann::json derive_manifest(const nlohmann::json& base, const std::string& base_dir, const std::string& dst_dir,
                               const std::vector<std::string>& own) {
  nlohmann::json m = base;
  const fs::path from = fs::absolute(dst_dir).lexically_normal();
  auto rebase = [&](const char* comp, const char* key) {
    if (std::find(own.begin(), own.end(), comp) != own.end()) return;
    if (!m.contains(comp) || !m[comp].contains(key) || !m[comp][key].is_string())
      fail(base_dir + "/focalscope.json", std::string("no ") + comp + "." + key);
    const fs::path target = (fs::absolute(base_dir) / m[comp][key].get<std::string>()).lexically_normal();
    m[comp][key] = target.lexically_relative(from).string();
  };
  rebase("text_encoder", "weights");
  rebase("text_encoder", "tokenizer");
  rebase("clip", "weights");
  rebase("vae", "weights");
  rebase("dit", "weights");
  return m;
}

namespace {

// Stream tags of this stage (fixed forever, like those in train_options.h).
enum : uint64_t { kStreamPlantStep = 0x504c4101, kStreamPlantNoise, kStreamPlantInit };

void check_config(const PlantWeakConfig& c, int num_layers, const std::string& where) {
  if (c.layers.empty()) fail("--weak-layers", "give the layers to plant (e.g. 6,7,8)");
  for (int l : c.layers)
    if (l < 0 || l >= num_layers)
      fail("--weak-layers", "layer " + std::to_string(l) + " does not exist (" + where + " has " + std::to_string(num_layers) + " layers)");
  if (static_cast<int>(c.layers.size()) >= num_layers)
    fail("--weak-layers", "planting every layer leaves no layer to carry the text");
  if (c.context != "shuffled" && c.context != "empty")
    fail("--plant-context", "'" + c.context + "' is not shuffled or empty");
  if (c.batch < 2 && c.context == "shuffled") fail("--batch", "shuffled prompts need a batch of at least 2");
  if (c.cooldown < 0 || c.warmup < 0) fail("plant-weak", "warm-up and cool-down must be >= 0");
}

}  // namespace

StageResult plant_weak_layers(const StageOptions& opt, const PlantWeakConfig& cfg_in) {
  if (opt.device != c10::Device(c10::kCPU)) fail("--device", "planting runs on the CPU only for now");
  PlantWeakConfig cfg = cfg_in;
  std::sort(cfg.layers.begin(), cfg.layers.end());
  cfg.layers.erase(std::unique(cfg.layers.begin(), cfg.layers.end()), cfg.layers.end());
  if (opt.batch > 0) cfg.batch = opt.batch;
  if (opt.steps > 0) cfg.steps = opt.steps;
  cfg.cooldown = std::min(cfg.cooldown, cfg.steps);

  std::unique_ptr<ModelBundle> m = load_model_bundle(cfg.model_dir);
  if (m->layout.format != "focalscope") fail(cfg.model_dir, "planting needs a FocalScope model folder (focalscope.json)");
  check_config(cfg, m->dit.cfg.num_layers, cfg.model_dir);
  const nlohmann::json& mf = m->layout.manifest;
  const WorldSpec world = shapes_world_of_model(mf, m->clip.cfg.image_size, cfg.model_dir);

  // Re-initialise the planted layers' text keys / values (WanModel::init's distribution), seeded per layer.
  WanModel& dit = m->dit;
  const int64_t d = dit.cfg.dim;
  if (cfg.reinit) {
    for (int l : cfg.layers) {
      at::manual_seed(stream_seed(opt.seed, kStreamPlantInit, static_cast<uint64_t>(l)));
      auto& b = dit.blocks[static_cast<size_t>(l)];
      const double sd = std::sqrt(2.0 / double(d + d));
      for (Linear* lin : {&b.ca_k, &b.ca_v}) {
        lin->w.set_data(at::randn({d, d}) * sd);
        if (lin->b.defined()) lin->b.set_data(at::zeros({d}));
      }
      b.ca_norm_k.w.set_data(at::ones({d}));
    }
  }
  NamedTensors params = dit.named_parameters();
  for (auto& [n, t] : params) t.set_data(t.detach().clone());  // own, writable storage (the file may be mapped)
  NamedTensors prefixed;
  append_prefixed(prefixed, params, "dit.");
  // The re-initialised text projections get their own optimiser (and rate); everything else adapts at cfg.lr.
  NamedTensors fresh, rest;
  std::set<std::string> fresh_names;
  if (cfg.reinit)
    for (int l : cfg.layers)
      for (const char* n : {"k.weight", "k.bias", "v.weight", "v.bias", "norm_k.weight"})
        fresh_names.insert("dit.blocks." + std::to_string(l) + ".cross_attn." + n);
  for (const auto& p : prefixed) (fresh_names.count(p.first) ? fresh : rest).push_back(p);
  AdamW adam(rest, AdamW::Options{0.9, 0.99, 1e-8, 0.0, 1.0});
  std::unique_ptr<AdamW> adam_fresh;
  if (!fresh.empty()) adam_fresh = std::make_unique<AdamW>(fresh, AdamW::Options{0.9, 0.99, 1e-8, 0.0, 1.0});

  const fs::path dir = fs::path(opt.out_dir) / "plant_weak";
  fs::create_directories(dir);
  const std::string ckpt_path = (dir / "checkpoint.safetensors").string();
  const std::string base_fp = file_fingerprint(m->layout.dit_weights);
  nlohmann::json recipe = cfg.to_json();
  recipe["base"] = {{"model", fs::absolute(cfg.model_dir).lexically_normal().string()}, {"dit", base_fp}};
  recipe["seed"] = opt.seed;
  int64_t start = 0;
  if (opt.resume) {
    if (auto ck = read_checkpoint(ckpt_path)) {
      if (ck->meta.value("stage", "") != "plant_weak") fail(ckpt_path, "not a plant-weak checkpoint");
      if (ck->meta.at("recipe") != recipe)
        fail(ckpt_path, "was made with another base model, layer set, seed or recipe (" + ck->meta.at("recipe").dump() + ")");
      copy_named(prefixed, ck->tensors, "param.");
      adam.load_state(ck->tensors, ck->meta.value("adam_t", ck->step));
      if (adam_fresh) adam_fresh->load_state(ck->tensors, ck->meta.value("adam_t", ck->step));
      start = ck->step;
      if (!opt.quiet) std::fprintf(stderr, "[plant-weak] resuming from step %lld\n", static_cast<long long>(start));
    }
  }

  LatentPool pool((dir / "pool.bin").string(), world,
                  "plant vae=" + file_fingerprint(m->layout.vae_weights) + " seed=" + std::to_string(opt.seed));
  pool.open_existing(/*discard_other_recipe=*/true);
  {
    StopSignalScope signals;
    at::NoGradGuard ng;
    const int64_t had = pool.size();
    const auto t0 = std::chrono::steady_clock::now();
    const bool show = !opt.quiet && cfg.pool_clips > had;
    const bool tty = ::isatty(STDERR_FILENO);
    double last_line = -1e9;
    pool.ensure(cfg.pool_clips, m->vae, [&](int64_t i) { return world_seed(opt.seed, kStreamDitPool, uint64_t(i)); },
                [](int64_t) { return 3; }, 8, [&](int64_t have, int64_t want) {
                  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                  if (show && (tty || el - last_line >= 30 || have >= want)) {
                    const double eta = el / double(std::max<int64_t>(1, have - had)) * double(want - have);
                    std::fprintf(stderr, "%s[plant-weak] encoding training clips: %lld / %lld | %s elapsed | ETA %s%s",
                                 tty ? "\r" : "", static_cast<long long>(have), static_cast<long long>(want),
                                 format_duration(el).c_str(), format_duration(eta).c_str(), tty ? "   " : "\n");
                    std::fflush(stderr);
                    last_line = el;
                  }
                  return !stop_requested();
                });
    if (show && tty) std::fprintf(stderr, "\n");
    if (pool.size() < cfg.pool_clips) {
      StageResult stopped;
      stopped.first_step = stopped.steps_done = start;
      stopped.summary = "stopped while encoding the training clips (" + std::to_string(pool.size()) + " of " +
                        std::to_string(cfg.pool_clips) + " kept; --resume continues)";
      return stopped;
    }
  }
  const int64_t lat_f = (world.frames - 1) / m->vae.cfg.temporal_stride() + 1;
  const int64_t lat_h = world.height / m->vae.cfg.spatial_stride(), lat_w = world.width / m->vae.cfg.spatial_stride();
  const at::Tensor mask = i2v_mask(lat_f, lat_h, lat_w);
  const int B = cfg.batch;
  at::Tensor empty_ctx;
  {
    at::NoGradGuard ng;
    auto [ids, tmask] = m->tokenizer->encode_batch({std::string()}, m->text_len);
    empty_ctx = m->t5.forward(ids, tmask) * tmask.unsqueeze(-1).to(at::kFloat);  // [1, text_len, text_dim]
  }
  if (!opt.quiet) {
    std::string ls;
    for (int l : cfg.layers) ls += (ls.empty() ? "" : ",") + std::to_string(l);
    std::fprintf(stderr, "[plant-weak] base %s; planting layers %s (text context: %s%s); whole DiT trainable; batch %d, "
                 "lr %g, %lld steps (cool-down %lld); %lld training clips\n",
                 cfg.model_dir.c_str(), ls.c_str(), cfg.context.c_str(), cfg.reinit ? ", text k/v re-initialised" : "",
                 B, cfg.lr, static_cast<long long>(cfg.steps), static_cast<long long>(cfg.cooldown),
                 static_cast<long long>(pool.size()));
  }

  LoopSpec spec;
  spec.stage = "plant_weak";
  spec.columns = {"loss", "mse", "lr", "grad_norm"};
  spec.samples_per_step = B;
  spec.start_step = start;
  spec.target_steps = cfg.steps;
  spec.step = [&](int64_t s) -> std::vector<double> {
    shapes::SplitMix64 rng(stream_seed(opt.seed, kStreamPlantStep, static_cast<uint64_t>(s)));
    auto [x0s, ys, refs, changes, prompts, sigmas] =
        draw_pool_batch(pool, pool.size(), B, rng, cfg.text_dropout, cfg.shift, cfg.uniform_share);
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    at::Tensor x0 = at::stack(x0s, 0).to(at::kFloat);
    at::Tensor sig = at::tensor(sigmas, at::TensorOptions().dtype(at::kDouble)).to(at::kFloat);
    at::Generator gen = at::detail::createCPUGenerator(stream_seed(opt.seed, kStreamPlantNoise, static_cast<uint64_t>(s)));
    at::Tensor eps = at::randn(x0.sizes(), gen, f32);
    at::Tensor sv = sig.view({B, 1, 1, 1, 1});
    DitInputs in;
    in.x = (1.0 - sv) * x0 + sv * eps;
    in.t = sig.to(at::kDouble) * 1000.0;
    in.y = at::cat({mask.unsqueeze(0).expand({B, mask.size(0), lat_f, lat_h, lat_w}), at::stack(ys, 0).to(at::kFloat)}, 1);
    at::Tensor context;
    {
      at::NoGradGuard ng;  // umT5, CLIP: frozen (shared with the base folder)
      at::Tensor ref = at::stack(refs, 0).to(at::kFloat).div(127.5).sub(1.0);
      in.clip_fea = m->clip.forward(m->clip.preprocess(ref), m->clip_blocks);
      auto [ids, tmask] = m->tokenizer->encode_batch(prompts, m->text_len);
      context = m->t5.forward(ids, tmask) * tmask.unsqueeze(-1).to(at::kFloat);
    }
    in.context = context;
    // The planted layers' text: another clip's prompt (cyclic shift of the batch), or the empty prompt.
    const at::Tensor isolated = cfg.context == "shuffled" ? at::roll(context, {1}, {0}) : empty_ctx;
    CrossContext cross = dit.precompute_cross(context, in.clip_fea);
    WanModel::swap_layer_text(cross, dit.precompute_text_cross(isolated), cfg.layers);
    ForwardOptions fo;
    fo.cross = &cross;
    const at::Tensor v = dit.forward(in, fo);
    at::Tensor change = at::stack(changes, 0).to(at::kFloat).unsqueeze(1);
    auto [loss, mse] = weighted_flow_loss(v, eps - x0, change, {cfg.change_weight, cfg.change_scale});
    loss.backward();
    const double lr = (s < cfg.warmup ? cfg.lr * double(s + 1) / double(cfg.warmup) : cfg.lr) *
                      lr_cooldown_factor(s, cfg.steps, cfg.cooldown);
    const double gn = adam.step(lr);
    if (adam_fresh) adam_fresh->step(lr * cfg.reinit_lr_mult);
    return {loss.item<double>(), mse, lr, gn};
  };
  spec.checkpoint = [&](int64_t done) {
    NamedTensors ts;
    append_prefixed(ts, prefixed, "param.");
    adam.append_state(ts);
    if (adam_fresh) adam_fresh->append_state(ts);
    write_checkpoint(ckpt_path, ts, {{"stage", "plant_weak"}, {"step", done}, {"seed", opt.seed}, {"adam_t", adam.t()},
                                     {"recipe", recipe}});
  };
  StageResult res = run_loop(opt, spec);
  if (res.steps_done < cfg.steps) {
    res.summary = "stopped at step " + std::to_string(res.steps_done) + " of " + std::to_string(cfg.steps) +
                  " (checkpoint kept; --resume continues); nothing exported";
    return res;
  }

  // Export: dit.safetensors of its own (same dtype on disk as the base's), everything else by reference.
  const fs::path dst = cfg.export_dir.empty() ? dir / "model" : fs::path(cfg.export_dir);
  const fs::path tmp = dst.string() + ".tmp-export";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const TensorSet src = load_tensor_file(m->layout.dit_weights);
  const auto src_file = SafetensorsFile::open(m->layout.dit_weights);
  NamedTensors dit_out;
  for (const auto& [n, t] : dit.named_parameters()) {
    if (!src.has(n)) continue;
    dit_out.emplace_back(n, t.detach().to(src.get(n).scalar_type()).contiguous());
  }
  save_safetensors((tmp / "dit.safetensors").string(), dit_out, src_file->metadata());
  nlohmann::json manifest = derive_manifest(mf, m->layout.dir, dst.string(), {"dit"});
  manifest["dit"]["weights"] = "dit.safetensors";
  std::string ls;
  for (int l : cfg.layers) ls += (ls.empty() ? "" : "-") + std::to_string(l);
  manifest["name"] = mf.value("name", std::string("model")) + "+planted-" + ls;
  // The base's detector verdict and calibrated thresholds describe the base, not this model.
  for (const char* k : {"weak_layers", "weak_layers_source", "calibration"}) manifest.erase(k);
  manifest["planted_weak_layers"] = cfg.layers;
  manifest["base"] = {{"dir", fs::absolute(m->layout.dir).lexically_normal().lexically_relative(fs::absolute(dst).lexically_normal()).string()},
                      {"name", mf.value("name", std::string())}, {"dit_fingerprint", base_fp}};
  // The recipe as recorded for resuming names the base by absolute path; the shipped manifest names it relative.
  nlohmann::json shipped_recipe = recipe;
  shipped_recipe["base"]["model"] = manifest["base"]["dir"];
  nlohmann::json training = {{"plant_weak", shipped_recipe}, {"steps_done", res.steps_done}};
  for (auto it = cfg.provenance.begin(); it != cfg.provenance.end(); ++it) training[it.key()] = it.value();
  if (res.steps_done > res.first_step) training["seconds_this_run"] = res.seconds;
  if (mf.contains("training")) training["base_training"] = mf["training"];
  if (mf.contains("training") && mf["training"].contains("world")) training["world"] = mf["training"]["world"];
  manifest["training"] = training;
  {
    std::ofstream out(tmp / "focalscope.json");
    out << manifest.dump(2) << "\n";
    if (!out) fail((tmp / "focalscope.json").string(), "cannot write");
  }
  load_model_bundle(tmp.string());  // the engine must read what we wrote
  fs::remove_all(dst);
  if (dst.has_parent_path()) fs::create_directories(dst.parent_path());
  fs::rename(tmp, dst);
  res.summary = "planted layers " + ls + ", exported to " + dst.string();
  return res;
}

}  // namespace focalscope::train
