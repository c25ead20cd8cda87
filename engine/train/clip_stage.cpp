#include "engine/train/clip_stage.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/text/tokenizer.h"
#include "engine/train/checkpoint.h"
#include "engine/train/optimizer.h"
#include "engine/train/train_loop.h"

namespace focalscope::train {

ClipTrainConfig ClipTrainConfig::embedded() {
  ClipTrainConfig c;
  c.vision.image_size = 64;
  c.vision.patch_size = 8;
  c.vision.dim = 128;
  c.vision.mlp_ratio = 4.0;
  c.vision.out_dim = 64;
  c.vision.num_heads = 4;
  c.vision.num_layers = 4;
  c.vision.activation = "gelu";
  c.text.text_len = 32;
  c.text.dim = 128;
  c.text.num_heads = 4;
  c.text.num_layers = 2;
  c.text.out_dim = 64;
  return c;
}

ClipTrainConfig ClipTrainConfig::tiny() {
  ClipTrainConfig c = embedded();
  c.world = {48, 48, 5, 8};
  c.vision.image_size = 48;
  c.vision.dim = 32;
  c.vision.num_heads = 2;
  c.vision.num_layers = 2;
  c.vision.out_dim = 16;
  c.text.dim = 32;
  c.text.num_heads = 2;
  c.text.num_layers = 1;
  c.text.out_dim = 16;
  c.text.text_len = 16;
  c.batch = 8;
  c.steps = 20;
  c.lr = 2e-3;
  c.warmup = 2;
  c.eval_cases = 16;
  return c;
}

nlohmann::json ClipTrainConfig::to_json() const {
  return {{"vision", vision.to_json()}, {"text", text.to_json()}, {"world", world.to_json()},
          {"batch", batch},             {"lr", lr},               {"warmup", warmup},
          {"ground_weight", ground_weight}, {"ground_scale", ground_scale}, {"max_objects", max_objects}};
}

std::string clip_output_path(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "clip" / "clip.safetensors").string();
}

namespace {

// One batch: reference images, tokenised prompts, and the (batch row, token, object coverage) triples of the
// grounding loss.
struct ClipBatch {
  at::Tensor images;        // [B, 3, S, S] in [-1, 1]
  at::Tensor ids, mask;     // [B, L]
  at::Tensor g_row, g_tok;  // [K] int64
  at::Tensor g_target;      // [K, g*g] patch distribution of the named object
  std::vector<int> g_is_colour;  // [K] 1 for colour words (evaluation split)
};

ClipBatch make_batch(const WanTokenizer& tok, const ClipTrainConfig& cfg, uint64_t seed, uint64_t stream, uint64_t first, int B) {
  ClipBatch cb;
  std::vector<at::Tensor> imgs, ids, masks, targets;
  std::vector<int64_t> rows, toks;
  const int g = cfg.vision.grid();
  for (int b = 0; b < B; ++b) {
    const auto c = sample_case_robust(world_seed(seed, stream, first + b), cfg.world, std::nullopt, cfg.max_objects);
    const shapes::RgbFrame ref = shapes::render_reference(c);
    imgs.push_back(frame_to_tensor(ref));
    const Tokenized t = tok.encode(c.prompt, cfg.text.text_len);
    ids.push_back(t.ids_tensor());
    masks.push_back(t.mask_tensor());
    const auto spans = WanTokenizer::words(t);
    std::vector<std::string> words;
    for (const auto& w : spans) words.push_back(w.word);
    const auto phrases = object_phrases(words, c.annotation);
    if (phrases.empty()) continue;
    at::Tensor cov = object_patch_coverage(ref, c.annotation, 0, g).view({-1, g * g});
    for (const auto& p : phrases) {
      at::Tensor target = cov[p.object];
      const double mass = target.sum().item<double>();
      if (mass <= 0) continue;  // fully hidden at frame 0: nothing to point at
      for (int64_t wi : {p.colour_word, p.shape_word})
        for (int64_t ti : spans[static_cast<size_t>(wi)].tokens) {
          rows.push_back(b);
          toks.push_back(ti);
          targets.push_back(target / mass);
          cb.g_is_colour.push_back(wi == p.colour_word);
        }
    }
  }
  cb.images = at::stack(imgs, 0);
  cb.ids = at::cat(ids, 0);
  cb.mask = at::cat(masks, 0);
  cb.g_row = at::tensor(rows, at::kLong);
  cb.g_tok = at::tensor(toks, at::kLong);
  cb.g_target = targets.empty() ? at::zeros({0, g * g}) : at::stack(targets, 0);
  return cb;
}

struct ClipOut {
  at::Tensor img, txt;        // [B, out] normalised
  at::Tensor patches;         // [B, g*g, out] normalised
  at::Tensor tokens;          // [B, L, out] normalised
};

ClipOut run_towers(const ClipVision& vision, const ClipText& text, const ClipBatch& b, c10::Device dev) {
  std::vector<at::Tensor> hidden;
  at::Tensor x = vision.forward(vision.preprocess(b.images.to(dev)), -1, &hidden);
  const int L = vision.cfg.num_layers;
  at::Tensor pen = hidden.at(static_cast<size_t>(std::max(0, L - 2)));  // = clip_fea, what the DiT and FSG read
  ClipOut o;
  auto unit = [](const at::Tensor& t) { return t / t.norm(2, -1, true).clamp_min(1e-6); };
  o.img = unit(vision.project(x.select(1, 0)));
  o.patches = unit(vision.project(pen.slice(1, 1)));
  at::Tensor tok = text.token_embeddings(b.ids.to(dev), b.mask.to(dev));
  o.tokens = unit(tok);
  o.txt = unit(ClipText::select_eos(tok, b.mask.to(dev)));
  return o;
}

// [K, g*g] logits of every grounded token over its image's patches.
at::Tensor grounding_logits(const ClipOut& o, const ClipBatch& b, double scale) {
  const auto dev = o.tokens.device();
  at::Tensor rows = b.g_row.to(dev), toks = b.g_tok.to(dev);
  at::Tensor t = o.tokens.index({rows, toks});            // [K, out]
  at::Tensor p = o.patches.index_select(0, rows);          // [K, g*g, out]
  return scale * at::bmm(p, t.unsqueeze(2)).squeeze(2);    // [K, g*g]
}

}  // namespace

