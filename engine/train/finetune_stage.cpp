#include "engine/train/finetune_stage.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/models/wan/conditioning.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/pipeline/model_bundle.h"
#include "engine/shapes/shapes_rng.h"
#include "engine/train/checkpoint.h"
#include "engine/train/flow_matching.h"
#include "engine/train/latent_pool.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_loop.h"
#include "engine/train/vae_stage.h"

namespace fs = std::filesystem;

namespace focalscope::train {

std::vector<std::string> weak_layer_param_names(const std::vector<int>& weak_layers, bool i2v) {
  std::vector<std::string> out;
  for (int l : weak_layers) {
    const std::string pre = "blocks." + std::to_string(l) + ".cross_attn.";
    for (const char* p : {"q", "k", "v", "o"}) {
      out.push_back(pre + p + ".weight");
      out.push_back(pre + p + ".bias");
    }
    out.push_back(pre + "norm_q.weight");
    out.push_back(pre + "norm_k.weight");
    if (i2v) {
      for (const char* p : {"k_img", "v_img"}) {
        out.push_back(pre + p + ".weight");
        out.push_back(pre + p + ".bias");
      }
      out.push_back(pre + "norm_k_img.weight");
    }
  }
  return out;
}

StageResult finetune_weak_layers(const StageOptions& opt, const FinetuneConfig& cfg) {
  if (opt.device != c10::Device(c10::kCPU)) fail("--device", "the weak-layer fine-tune runs on the CPU only for now");
  std::unique_ptr<ModelBundle> m = load_model_bundle(cfg.model_dir);
  if (m->layout.format != "focalscope") fail(cfg.model_dir, "the fine-tune needs a FocalScope model folder (focalscope.json)");
  const std::vector<int> weak = cfg.guidance.weak_layers.empty() ? m->weak_layers : cfg.guidance.weak_layers;
  if (weak.empty())
    fail(cfg.model_dir, "no semantic-weak layers recorded: run `focalscope analyze` on it first or pass --weak-layers");
  for (int l : weak)
    if (l < 0 || l >= m->dit.cfg.num_layers) fail("--weak-layers", "layer " + std::to_string(l) + " does not exist");
  // The clips the model was trained on (recorded by the exporter), else the embedded model's world.
  const WorldSpec world = shapes_world_of_model(m->layout.manifest, m->clip.cfg.image_size, cfg.model_dir);

  // Trainable: the weak layers' cross-attention, nothing else.
  NamedTensors all = m->dit.named_parameters(), params;
  const std::vector<std::string> names = weak_layer_param_names(weak, m->dit.cfg.has_image_branch());
  const std::set<std::string> wanted(names.begin(), names.end());
  for (auto& [n, t] : all)
    if (wanted.count(n)) params.emplace_back("dit." + n, t);
  if (params.size() != names.size()) fail(cfg.model_dir, "the DiT lacks some weak-layer cross-attention weights");
  // Own, writable storage for what the optimiser updates in place (a float32 weights file is memory-mapped
  // read-only); set_data keeps the model's handles pointing at it.
  for (auto& [n, t] : params) t.set_data(t.detach().clone());
  AdamW adam(params, AdamW::Options{0.9, 0.99, 1e-8, 0.0, 1.0});  // sets requires_grad on these only

  const fs::path dir = fs::path(opt.out_dir) / "finetune";
  fs::create_directories(dir);
  const std::string ckpt_path = (dir / "checkpoint.safetensors").string();
  const std::string fingerprint = file_fingerprint(m->layout.dit_weights) + "/" + file_fingerprint(m->layout.vae_weights);
  nlohmann::json recipe = {{"model", fs::absolute(cfg.model_dir).string()}, {"weights", fingerprint},
                           {"guidance", cfg.guidance.to_json()}, {"weak_layers", weak}, {"lr", cfg.lr},
                           {"batch", cfg.batch}, {"pool_clips", cfg.pool_clips}};
  int64_t start = 0;
  if (opt.resume) {
    if (auto ck = read_checkpoint(ckpt_path)) {
      if (ck->meta.value("stage", "") != "finetune") fail(ckpt_path, "not a fine-tune checkpoint");
      if (ck->meta.at("recipe") != recipe) fail(ckpt_path, "was made with another model, guidance or recipe");
      copy_named(params, ck->tensors, "param.");
      adam.load_state(ck->tensors, ck->meta.value("adam_t", ck->step));
      start = ck->step;
    }
  }

  LatentPool pool((dir / "pool.bin").string(), world, "finetune vae=" + file_fingerprint(m->layout.vae_weights) +
                                                          " seed=" + std::to_string(opt.seed));
  pool.open_existing(/*discard_other_recipe=*/true);
  {
    at::NoGradGuard ng;
    pool.ensure(cfg.pool_clips, m->vae, [&](int64_t i) { return world_seed(opt.seed, kStreamDitPool, uint64_t(i)); },
                [](int64_t) { return 3; }, 8);
  }
  const int64_t lat_f = (world.frames - 1) / m->vae.cfg.temporal_stride() + 1;
  const int64_t lat_h = world.height / m->vae.cfg.spatial_stride(), lat_w = world.width / m->vae.cfg.spatial_stride();
  const at::Tensor mask = i2v_mask(lat_f, lat_h, lat_w);
  const int B = opt.batch > 0 ? opt.batch : cfg.batch;
  const int64_t target = opt.steps > 0 ? opt.steps : cfg.steps;
  if (!opt.quiet)
    std::fprintf(stderr, "[finetune] weak layers %s: %zu tensors trainable; guidance %s; batch %d, lr %g, target %lld steps\n",
                 nlohmann::json(weak).dump().c_str(), params.size(), cfg.guidance.mode().c_str(), B, cfg.lr,
                 static_cast<long long>(target));

  int64_t guided = 0, seen = 0;
  LoopSpec spec;
  spec.stage = "finetune";
  spec.columns = {"loss", "mse", "lr", "grad_norm", "guided_share"};
  spec.samples_per_step = B;
  spec.start_step = start;
  spec.target_steps = target;
  spec.step = [&](int64_t s) -> std::vector<double> {
    shapes::SplitMix64 rng(stream_seed(opt.seed, kStreamFinetuneStep, static_cast<uint64_t>(s)));
    at::Generator gen = at::detail::createCPUGenerator(stream_seed(opt.seed, kStreamFinetuneNoise, static_cast<uint64_t>(s)));
    double loss_sum = 0, mse_sum = 0;
    // One forward per clip: each has its own prompt, hence its own keywords, anchors and guidance listener.
    for (int b = 0; b < B; ++b) {
      const PoolRecord& r = pool.at(rng.range(0, static_cast<int>(pool.size()) - 1));
      const std::string prompt = rng.chance(cfg.text_dropout) ? std::string() : r.prompt;
      const double sigma = draw_sigma(rng, cfg.shift, cfg.uniform_share);
      const at::Tensor x0 = r.x0.to(at::kFloat).unsqueeze(0);
      const at::Tensor eps = at::randn(x0.sizes(), gen, at::TensorOptions().dtype(at::kFloat));
      DitInputs in;
      in.x = (1.0 - sigma) * x0 + sigma * eps;
      in.t = at::full({1}, sigma * 1000.0, at::TensorOptions().dtype(at::kDouble));
      in.y = at::cat({mask.unsqueeze(0), r.y.to(at::kFloat).unsqueeze(0)}, 1);
      std::unique_ptr<FocalGuidance> fg;
      {
        at::NoGradGuard ng;
        const at::Tensor ref = r.ref.to(at::kFloat).div(127.5).sub(1.0).unsqueeze(0);
        in.clip_fea = m->clip.forward(m->clip.preprocess(ref), m->clip_blocks);
        auto [ids, tmask] = m->tokenizer->encode_batch({prompt}, m->text_len);
        in.context = m->t5.forward(ids, tmask) * tmask.unsqueeze(-1).to(at::kFloat);
        if (cfg.guidance.active() && !prompt.empty()) {
          GuidanceConfig g = cfg.guidance;
          g.weak_layers = weak;
          FsgPlan plan = plan_focal_guidance(*m, prompt, in.clip_fea, g, lat_h, lat_w);
          if (!plan.keywords.empty()) fg = std::make_unique<FocalGuidance>(*m, g, std::move(plan), m->dit.cfg.num_layers);
        }
      }
      ++seen;
      guided += fg != nullptr;
      ForwardOptions fo;
      fo.step = 0;
      fo.roles = {PassRole::Cond};
      fo.listener = fg.get();
      const at::Tensor v = m->dit.forward(in, fo);
      auto [loss, mse] = weighted_flow_loss(v, eps - x0, r.change.to(at::kFloat).unsqueeze(0).unsqueeze(1), {});
      (loss / double(B)).backward();
      loss_sum += loss.item<double>();
      mse_sum += mse;
    }
    const double lr = s < cfg.warmup ? cfg.lr * double(s + 1) / double(cfg.warmup) : cfg.lr;
    const double gn = adam.step(lr);
    return {loss_sum / B, mse_sum / B, lr, gn, seen ? double(guided) / double(seen) : 0.0};
  };
  spec.checkpoint = [&](int64_t done) {
    NamedTensors ts;
    append_prefixed(ts, params, "param.");
    adam.append_state(ts);
    write_checkpoint(ckpt_path, ts, {{"stage", "finetune"}, {"step", done}, {"seed", opt.seed}, {"adam_t", adam.t()},
                                     {"recipe", recipe}});
  };
  StageResult res = run_loop(opt, spec);

  // Export: the source folder with the fine-tuned DiT (same dtype on disk as the source's dit file).
  const fs::path dst = cfg.export_dir.empty() ? dir / "model" : fs::path(cfg.export_dir);
  const fs::path tmp = dst.string() + ".tmp-export";
  fs::remove_all(tmp);
  fs::copy(m->layout.dir, tmp, fs::copy_options::recursive);
  const TensorSet src = load_tensor_file(m->layout.dit_weights);
  const auto src_file = SafetensorsFile::open(m->layout.dit_weights);
  NamedTensors dit_out;
  for (const auto& [n, t] : m->dit.named_parameters()) {
    if (!src.has(n)) continue;  // e.g. tensors the folder never held
    dit_out.emplace_back(n, t.detach().to(src.get(n).scalar_type()).contiguous());
  }
  save_safetensors((tmp / fs::path(m->layout.dit_weights).filename()).string(), dit_out, src_file->metadata());
  nlohmann::json manifest = m->layout.manifest;
  manifest["name"] = manifest.value("name", std::string("model")) + (cfg.guidance.active() ? "+ft-fg" : "+ft");
  manifest["training"]["finetune"] = {{"recipe", recipe}, {"steps", res.steps_done}, {"seed", opt.seed},
                                      {"guided_share", seen ? double(guided) / double(seen) : 0.0}};
  std::ofstream(tmp / "focalscope.json") << manifest.dump(2) << "\n";
  load_model_bundle(tmp.string());  // the engine must read what we wrote
  fs::remove_all(dst);
  fs::create_directories(dst.parent_path());
  fs::rename(tmp, dst);
  char buf[256];
  std::snprintf(buf, sizeof buf, "%lld steps, guidance on %.0f%% of clips, exported to %s",
                static_cast<long long>(res.steps_done), 100.0 * (seen ? double(guided) / double(seen) : 0.0), dst.c_str());
  res.summary = buf;
  return res;
}

}  // namespace focalscope::train
