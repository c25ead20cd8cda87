#include "engine/pipeline/model_bundle.h"

#include <cstdio>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>

#include "engine/clip/xlmr_text.h"
#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/limits.h"
#include "engine/core/utf8.h"
#include "engine/core/weights.h"
#include "engine/formats/component_weights.h"
#include "engine/formats/dit_weights.h"
#include "engine/formats/model_set.h"

namespace fs = std::filesystem;

namespace focalscope {

const std::string& wan_i2v_negative_prompt() {
  // wan/configs/shared_config.py sample_neg_prompt, with the i2v prefix from wan_i2v_14B.py.
  static const std::string s =
      "镜头晃动，色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
      "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，"
      "静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";
  return s;
}

const std::string& wan22_negative_prompt() {
  // The same list without Wan2.1 i2v's "镜头晃动，" prefix (Wan2.2 shared_config.py; wan_i2v_A14B.py keeps it as is).
  static const std::string s = wan_i2v_negative_prompt().substr(std::string("镜头晃动，").size());
  return s;
}

SamplingDefaults wan22_i2v_a14b_defaults() {
  SamplingDefaults d;
  d.solver = "unipc";
  d.steps = 40;
  d.shift = 5.0;
  d.guide_scale = 3.5;       // sample_guide_scale[0]: low-noise expert
  d.guide_scale_high = 3.5;  // sample_guide_scale[1]: high-noise expert
  d.boundary = 0.900;
  d.num_train_timesteps = 1000;
  d.frames = 81;
  d.fps = 16;
  d.max_area = 1280LL * 720;
  d.negative_prompt = wan22_negative_prompt();
  return d;
}

nlohmann::json SamplingDefaults::to_json() const {
  nlohmann::json j{{"solver", solver}, {"steps", steps}, {"shift", shift}, {"guide_scale", guide_scale}, {"frames", frames},
                   {"max_area", max_area}, {"fps", fps}, {"negative_prompt", negative_prompt}};
  if (boundary > 0) {
    j["boundary"] = boundary;
    j["guide_scale_high"] = guide_scale_high;
    j["num_train_timesteps"] = num_train_timesteps;
  }
  return j;
}

SamplingDefaults SamplingDefaults::from_json(const nlohmann::json& j, const std::string& where) {
  SamplingDefaults d;
  if (!j.is_object()) fail(where, "sampling is " + json_kind(j) + ", expected an object");
  // Each value by type and range (get<int>() would silently wrap 1e10), naming the key and what it holds.
  auto integer = [&](const char* key, long long lo, long long hi) -> long long {
    const auto& v = j.at(key);
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<unsigned long long>() > static_cast<unsigned long long>(hi)) ||
        v.get<long long>() < lo || v.get<long long>() > hi)
      fail(where, std::string("sampling.") + key + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "], got " + json_detail::one_line(v.dump(), 60));
    return v.get<long long>();
  };
  auto number = [&](const char* key, double lo, double hi) -> double {
    const auto& v = j.at(key);
    if (!v.is_number() || !(v.get<double>() >= lo && v.get<double>() <= hi))
      fail(where, std::string("sampling.") + key + " must be a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "], got " + json_detail::one_line(v.dump(), 60));
    return v.get<double>();
  };
  auto text = [&](const char* key) -> std::string {
    const auto& v = j.at(key);
    if (!v.is_string()) fail(where, std::string("sampling.") + key + " is " + json_kind(v) + ", expected a string");
    return v.get<std::string>();
  };
  if (j.contains("solver")) d.solver = text("solver");
  if (j.contains("steps")) d.steps = static_cast<int>(integer("steps", 1, limits::kMaxSteps));
  if (j.contains("shift")) d.shift = number("shift", 0.01, 100);
  if (j.contains("guide_scale")) d.guide_scale = number("guide_scale", 0, 50);
  if (j.contains("frames")) d.frames = static_cast<int>(integer("frames", 1, limits::kMaxFrames));
  if (j.contains("max_area")) d.max_area = integer("max_area", 64, limits::kMaxArea);
  if (j.contains("fps")) d.fps = static_cast<int>(integer("fps", 1, 240));
  if (j.contains("boundary")) d.boundary = number("boundary", 0, 1);
  if (j.contains("guide_scale_high")) d.guide_scale_high = number("guide_scale_high", 0, 50);
  if (j.contains("num_train_timesteps")) d.num_train_timesteps = static_cast<int>(integer("num_train_timesteps", 1, 100000));
  if (j.contains("negative_prompt")) {
    d.negative_prompt = text("negative_prompt");
    if (d.negative_prompt.size() > limits::kPromptMaxBytes)
      fail(where, "sampling.negative_prompt of " + std::to_string(d.negative_prompt.size()) + " bytes exceeds the limit of " +
                      std::to_string(limits::kPromptMaxBytes));
    if (const std::string bad = utf8_problem(d.negative_prompt); !bad.empty()) fail(where, "sampling.negative_prompt " + bad);
  }
  return d;
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot open");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every model-folder JSON (config.json, focalscope.json) is an object, read with the size / depth limits.
nlohmann::json read_json(const std::string& path) { return read_json_object_file(path); }