std::string evaluate_grounding(const ClipVision& vision, const ClipText& text, const std::string& tokenizer_path,
                               const WorldSpec& world, uint64_t seed, int cases, int max_objects) {
  at::NoGradGuard ng;
  WanTokenizer tok(tokenizer_path);
  ClipTrainConfig cfg;
  cfg.vision = vision.cfg;
  cfg.text = text.cfg;
  cfg.world = world;
  cfg.max_objects = max_objects;
  const int B = 32;
  double hit_c = 0, n_c = 0, hit_s = 0, n_s = 0, ret = 0, n_r = 0;
  for (int first = 0; first < cases; first += B) {
    const int nb = std::min(B, cases - first);
    ClipBatch b = make_batch(tok, cfg, seed, kStreamClipEval, static_cast<uint64_t>(first), nb);
    ClipOut o = run_towers(vision, text, b, vision.head.device());
    at::Tensor sim = at::matmul(o.img, o.txt.t());
    ret += sim.argmax(1).eq(at::arange(nb, sim.options().dtype(at::kLong))).sum().item<double>();
    n_r += nb;
    if (b.g_row.numel() == 0) continue;
    at::Tensor best = grounding_logits(o, b, 1.0).argmax(1).cpu();
    at::Tensor on = b.g_target.gather(1, best.unsqueeze(1)).squeeze(1).gt(0);
    for (int64_t k = 0; k < on.size(0); ++k) {
      const bool h = on[k].item<bool>();
      if (b.g_is_colour[static_cast<size_t>(k)]) hit_c += h, n_c += 1;
      else hit_s += h, n_s += 1;
    }
  }
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "grounding on %d fresh cases: colour words peak on the named object %.1f%%, shape words %.1f%%; "
                "image->prompt retrieval in batches of 32: %.1f%%",
                cases, 100.0 * hit_c / std::max(1.0, n_c), 100.0 * hit_s / std::max(1.0, n_s), 100.0 * ret / std::max(1.0, n_r));
  return buf;
}

