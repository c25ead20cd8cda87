// focalscope info [--model-dir DIR]: what a model folder holds — detected variant and, per component, its files,
// dtypes and parameter count — without building the models.
#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/model_arg.h"
#include "engine/clip/xlmr_text.h"
#include "engine/core/blas_check.h"
#include "engine/core/json_io.h"
#include "engine/core/weights.h"
#include "engine/formats/component_weights.h"
#include "engine/formats/dit_probe.h"
#include "engine/formats/dit_weights.h"
#include "engine/models/hunyuan/hunyuan_release.h"
#include "engine/pipeline/model_bundle.h"

namespace focalscope::cli {
namespace {

// A HunyuanVideo-I2V release folder (ckpts/ or hunyuan-video-i2v-720p/): the variant read off the DiT's weights,
// then each component's files, dtypes and parameter counts.
int describe_hunyuan(const std::string& dir, const std::string& load_key);

// A set found from content (engine/formats): per component what was found and why, without building the models;
// LoRAs are read and matched against the DiT's names (their unmatched keys listed).
// --keep-quantised: what a run would hold as codes (reads and checks the weights).
void print_kept(const std::string& dit) {
  const formats::DitWeights w = formats::load_wan_dit_weights(dit, at::kFloat, true);
  std::printf("  %-13s %s\n", "in memory", w.kept.empty() ? "--keep-quantised keeps nothing here (no Q8_0 / Q4_K / fp8 block weights)"
                                                            : ("with --keep-quantised: " + w.kept_summary()).c_str());
}

int describe_components(const ModelLayout& L, const ModelArgs& m) {
  std::printf("model folder: %s\nformat: components (found from content)\nvariant: %s\n", L.dir.empty() ? "(explicit files)" : L.dir.c_str(),
              L.variant.c_str());
  for (const auto& r : L.reasons) std::printf("  - %s\n", r.c_str());
  std::printf("DiT checkpoint:\n%s", formats::describe_probe(formats::probe_dit(L.dit_weights)).c_str());
  for (const auto& [what, path] : std::vector<std::pair<const char*, std::string>>{{"umT5", L.t5_weights}, {"CLIP vision", L.clip_weights}, {"VAE", L.vae_weights}}) {
    const formats::ComponentProbe p = formats::probe_component(path);
    std::printf("  %-13s %s\n                %s\n", what, p.summary().c_str(), path.c_str());
    for (const auto& r : p.reasons) std::printf("                - %s\n", r.c_str());
  }
  std::printf("  %-13s %s\n", "CLIP text", describe_clip_text(L.clip_tokenizer, L.dir, L.clip_weights).c_str());
  std::printf("  %-13s %s\n", "tokenizer", L.tokenizer.c_str());
  if (m.keep_quantised) print_kept(L.dit_weights);
  if (!m.loras.empty()) {
    formats::DitWeights w = formats::load_wan_dit_weights(L.dit_weights);
    for (const auto& r : formats::apply_loras(w.set, m.loras)) std::printf("  LoRA          %s\n", r.summary().c_str());
  }
  return 0;
}

void describe(const char* component, const std::string& file, const TensorSet& set, const std::string& prefix = "",
              bool scan_values = false);

// A Wan2.2 I2V-A14B folder: the two experts (each probed from its content), the shared umT5 / VAE / tokenizer, the
// CLIP (none unless --clip), and the sampling defaults with the expert switch.
int describe_wan22(const ModelLayout& L) {
  std::printf("model folder: %s\nformat: %s\nvariant: %s\n", L.dir.empty() ? "(explicit files)" : L.dir.c_str(), L.format.c_str(),
              L.variant.c_str());
  for (const auto& r : L.reasons) std::printf("  - %s\n", r.c_str());
  const SamplingDefaults d = wan22_i2v_a14b_defaults();
  std::printf("experts: 2 — high_noise_model for timesteps t >= boundary %.3f x %d = %g, low_noise_model below "
              "(wan/image2video.py)\n", d.boundary, d.num_train_timesteps, d.boundary * d.num_train_timesteps);
  std::printf("sampling defaults: %s, %d steps, shift %g, guide scale low %g / high %g, %d frames at %d fps, area %lld\n",
              d.solver.c_str(), d.steps, d.shift, d.guide_scale, d.guide_scale_high, d.frames, d.fps, d.max_area);
  std::printf("high-noise expert DiT:\n%s", formats::describe_probe(formats::probe_dit(L.dit_high_weights)).c_str());
  std::printf("low-noise expert DiT:\n%s", formats::describe_probe(formats::probe_dit(L.dit_weights)).c_str());
  describe("umT5", L.t5_weights, formats::load_umt5_weights(L.t5_weights));
  describe("VAE", L.vae_weights, formats::load_vae_weights(L.vae_weights));
  if (L.clip_weights.empty())
    std::printf("  %-13s none: no CLIP image encoder (the experts have no img_emb); --clip FILE loads one, e.g. clip_vision_h\n", "CLIP vision");
  else {
    describe("CLIP vision", L.clip_weights, formats::load_clip_vision_weights(L.clip_weights));
    std::printf("  %-13s %s\n", "CLIP text", describe_clip_text(L.clip_tokenizer, L.dir, L.clip_weights).c_str());
  }
  std::printf("  %-13s %s\n", "tokenizer", L.tokenizer.c_str());
  return 0;
}

// NaN / Inf in weights: `generate` and `run-module` refuse them when loading (WeightLoader); `info` only warns, naming
// the file, the tensor and the count, so a user can see a broken download before a run. Scanning reads every byte,
// so above kScanLimitBytes per component it needs --scan-values (a 14B DiT is ~30 GB: about a minute).
constexpr long long kScanLimitBytes = 2LL << 30;

void describe(const char* component, const std::string& file, const TensorSet& set, const std::string& prefix,
              bool scan_values) {
  std::map<std::string, long long> by_dtype;
  long long params = 0, count = 0, skipped = 0, bytes = 0;
  std::map<std::string, int> files;
  for (const auto& n : set.names()) {
    if (!prefix.empty() && n.rfind(prefix, 0) != 0) {
      ++skipped;
      continue;
    }
    const auto& t = set.get(n);
    by_dtype[c10::toString(t.scalar_type())] += t.numel();
    params += t.numel();
    bytes += static_cast<long long>(t.numel()) * static_cast<long long>(t.element_size());
    ++count;
    files[set.source(n)]++;
  }
  std::vector<std::string> bad;
  const bool scan = scan_values || bytes <= kScanLimitBytes;
  if (scan)
    for (const auto& n : set.names()) {
      if (!prefix.empty() && n.rfind(prefix, 0) != 0) continue;
      const auto& t = set.get(n);
      if (!at::isFloatingType(t.scalar_type())) continue;
      const long long nonfinite = t.numel() - at::isfinite(t).sum().item<int64_t>();
      if (nonfinite > 0) bad.push_back(set.source(n) + ": tensor '" + n + "' has " + std::to_string(nonfinite) + " NaN/Inf values");
    }
  std::string dt;
  for (const auto& [k, v] : by_dtype) dt += (dt.empty() ? "" : ", ") + k;
  std::printf("  %-13s %lld tensors, %.3f M parameters, dtype %s\n", component, count, params / 1e6, dt.c_str());
  for (const auto& [f, n] : files) std::printf("                %s (%d tensors)\n", f.c_str(), n);
  if (skipped) std::printf("                (%lld tensors outside '%s' skipped: not used for I2V)\n", skipped, prefix.c_str());
  if (!scan)
    std::printf("                values not scanned for NaN/Inf (%.1f GB; --scan-values reads them all)\n", bytes / 1e9);
  for (size_t i = 0; i < bad.size() && i < 8; ++i) std::fprintf(stderr, "warning: %s (generate refuses it)\n", bad[i].c_str());
  if (bad.size() > 8) std::fprintf(stderr, "warning: %s: %zu more tensors with NaN/Inf values\n", file.c_str(), bad.size() - 8);
}

int run(const std::vector<std::string>& argv0) {
  std::vector<std::string> argv = argv0;
  const std::vector<formats::LoraSpec> loras = take_lora_args(argv);
  std::set<std::string> opts = {"load-key"};
  opts.insert(model_value_options().begin(), model_value_options().end());
  Args a(argv, opts, {"help", "scan-values", "keep-quantised"});
  if (a.flag("help")) {
    std::printf("usage: focalscope info [--model-dir DIR] [--dit FILE|FOLDER]\nDescribes a model folder (official Wan2.1 layout or FocalScope format).\n"
                "--dit identifies a Wan DiT checkpoint from its content (official release shards, ComfyUI single file in\n"
                "bf16/fp16/fp32/fp8/scaled fp8, diffusers folder, GGUF): layout, architecture, variant, dimensions,\n"
                "storage / quantisation, and why.\n"
                "A HunyuanVideo-I2V release folder (ckpts/ or hunyuan-video-i2v-720p/) is recognised too; --load-key\n"
                "module|ema picks the DiT checkpoint's entry (default module).\n"
                "Weights are scanned for NaN/Inf (a warning names file and tensor) up to 2 GB per component;\n"
                "--scan-values scans larger ones too.\n%s", kModelArgsUsage);
    return 0;
  }
  const ModelArgs margs = model_args_from(a, loras);
  if (margs.explicit_files() || (a.has("model-dir") && !is_hunyuan_release(a.str("model-dir")))) {
    ModelLayout L = resolve_model_layout(margs);
    if (L.format == "components") return describe_components(L, margs);
    if (L.format == "wan2.2-i2v-a14b") return describe_wan22(L);
  }
  if (a.has("dit")) {
    std::printf("DiT checkpoint:\n%s", formats::describe_probe(formats::probe_dit(a.str("dit"))).c_str());
    if (margs.keep_quantised) print_kept(a.str("dit"));
    if (!a.has("model-dir")) return 0;
  }
  if (a.has("model-dir") && is_hunyuan_release(a.str("model-dir"))) return describe_hunyuan(a.str("model-dir"), a.str("load-key", "module"));
  const std::string dir = resolve_model_dir(a.str("model-dir"));
  ModelLayout L = detect_model_layout(dir);
  std::printf("model folder: %s\nformat: %s\nvariant: %s\n", L.dir.c_str(), L.format.c_str(), L.variant.c_str());
  if (L.format != "focalscope" && !a.has("dit"))  // the DiT found from content, with the reasons
    std::printf("DiT checkpoint:\n%s", formats::describe_probe(formats::probe_dit(L.dit_weights)).c_str());
  const bool scan = a.flag("scan-values");
  const bool mmdit = L.manifest.is_object() && L.manifest.value("architecture", std::string("wan")) == "hunyuan-mmdit";
  if (mmdit) std::printf("architecture: hunyuan-mmdit (the embedded MMDiT: HunyuanVideo-I2V blocks, TinyMllm text encoder)\n");
  describe(mmdit ? "DiT (MMDiT)" : "DiT", L.dit_weights, load_tensor_file(L.dit_weights), "", scan);
  describe(mmdit ? "MLLM" : "umT5", L.t5_weights, load_tensor_file(L.t5_weights), "", scan);
  describe("CLIP vision", L.clip_weights, load_tensor_file(L.clip_weights), L.clip_prefix, scan);
  if (L.format != "focalscope")  // FocalScope's own models carry their CLIP text tower in the manifest
    std::printf("  %-13s %s\n", "CLIP text", describe_clip_text(margs.clip_tokenizer, L.dir, L.clip_weights).c_str());
  describe("VAE", L.vae_weights, load_tensor_file(L.vae_weights), "", scan);
  std::printf("  %-13s %s\n", "tokenizer", L.tokenizer.c_str());
  std::printf("%s\n", blas_summary(detect_blas(false)).c_str());
  const char* wait = std::getenv("OMP_WAIT_POLICY");  // set to PASSIVE by main() unless the user chose one
  std::printf("OpenMP wait policy: %s\n", wait ? wait : "(libgomp default)");
  return 0;
}

int describe_hunyuan(const std::string& dir, const std::string& load_key) {
  const HunyuanRelease r = find_hunyuan_release(dir);
  const TensorSet dit = load_hunyuan_release_dit(r, load_key);
  const HunyuanConfig c = hunyuan_config_from_weights(dit, r.dit, r.dit_config);
  std::printf("model folder: %s\nformat: HunyuanVideo-I2V release\nvariant: %s\n", r.root.c_str(), hunyuan_variant(c, r).c_str());
  std::printf("  DiT sizes from the weights: hidden %d, %d heads x %d, MLP x%.1f, patch %dx%dx%d, text %d / pooled %d, "
              "RoPE %d/%d/%d (%s)\n", c.hidden_size, c.heads_num, c.head_dim(), c.mlp_width_ratio, c.patch_size[0],
              c.patch_size[1], c.patch_size[2], c.text_states_dim, c.text_states_dim_2, c.rope_dim_list[0],
              c.rope_dim_list[1], c.rope_dim_list[2], r.dit_config.empty() ? "the release's" : r.dit_config.c_str());
  describe(("DiT [" + load_key + "]").c_str(), r.dit, dit);
  describe("VAE", r.vae_weights, load_hunyuan_release_vae(r));
  std::printf("                config %s\n", r.vae_config.c_str());
  auto encoder = [](const char* what, const std::string& folder) {
    if (folder.empty()) {
      std::printf("  %-13s not found (expected beside the release folder)\n", what);
      return;
    }
    std::string arch;
    try {
      const nlohmann::json j = read_json_object_file(folder + "/config.json");
      arch = j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
                     j["architectures"][0].is_string()
                 ? j["architectures"][0].get<std::string>()
                 : j.value("model_type", std::string("unknown"));
    } catch (const Error& e) {
      arch = std::string("unreadable config (") + e.what() + ")";
    }
    std::printf("  %-13s %s (%s; loaded with the text encoders)\n", what, folder.c_str(), arch.c_str());
  };
  encoder("MLLM", r.text_encoder_i2v);
  encoder("CLIP-L text", r.text_encoder_2);
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("info", "describe a model folder: variant, files, dtypes, parameter counts", run);

}  // namespace focalscope::cli