// The CLIP ViT config is not stored in the .pth: read every size off the tensor shapes. Heads are not visible in
// any shape; ViT-H/14 (the only tower Wan ships) uses 16, and the tiny fixture towers keep dim/16 as well.
ClipVisionConfig infer_clip_config(const TensorSet& set, const std::string& prefix) {
  ClipVisionConfig c = ClipVisionConfig::vit_h_14();
  const std::string where = set.origin;
  auto shape = [&](const std::string& n, std::size_t rank) {
    if (!set.has(prefix + n)) fail(where, "CLIP tensor '" + prefix + n + "' is missing");
    auto s = set.get(prefix + n).sizes().vec();
    if (s.size() != rank)
      fail(set.source(prefix + n), "CLIP tensor '" + prefix + n + "' has shape " + shape_str(s) + ", expected " + std::to_string(rank) + " dimensions");
    return s;
  };
  auto pe = shape("patch_embedding.weight", 4);  // [dim, 3, p, p]
  auto pos = shape("pos_embedding", 3);          // [1, 1+g*g, dim]
  if (pe[0] <= 0 || pe[2] <= 0 || pos[1] < 2) fail(set.source(prefix + "pos_embedding"), "CLIP patch / position embeddings are empty");
  c.dim = static_cast<int>(pe[0]);
  c.patch_size = static_cast<int>(pe[2]);
  const int64_t g = static_cast<int64_t>(std::llround(std::sqrt(double(pos[1] - 1))));
  if (g * g + 1 != pos[1]) fail(where, "CLIP pos_embedding has " + std::to_string(pos[1]) + " rows, not 1 + a square");
  c.image_size = static_cast<int>(g * c.patch_size);
  c.num_heads = c.dim == 1280 ? 16 : std::max(1, c.dim / 16);
  c.mlp_ratio = double(shape("transformer.0.mlp.0.weight", 2)[0]) / c.dim;
  c.out_dim = static_cast<int>(shape("head", 2)[1]);
  int n = 0;
  while (set.has(prefix + "transformer." + std::to_string(n) + ".norm1.weight")) ++n;
  c.num_layers = n;
  c.validate(where);
  return c;
}

// Eq. 6 on a Wan CLIP: its XLM-R text tower (`textual.*` of the official open-clip file) and the tokenizer the layout
// names. A tower without its tokenizer (or the reverse) leaves Eq. 6 off with a note saying which file is missing.
void attach_xlmr_text(ModelBundle& b, const TensorSet& clip_file_set, const LoadOptions& opt) {
  ModelLayout& L = b.layout;
  const bool tower = XlmrTextTower::present(clip_file_set);
  if (!tower) {
    if (!L.clip_tokenizer.empty())
      b.load_notes.push_back("CLIP tokenizer " + L.clip_tokenizer + " unused: " + L.clip_weights +
                             " has no text tower (textual.*), so keywords are not selected by Eq. 6 (give --keywords)");
    return;
  }
  L.clip_tokenizer = find_xlmr_tokenizer(L.clip_tokenizer, L.dir, L.clip_weights);
  if (L.clip_tokenizer.empty()) {
    b.load_notes.push_back(L.clip_weights + " has a CLIP text tower but no xlm-roberta-large/sentencepiece.bpe.model was found "
                           "beside it (--clip-tokenizer F): Eq. 6 keyword selection is off, give --keywords");
    return;
  }
  auto x = std::make_shared<XlmrClipText>();
  x->tower = XlmrTextTower::load(clip_file_set, "textual.", opt.clip_dtype, opt.device);
  x->tokenizer = std::make_shared<XlmrTokenizer>(L.clip_tokenizer);
  x->check_vocabulary();
  b.xlmr_text = std::move(x);
}