StageResult train_clip(const StageOptions& opt, ClipTrainConfig cfg, const std::string& tokenizer_path) {
  namespace fs = std::filesystem;
  WanTokenizer tok(tokenizer_path);
  cfg.text.vocab = static_cast<int>(tok.vocab_size());
  cfg.vision.validate("CLIP vision config");
  cfg.text.validate();
  if (cfg.vision.image_size != cfg.world.width || cfg.world.width != cfg.world.height)
    fail("clip stage", "the CLIP image size must equal the (square) world canvas");
  const int B = opt.batch > 0 ? opt.batch : cfg.batch;
  const int64_t target = opt.steps > 0 ? opt.steps : cfg.steps;
  const std::string ckpt_path = (fs::path(opt.out_dir) / "clip" / "checkpoint.safetensors").string();

  ClipVision vision = ClipVision::random_init(cfg.vision, stream_seed(opt.seed, kStreamInit, 2), at::kFloat, opt.device);
  ClipText text = ClipText::random_init(cfg.text, stream_seed(opt.seed, kStreamInit, 3), opt.device);
  at::Tensor log_scale = at::full({}, std::log(1.0 / 0.07), at::TensorOptions().dtype(at::kFloat).device(opt.device));
  NamedTensors params = vision.named_parameters("visual.");
  append_prefixed(params, text.named_parameters("textual."), "");
  params.emplace_back("log_scale", log_scale);
  AdamW adam(params, AdamW::Options{0.9, 0.98, 1e-6, 0.05, 1.0});
  int64_t start = 0;
  if (opt.resume) {
    if (auto ck = read_checkpoint(ckpt_path)) {
      if (ck->meta.value("stage", "") != "clip") fail(ckpt_path, "not a CLIP checkpoint");
      copy_named(params, ck->tensors, "param.");
      adam.load_state(ck->tensors, ck->meta.value("adam_t", ck->step));
      start = ck->step;
      if (!opt.quiet) std::fprintf(stderr, "[clip] resuming from step %lld\n", static_cast<long long>(start));
    }
  }
  if (!opt.quiet) {
    int64_t n = 0;
    for (const auto& [name, t] : params) n += t.numel();
    std::fprintf(stderr, "[clip] %lld parameters (vision %d layers, text %d layers, vocab %d), batch %d, target %lld steps\n",
                 static_cast<long long>(n), cfg.vision.num_layers, cfg.text.num_layers, cfg.text.vocab, B,
                 static_cast<long long>(target));
  }

  LoopSpec spec;
  spec.stage = "clip";
  spec.columns = {"loss", "contrastive", "grounding", "logit_scale", "lr"};
  spec.samples_per_step = B;
  spec.start_step = start;
  spec.target_steps = target;
  spec.step = [&](int64_t s) -> std::vector<double> {
    ClipBatch b = make_batch(tok, cfg, opt.seed, kStreamClipImages, static_cast<uint64_t>(s) * B, B);
    ClipOut o = run_towers(vision, text, b, opt.device);
    at::Tensor scale = log_scale.clamp(0.0, std::log(100.0)).exp();
    at::Tensor logits = scale * at::matmul(o.img, o.txt.t());
    at::Tensor labels = at::arange(B, logits.options().dtype(at::kLong));
    at::Tensor contrast = 0.5 * (at::cross_entropy_loss(logits, labels) + at::cross_entropy_loss(logits.t(), labels));
    at::Tensor ground = at::zeros({}, logits.options());
    if (b.g_row.numel() > 0) {
      at::Tensor lg = grounding_logits(o, b, cfg.ground_scale);
      ground = -(b.g_target.to(lg.device()) * at::log_softmax(lg, 1)).sum(1).mean();
    }
    at::Tensor loss = contrast + cfg.ground_weight * ground;
    loss.backward();
    // Cosine over the config's schedule (cfg.steps), independent of where this run stops (exact resume).
    const double lr = s < cfg.warmup ? cfg.lr * double(s + 1) / double(cfg.warmup)
                                     : cfg.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * std::min(1.0, double(s) / double(cfg.steps)))));
    adam.step(lr);
    return {loss.item<double>(), contrast.item<double>(), ground.item<double>(), scale.item<double>(), lr};
  };
  spec.checkpoint = [&](int64_t done) {
    NamedTensors ts;
    append_prefixed(ts, params, "param.");
    adam.append_state(ts);
    write_checkpoint(ckpt_path, ts, {{"stage", "clip"}, {"step", done}, {"seed", opt.seed}, {"adam_t", adam.t()}, {"config", cfg.to_json()}});
  };
  StageResult r = run_loop(opt, spec);

  const std::string path = clip_output_path(opt.out_dir);
  save_safetensors(path, params, {{"clip_vision_config", cfg.vision.to_json().dump()}, {"clip_text_config", cfg.text.to_json().dump()}});
  r.summary = evaluate_grounding(vision, text, tokenizer_path, cfg.world, opt.seed, cfg.eval_cases, cfg.max_objects);
  if (!opt.quiet) std::fprintf(stderr, "[clip] %s -> %s\n", r.summary.c_str(), path.c_str());
  return r;
}

}  // namespace focalscope::train