// The load note of --keep-quantised: what stayed codes, or why nothing could (a switched-on option that ends up doing
// nothing says so).
std::string kept_note(const std::string& file, const formats::DitWeights& w) {
  if (w.kept.empty())
    return "--keep-quantised: nothing kept: " + file + " stores its DiT as " + w.probe.storage +
           " (only Q8_0 / Q4_K GGUF and fp8 block weights can stay quantised); decoded on load";
  return "--keep-quantised: " + file + ": " + w.kept_summary();
}

ModelLayout wan22_layout(const formats::Wan22Set& w, const std::string& high_name, const std::string& low_name) {
  ModelLayout L;
  L.format = "wan2.2-i2v-a14b";
  L.dit_weights = w.dit_low;
  L.dit_config = w.dit_low_config;
  L.dit_high_weights = w.dit_high;
  L.dit_high_config = w.dit_high_config;
  L.t5_weights = w.t5;
  L.vae_weights = w.vae;
  L.tokenizer = w.tokenizer;
  L.reasons = w.reasons;
  const formats::DitProbe p = formats::probe_dit(w.dit_low);
  L.variant = "Wan2.2 I2V-A14B: two experts (" + high_name + " for t >= 900 = boundary 0.900 x 1000 training steps, " +
              low_name + " below), dim " + std::to_string(p.dim) + ", " + std::to_string(p.num_layers) +
              " layers each, in_dim " + std::to_string(p.in_dim) + ", no CLIP image branch";
  return L;
}

}  // namespace

ModelLayout detect_model_layout(const std::string& dir) {
  ModelLayout L;
  L.dir = dir;
  if (!fs::is_directory(dir)) fail(dir, "model directory not found");
  const fs::path d(dir);
  if (fs::exists(d / "focalscope.json")) {
    L.format = "focalscope";
    L.manifest = read_json((d / "focalscope.json").string());
    const auto& m = L.manifest;
    const std::string mpath = (d / "focalscope.json").string();
    auto file = [&](const char* comp, const char* key) -> std::string {
      if (!m.contains(comp)) fail(mpath, std::string("no \"") + comp + "\" section");
      if (!m.at(comp).is_object()) fail(mpath, std::string("\"") + comp + "\" is " + json_kind(m.at(comp)) + ", expected an object");
      if (!m.at(comp).contains(key)) fail(mpath, std::string("no ") + comp + "." + key);
      const auto& v = m.at(comp).at(key);
      if (!v.is_string() || v.get<std::string>().empty())
        fail(mpath, std::string(comp) + "." + key + " is " + json_kind(v) + ", expected a file name");
      const std::string rel = v.get<std::string>();
      fs::path p = d / rel;
      if (!fs::exists(p)) {
        // A derived model (e.g. plant-weak) refers to its base's files by a relative path: say where it looked.
        const bool outside = rel.find('/') != std::string::npos;
        fail(mpath, std::string(comp) + "." + key + " names the file '" + (outside ? rel : p.filename().string()) + "', which is missing" +
                      (outside ? " (looked for " + p.lexically_normal().string() +
                                     "; a derived model must stay beside the base folder its manifest names)"
                               : ""));
      }
      return p.string();
    };
    L.variant = m.value("name", std::string("focalscope model"));
    L.dit_weights = file("dit", "weights");
    L.t5_weights = file("text_encoder", "weights");
    L.tokenizer = file("text_encoder", "tokenizer");
    L.clip_weights = file("clip", "weights");
    L.vae_weights = file("vae", "weights");
    L.clip_prefix = naming_file(mpath, [&] { return m.at("clip").value("prefix", std::string("")); });
    for (const char* comp : {"dit", "text_encoder", "clip", "vae"})
      if (!m.at(comp).contains("config") || !m.at(comp).at("config").is_object())
        fail(mpath, std::string(comp) + ".config is missing or not an object");
    if (m.contains("name") && !m.at("name").is_string()) fail(mpath, "name is " + json_kind(m.at("name")) + ", expected a string");
    return L;
  }
  // Wan2.2 I2V-A14B: two expert sub-folders (checked by content), shared umT5 / VAE / tokenizer, no CLIP.
  {
    const formats::Wan22Set w = formats::detect_wan22_set(dir);
    if (w.found) {
      ModelLayout W = wan22_layout(w, "high_noise_model/", "low_noise_model/");
      W.dir = L.dir;
      return W;
    }
  }
  // Official release layout.
  L.format = "wan-official";
  std::vector<std::string> missing;
  auto need = [&](const fs::path& p) {
    if (!fs::exists(p)) missing.push_back(p.lexically_relative(d).string());
    return p.string();
  };
  L.dit_config = need(d / "config.json");
  if (fs::exists(d / "diffusion_pytorch_model.safetensors.index.json"))
    L.dit_weights = (d / "diffusion_pytorch_model.safetensors.index.json").string();
  else
    L.dit_weights = need(d / "diffusion_pytorch_model.safetensors");
  L.t5_weights = need(d / "models_t5_umt5-xxl-enc-bf16.pth");
  L.vae_weights = need(d / "Wan2.1_VAE.pth");
  L.clip_weights = need(d / "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth");
  L.tokenizer = need(d / "google" / "umt5-xxl" / "spiece.model");
  L.clip_prefix = "visual.";
  if (!missing.empty()) {
    std::string s;
    for (const auto& m : missing) s += (s.empty() ? "" : ", ") + m;
    // Not the official file names: the layouts users have (diffusers / ComfyUI / any folder), found from content.
    formats::ModelSet set;
    try {
      set = formats::detect_model_set(dir);
    } catch (const Error& e) {
      fail(dir, "not a Wan2.1 model directory: no focalscope.json, official files missing (" + s + "), and by content: " +
                    std::string(e.what()));
    }
    ModelLayout C = layout_from_files(set.dit, set.t5, set.clip, set.vae, set.tokenizer);
    C.dir = dir;
    C.dit_diffusers_config = set.dit_config;
    C.reasons.insert(C.reasons.begin(), set.reasons.begin(), set.reasons.end());
    C.variant = set.layout + ": " + C.variant;
    return C;
  }
  const auto cfg = read_json(L.dit_config);
  WanConfig wc = naming_file(L.dit_config, [&] { return WanConfig::from_json(cfg); });
  L.variant = std::string("Wan2.1-") + (wc.is_i2v() ? "I2V" : "T2V") + " (dim " + std::to_string(wc.dim) + ", " +
              std::to_string(wc.num_layers) + " layers, " + std::to_string(wc.num_heads) + " heads)";
  return L;
}

ModelLayout layout_from_files(const std::string& dit, const std::string& t5, const std::string& clip, const std::string& vae,
                              const std::string& tokenizer) {
  formats::ModelSet set = formats::model_set_from_files(dit, t5, clip, vae, tokenizer);
  ModelLayout L;
  L.format = "components";
  L.dit_weights = set.dit;
  L.t5_weights = set.t5;
  L.clip_weights = set.clip;
  L.vae_weights = set.vae;
  L.tokenizer = set.tokenizer;
  L.reasons = set.reasons;
  const formats::DitProbe p = formats::probe_dit(set.dit);
  L.variant = "Wan2.1 DiT " + p.variant + " (dim " + std::to_string(p.dim) + ", " + std::to_string(p.num_layers) + " layers; " + p.layout +
              ", " + p.storage + ")";
  if (std::filesystem::is_directory(set.dit) && std::filesystem::exists(std::filesystem::path(set.dit) / "config.json"))
    L.dit_diffusers_config = (std::filesystem::path(set.dit) / "config.json").string();
  return L;
}

ModelLayout wan22_layout_from_files(const std::string& high, const std::string& low, const std::string& t5,
                                    const std::string& vae, const std::string& tokenizer) {
  return wan22_layout(formats::wan22_set_from_files(high, low, t5, vae, tokenizer), "--dit-high", "--dit-low");
}

std::unique_ptr<ModelBundle> load_model_bundle(const std::string& dir, const LoadOptions& opt) {
  return load_model_bundle(detect_model_layout(dir), opt);
}

std::unique_ptr<ModelBundle> load_model_bundle(const ModelLayout& layout, const LoadOptions& opt) {
  auto b = std::make_unique<ModelBundle>();
  b->layout = layout;
  b->options = opt;
  const auto& L = b->layout;
  // The layouts whose DiT may be stored quantised (read through formats::load_wan_dit_weights); a LoRA needs dense weights.
  const bool any_dit_format = L.format == "components" || L.format == "wan2.2-i2v-a14b";
  if (opt.keep_quantised && any_dit_format && !opt.loras.empty())
    fail(opt.loras.front().path, "--lora cannot be merged into weights kept quantised: drop --keep-quantised (a LoRA needs dense weights)");
  if (L.format != "wan2.2-i2v-a14b")
    for (const auto& l : opt.loras)
      if (!l.expert.empty())
        fail(l.path, "--lora-" + l.expert + " names a Wan2.2 I2V-A14B expert; this model has one DiT: use --lora");
  if (L.format == "focalscope") {
    const auto& m = L.manifest;
    const std::string where = L.dir + "/focalscope.json";
    // Configs are read (and their errors named after the manifest) before any weights are loaded.
    const std::string arch = naming_file(where, [&] { return m.value("architecture", std::string("wan")); });
    if (arch != "wan" && arch != "hunyuan-mmdit")
      fail(where, "architecture '" + arch + "' is not one this build knows (wan, hunyuan-mmdit)");
    const ClipVisionConfig clip_cfg = naming_file(where, [&] { return ClipVisionConfig::from_json(m.at("clip").at("config"), where); });
    const VaeConfig vae_cfg = naming_file(where, [&] { return VaeConfig::from_json(m.at("vae").at("config")); });
    const auto& clip_m = m.at("clip");
    if (arch == "wan") {
      const WanConfig dit_cfg = naming_file(where, [&] { return WanConfig::from_json(m.at("dit").at("config")); });
      const UMT5Config t5_cfg = naming_file(where, [&] { return UMT5Config::from_json(m.at("text_encoder").at("config"), where); });
      TensorSet dit_set = load_tensor_file(L.dit_weights);
      for (const auto& r : formats::apply_loras(dit_set, opt.loras)) b->load_notes.push_back(r.summary());
      b->dit = WanModel::load(dit_set, dit_cfg, opt.dit_dtype, opt.device);
      b->t5 = UMT5Encoder::load(load_tensor_file(L.t5_weights), t5_cfg, opt.text_dtype, opt.device);
    } else {
      const HunyuanConfig dit_cfg = naming_file(where, [&] {
        HunyuanConfig c = HunyuanConfig::from_json(m.at("dit").at("config"));
        c.validate();
        return c;
      });
      const TinyMllmConfig mllm_cfg = naming_file(where, [&] { return TinyMllmConfig::from_json(m.at("text_encoder").at("config"), where); });
      if (!opt.loras.empty()) fail(opt.loras.front().path, "--lora applies to Wan DiTs; this model is the embedded MMDiT");
      b->mmdit = std::make_shared<HunyuanModel>(HunyuanModel::load(load_tensor_file(L.dit_weights), dit_cfg, opt.dit_dtype, opt.device));
      const TensorSet mllm_set = load_tensor_file(L.t5_weights);
      WeightLoader wl(mllm_set, "MLLM", opt.text_dtype, opt.device);
      b->mllm = std::make_shared<TinyMllm>(TinyMllm::load(wl, mllm_cfg, ""));
      wl.finish();
      b->mmdit_guidance = naming_file(where, [&] { return m.at("dit").value("guidance_value", 1.0); });
      if (!clip_m.contains("text_config")) fail(where, "clip.text_config is missing: the MMDiT's pooled text vector comes from the CLIP text tower");
    }
    b->clip = ClipVision::load(load_tensor_file(L.clip_weights), clip_cfg, L.clip_prefix, opt.clip_dtype, opt.device);
    b->clip_blocks = naming_file(where, [&] { return clip_m.value("blocks", -1); });
    if (clip_m.contains("text_config")) {
      TensorSet clip_set = load_tensor_file(L.clip_weights);
      const ClipTextConfig text_cfg = naming_file(where, [&] { return ClipTextConfig::from_json(clip_m.at("text_config"), where); });
      b->clip_text = ClipText::load(clip_set, text_cfg, naming_file(where, [&] { return clip_m.value("text_prefix", std::string("textual.")); }),
                                    opt.clip_dtype, opt.device);
    }
    // The analysis results a manifest records, each checked by type and range so a hand-edited file gets a line
    // naming the key and what it holds (not the JSON library's type error).
    auto number_in = [&](const nlohmann::json& obj, const char* key, const std::string& name, double lo, double hi, bool open_lo) {
      const auto& v = obj[key];
      const bool ok = v.is_number() && (open_lo ? v.get<double>() > lo : v.get<double>() >= lo) && v.get<double>() <= hi;
      char range[64];
      std::snprintf(range, sizeof range, "%s%g, %g]", open_lo ? "(" : "[", lo, hi);
      if (!ok) fail(where, name + " must be a number in " + range + ", got " + v.dump());
      return v.get<double>();
    };
    if (m.contains("weak_layers")) {
      const auto& w = m.at("weak_layers");
      if (!w.is_array()) fail(where, "weak_layers must be a list of layer indices, got " + w.dump());
      for (const auto& l : w) {
        if (!l.is_number_integer() || l.get<long long>() < 0 || l.get<long long>() >= b->num_layers())
          fail(where, "weak_layers: " + l.dump() + " is not a layer index of this model (0-" + std::to_string(b->num_layers() - 1) + ")");
        b->weak_layers.push_back(l.get<int>());
      }
    }
    if (m.contains("calibration")) {
      const auto& c = m.at("calibration");
      if (!c.is_object()) fail(where, "calibration must be an object");
      if (c.contains("tau_cache")) b->calibrated_tau_cache = number_in(c, "tau_cache", "calibration.tau_cache", -1, 1, false);
      if (c.contains("tau_sel")) b->calibrated_tau_sel = number_in(c, "tau_sel", "calibration.tau_sel", -1, 1, false);
    }
    if (m.contains("kvlock")) {
      const auto& k = m.at("kvlock");
      if (!k.is_object()) fail(where, "kvlock must be an object");
      if (k.contains("tau")) b->calibrated_kvlock_tau = number_in(k, "tau", "kvlock.tau", 0, 1e6, true);
      if (k.contains("tau_local")) b->calibrated_kvlock_tau_local = number_in(k, "tau_local", "kvlock.tau_local", 0, 1e6, true);
    }
    b->vae = WanVAE::load(load_tensor_file(L.vae_weights), vae_cfg, at::kFloat, opt.device);
    b->defaults = naming_file(where, [&] { return SamplingDefaults::from_json(m.value("sampling", nlohmann::json::object()), where); });
  } else if (L.format == "wan-official") {
    const WanConfig dit_cfg = naming_file(L.dit_config, [&] { return WanConfig::from_json(read_json(L.dit_config)); });
    TensorSet dit_set = load_tensor_file(L.dit_weights);
    for (const auto& r : formats::apply_loras(dit_set, opt.loras)) b->load_notes.push_back(r.summary());
    b->dit = WanModel::load(dit_set, dit_cfg, opt.dit_dtype, opt.device);
    b->t5 = UMT5Encoder::load(load_tensor_file(L.t5_weights), opt.text_dtype, opt.device);
    TensorSet clip_set = load_tensor_file(L.clip_weights);
    const ClipVisionConfig clip_cfg = infer_clip_config(clip_set, L.clip_prefix);
    b->clip = ClipVision::load(clip_set, clip_cfg, L.clip_prefix, opt.clip_dtype, opt.device);
    attach_xlmr_text(*b, clip_set, opt);
    b->vae = WanVAE::load_file(L.vae_weights, at::kFloat, opt.device);
    b->defaults = SamplingDefaults{};
    b->defaults.negative_prompt = wan_i2v_negative_prompt();
  } else if (L.format == "components") {
    // Any layout (ComfyUI single files incl. fp8, diffusers folders, GGUF DiT), mapped to the official names.
    formats::DitWeights w = formats::load_wan_dit_weights(L.dit_weights, at::kFloat, opt.keep_quantised);
    if (opt.keep_quantised) b->load_notes.push_back(kept_note(L.dit_weights, w));
    const std::string cfg_file = !L.dit_diffusers_config.empty() && w.probe.naming == "diffusers" ? L.dit_diffusers_config : std::string();
    const WanConfig dit_cfg = formats::wan_config_from_probe(w.probe, opt.dit_heads, cfg_file, L.dit_weights);
    naming_file(L.dit_weights, [&] { dit_cfg.validate(); return 0; });
    for (const auto& r : formats::apply_loras(w.set, opt.loras)) b->load_notes.push_back(r.summary());
    b->dit = WanModel::load(w.set, dit_cfg, opt.dit_dtype, opt.device, &w.kept);
    b->t5 = UMT5Encoder::load(formats::load_umt5_weights(L.t5_weights), opt.text_dtype, opt.device);
    TensorSet clip_set = formats::load_clip_vision_weights(L.clip_weights);
    const ClipVisionConfig clip_cfg = infer_clip_config(clip_set, "");
    b->clip = ClipVision::load(clip_set, clip_cfg, "", opt.clip_dtype, opt.device);
    attach_xlmr_text(*b, whole_clip_file(L.clip_weights), opt);
    TensorSet vae_set = formats::load_vae_weights(L.vae_weights);
    b->vae = WanVAE::load(vae_set, VaeConfig::infer(vae_set), at::kFloat, opt.device);
    b->defaults = SamplingDefaults{};
    b->defaults.negative_prompt = wan_i2v_negative_prompt();
  } else if (L.format == "wan2.2-i2v-a14b") {
    // Two experts of one shape; each read from its folder in any DiT format, config.json when present (its
    // num_heads), and no image branch (checked against the tensors by WanModel::load).
    // Its LoRAs come as high / low pairs: each names its expert (--lora-high / --lora-low).
    std::vector<formats::LoraSpec> high_loras, low_loras;
    for (const auto& l : opt.loras) {
      if (l.expert.empty())
        fail(l.path, "--lora: a Wan2.2 I2V-A14B model has two experts: give --lora-high FILE and / or --lora-low FILE");
      (l.expert == "high" ? high_loras : low_loras).push_back(l);
    }
    auto load_expert = [&](const std::string& weights, const std::string& config, const std::vector<formats::LoraSpec>& loras,
                           const char* which) {
      formats::DitWeights w = formats::load_wan_dit_weights(weights, at::kFloat, opt.keep_quantised);
      if (opt.keep_quantised) b->load_notes.push_back(kept_note(weights, w));
      for (const auto& r : formats::apply_loras(w.set, loras)) b->load_notes.push_back(std::string(which) + "-noise expert: " + r.summary());
      WanConfig cfg = config.empty() ? formats::wan_config_from_probe(w.probe, opt.dit_heads, std::string(), weights)
                                     : naming_file(config, [&] { return WanConfig::from_json(read_json(config)); });
      cfg.image_branch = w.probe.variant.rfind("I2V (CLIP image branch)", 0) == 0;
      if (opt.dit_heads > 0) cfg.num_heads = opt.dit_heads;
      naming_file(weights, [&] { cfg.validate(); return 0; });
      return WanModel::load(w.set, cfg, opt.dit_dtype, opt.device, &w.kept);
    };
    b->dit = load_expert(L.dit_weights, L.dit_config, low_loras, "low");
    b->dit_high = std::make_shared<WanModel>(load_expert(L.dit_high_weights, L.dit_high_config, high_loras, "high"));
    b->t5 = UMT5Encoder::load(formats::load_umt5_weights(L.t5_weights), opt.text_dtype, opt.device);
    if (!L.clip_weights.empty()) {  // --clip FILE: for FSG's keyword selection / anchors (the DiTs never read it)
      TensorSet clip_set = formats::load_clip_vision_weights(L.clip_weights);
      b->clip = ClipVision::load(clip_set, infer_clip_config(clip_set, ""), "", opt.clip_dtype, opt.device);
      attach_xlmr_text(*b, whole_clip_file(L.clip_weights), opt);
    } else {
      b->has_clip = false;
    }
    TensorSet vae_set = formats::load_vae_weights(L.vae_weights);
    b->vae = WanVAE::load(vae_set, VaeConfig::infer(vae_set), at::kFloat, opt.device);
    b->defaults = wan22_i2v_a14b_defaults();
  } else {
    fail(L.dir, "unknown model layout format '" + L.format + "'");
  }
  if (opt.keep_quantised && !any_dit_format)
    b->load_notes.push_back("--keep-quantised: nothing kept: " + L.dir + " (" + L.format + " layout) stores its DiT unquantised");
  b->tokenizer = std::make_shared<WanTokenizer>(L.tokenizer);
  b->text_len = b->is_mmdit() ? static_cast<int>(b->mllm->cfg.text_len) : b->dit.cfg.text_len;
  if (opt.check) check_bundle(*b);
  return b;
}

namespace {
void update_manifest(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  const std::filesystem::path path = std::filesystem::path(dir) / "focalscope.json";
  nlohmann::json m = read_json(path.string());
  edit(m);
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << m.dump(2) << "\n";
    if (!out) fail(tmp.string(), "cannot write");
  }
  std::filesystem::rename(tmp, path);
}
}  // namespace

void record_weak_layers(const std::string& dir, const std::vector<int>& weak, const nlohmann::json& source) {
  update_manifest(dir, [&](nlohmann::json& m) {
    m["weak_layers"] = weak;
    m["weak_layers_source"] = source;
  });
}

void record_calibration(const std::string& dir, const nlohmann::json& calibration) {
  update_manifest(dir, [&](nlohmann::json& m) { m["calibration"] = calibration; });
}

void record_kvlock(const std::string& dir, const nlohmann::json& kvlock) {
  update_manifest(dir, [&](nlohmann::json& m) { m["kvlock"] = kvlock; });
}

int ModelBundle::num_layers() const {
  return is_mmdit() ? mmdit->cfg.mm_double_blocks_depth + mmdit->cfg.mm_single_blocks_depth : dit.cfg.num_layers;
}

std::array<int, 3> ModelBundle::patch_size() const {
  if (is_mmdit()) return mmdit->cfg.patch_size;
  return {dit.cfg.patch_size[0], dit.cfg.patch_size[1], dit.cfg.patch_size[2]};
}

int64_t ModelBundle::text_row_offset() const {
  if (!is_mmdit()) return 0;
  const int64_t g = clip.cfg.image_size / clip.cfg.patch_size, s = mllm->cfg.image_stride;
  return (g * g + s - 1) / s;  // patches [0, g*g) every s-th
}

int ModelBundle::latent_channels() const { return is_mmdit() ? mmdit->cfg.out_channels : dit.cfg.out_dim; }

void check_bundle(const ModelBundle& b) {
  const std::string& where = b.layout.dir.empty() ? std::string("model") : b.layout.dir;
  if (b.is_mmdit()) {
    const HunyuanConfig& c = b.mmdit->cfg;
    auto need = [&](int64_t a, int64_t want, const std::string& what) {
      if (a != want) fail(where, what + " is " + std::to_string(a) + ", the MMDiT needs " + std::to_string(want) +
                                     " (the folder's components do not belong together)");
    };
    need(b.mllm->cfg.vision_dim, b.clip.cfg.dim, "the MLLM projector's input width (CLIP width " + std::to_string(b.clip.cfg.dim) + ")");
    need(b.mllm->cfg.llama.hidden_size, c.text_states_dim, "the MLLM width");
    need(b.clip_text ? b.clip_text->cfg.dim : 0, c.text_states_dim_2, "the CLIP text width");
    need(b.vae.cfg.z_dim, c.in_channels, "the VAE's latent channels");
    need(b.tokenizer ? b.tokenizer->vocab_size() : b.mllm->cfg.llama.vocab_size, b.mllm->cfg.llama.vocab_size, "the tokenizer's vocabulary");
    return;
  }
  if (b.dit.cfg.has_image_branch() && b.dit.cfg.clip_dim != b.clip.cfg.dim)
    fail(where, "CLIP width " + std::to_string(b.clip.cfg.dim) + " does not match the DiT's img_emb input " +
                    std::to_string(b.dit.cfg.clip_dim) + " (the folder's CLIP and DiT do not belong together)");
  if (b.t5.config.dim != b.dit.cfg.text_dim)
    fail(where, "umT5 width " + std::to_string(b.t5.config.dim) + " does not match the DiT's text_dim " +
                    std::to_string(b.dit.cfg.text_dim));
  if (b.tokenizer && b.tokenizer->vocab_size() > b.t5.config.vocab)
    fail(where, "tokenizer vocabulary " + std::to_string(b.tokenizer->vocab_size()) + " exceeds the umT5 embedding rows " +
                    std::to_string(b.t5.config.vocab));
  if (b.vae.cfg.z_dim != b.dit.cfg.out_dim)
    fail(where, "VAE latent channels " + std::to_string(b.vae.cfg.z_dim) + " do not match the DiT's out_dim " +
                    std::to_string(b.dit.cfg.out_dim));
  if (b.dit_high) {
    const WanConfig &lo = b.dit.cfg, &hi = b.dit_high->cfg;
    if (hi.in_dim != lo.in_dim || hi.out_dim != lo.out_dim || hi.text_dim != lo.text_dim || hi.patch_size != lo.patch_size ||
        hi.text_len != lo.text_len || hi.model_type != lo.model_type || hi.image_branch != lo.image_branch)
      fail(where, "the high-noise and low-noise experts do not take the same inputs (in_dim " + std::to_string(hi.in_dim) + " / " +
                      std::to_string(lo.in_dim) + ", text_dim " + std::to_string(hi.text_dim) + " / " + std::to_string(lo.text_dim) + ")");
    if (!(b.defaults.boundary > 0 && b.defaults.boundary < 1)) fail(where, "two experts need a boundary in (0, 1)");
  }
}

std::string default_model_dir() {
  std::vector<fs::path> candidates;
  if (const char* e = std::getenv("FOCALSCOPE_MODEL_DIR"); e && *e) candidates.emplace_back(e);
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    buf[n] = 0;
    fs::path exe = fs::path(buf).parent_path();
    for (int up = 0; up < 4; ++up) {
      candidates.push_back(exe / "assets" / "models" / "shapes");
      exe = exe.parent_path();
    }
  }
#ifdef FOCALSCOPE_SOURCE_DIR
  candidates.push_back(fs::path(FOCALSCOPE_SOURCE_DIR) / "assets" / "models" / "shapes");
#endif
  for (const auto& c : candidates)
    if (fs::exists(c / "focalscope.json")) return c.string();
  return {};
}

}  // namespace focalscope
