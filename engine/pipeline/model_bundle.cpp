#include "engine/pipeline/model_bundle.h"

#include <cstdio>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>

#include "engine/core/error.h"
#include "engine/core/weights.h"

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

nlohmann::json SamplingDefaults::to_json() const {
  return {{"solver", solver}, {"steps", steps}, {"shift", shift}, {"guide_scale", guide_scale}, {"frames", frames},
          {"max_area", max_area}, {"fps", fps}, {"negative_prompt", negative_prompt}};
}

SamplingDefaults SamplingDefaults::from_json(const nlohmann::json& j, const std::string& where) {
  SamplingDefaults d;
  try {
    if (j.contains("solver")) d.solver = j["solver"].get<std::string>();
    if (j.contains("steps")) d.steps = j["steps"].get<int>();
    if (j.contains("shift")) d.shift = j["shift"].get<double>();
    if (j.contains("guide_scale")) d.guide_scale = j["guide_scale"].get<double>();
    if (j.contains("frames")) d.frames = j["frames"].get<int>();
    if (j.contains("max_area")) d.max_area = j["max_area"].get<long long>();
    if (j.contains("fps")) d.fps = j["fps"].get<int>();
    if (j.contains("negative_prompt")) d.negative_prompt = j["negative_prompt"].get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("bad sampling defaults: ") + e.what());
  }
  return d;
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot open");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("invalid JSON (") + e.what() + ")");
  }
}

// The CLIP ViT config is not stored in the .pth: read every size off the tensor shapes. Heads are not visible in
// any shape; ViT-H/14 (the only tower Wan ships) uses 16, and the tiny fixture towers keep dim/16 as well.
ClipVisionConfig infer_clip_config(const TensorSet& set, const std::string& prefix) {
  ClipVisionConfig c = ClipVisionConfig::vit_h_14();
  const std::string where = set.origin;
  auto shape = [&](const std::string& n) {
    if (!set.has(prefix + n)) fail(where, "CLIP tensor '" + prefix + n + "' is missing");
    return set.get(prefix + n).sizes().vec();
  };
  auto pe = shape("patch_embedding.weight");  // [dim, 3, p, p]
  auto pos = shape("pos_embedding");          // [1, 1+g*g, dim]
  c.dim = static_cast<int>(pe[0]);
  c.patch_size = static_cast<int>(pe[2]);
  const int64_t g = static_cast<int64_t>(std::llround(std::sqrt(double(pos[1] - 1))));
  if (g * g + 1 != pos[1]) fail(where, "CLIP pos_embedding has " + std::to_string(pos[1]) + " rows, not 1 + a square");
  c.image_size = static_cast<int>(g * c.patch_size);
  c.num_heads = c.dim == 1280 ? 16 : std::max(1, c.dim / 16);
  c.mlp_ratio = double(shape("transformer.0.mlp.0.weight")[0]) / c.dim;
  c.out_dim = static_cast<int>(shape("head")[1]);
  int n = 0;
  while (set.has(prefix + "transformer." + std::to_string(n) + ".norm1.weight")) ++n;
  c.num_layers = n;
  c.validate(where);
  return c;
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
    auto file = [&](const char* comp, const char* key) -> std::string {
      if (!m.contains(comp) || !m[comp].contains(key)) fail((d / "focalscope.json").string(), std::string("no ") + comp + "." + key);
      const std::string rel = m[comp][key].get<std::string>();
      fs::path p = d / rel;
      if (!fs::exists(p)) {
        // A derived model (e.g. plant-weak) refers to its base's files by a relative path: say where it looked.
        const bool outside = rel.find('/') != std::string::npos;
        fail(dir, std::string(comp) + " file '" + (outside ? rel : p.filename().string()) + "' is missing" +
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
    L.clip_prefix = m["clip"].value("prefix", std::string(""));
    return L;
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
    fail(dir, "not a Wan2.1 model directory (no focalscope.json) and missing: " + s);
  }
  const auto cfg = read_json(L.dit_config);
  WanConfig wc = WanConfig::from_json(cfg);
  L.variant = std::string("Wan2.1-") + (wc.is_i2v() ? "I2V" : "T2V") + " (dim " + std::to_string(wc.dim) + ", " +
              std::to_string(wc.num_layers) + " layers, " + std::to_string(wc.num_heads) + " heads)";
  return L;
}

std::unique_ptr<ModelBundle> load_model_bundle(const std::string& dir, const LoadOptions& opt) {
  auto b = std::make_unique<ModelBundle>();
  b->layout = detect_model_layout(dir);
  b->options = opt;
  const auto& L = b->layout;
  if (L.format == "focalscope") {
    const auto& m = L.manifest;
    const std::string where = L.dir + "/focalscope.json";
    b->dit = WanModel::load(load_tensor_file(L.dit_weights), WanConfig::from_json(m["dit"]["config"]), opt.dit_dtype, opt.device);
    b->t5 = UMT5Encoder::load(load_tensor_file(L.t5_weights), UMT5Config::from_json(m["text_encoder"]["config"], where),
                              opt.text_dtype, opt.device);
    const ClipVisionConfig clip_cfg = ClipVisionConfig::from_json(m["clip"]["config"], where);
    b->clip = ClipVision::load(load_tensor_file(L.clip_weights), clip_cfg, L.clip_prefix, opt.clip_dtype, opt.device);
    b->clip_blocks = m["clip"].value("blocks", -1);
    if (m["clip"].contains("text_config")) {
      TensorSet clip_set = load_tensor_file(L.clip_weights);
      b->clip_text = ClipText::load(clip_set, ClipTextConfig::from_json(m["clip"]["text_config"], where),
                                    m["clip"].value("text_prefix", std::string("textual.")), opt.clip_dtype, opt.device);
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
      const auto& w = m["weak_layers"];
      if (!w.is_array()) fail(where, "weak_layers must be a list of layer indices, got " + w.dump());
      for (const auto& l : w) {
        if (!l.is_number_integer() || l.get<long long>() < 0 || l.get<long long>() >= b->dit.cfg.num_layers)
          fail(where, "weak_layers: " + l.dump() + " is not a layer index of this model (0-" + std::to_string(b->dit.cfg.num_layers - 1) + ")");
        b->weak_layers.push_back(l.get<int>());
      }
    }
    if (m.contains("calibration")) {
      const auto& c = m["calibration"];
      if (!c.is_object()) fail(where, "calibration must be an object");
      if (c.contains("tau_cache")) b->calibrated_tau_cache = number_in(c, "tau_cache", "calibration.tau_cache", -1, 1, false);
      if (c.contains("tau_sel")) b->calibrated_tau_sel = number_in(c, "tau_sel", "calibration.tau_sel", -1, 1, false);
    }
    if (m.contains("kvlock")) {
      const auto& k = m["kvlock"];
      if (!k.is_object()) fail(where, "kvlock must be an object");
      if (k.contains("tau")) b->calibrated_kvlock_tau = number_in(k, "tau", "kvlock.tau", 0, 1e6, true);
      if (k.contains("tau_local")) b->calibrated_kvlock_tau_local = number_in(k, "tau_local", "kvlock.tau_local", 0, 1e6, true);
    }
    b->vae = WanVAE::load(load_tensor_file(L.vae_weights), VaeConfig::from_json(m["vae"]["config"]), at::kFloat, opt.device);
    b->defaults = SamplingDefaults::from_json(m.value("sampling", nlohmann::json::object()), where);
  } else {
    b->dit = WanModel::load(load_tensor_file(L.dit_weights), WanConfig::from_json(read_json(L.dit_config)), opt.dit_dtype, opt.device);
    b->t5 = UMT5Encoder::load(load_tensor_file(L.t5_weights), opt.text_dtype, opt.device);
    TensorSet clip_set = load_tensor_file(L.clip_weights);
    const ClipVisionConfig clip_cfg = infer_clip_config(clip_set, L.clip_prefix);
    b->clip = ClipVision::load(clip_set, clip_cfg, L.clip_prefix, opt.clip_dtype, opt.device);
    b->vae = WanVAE::load_file(L.vae_weights, at::kFloat, opt.device);
    b->defaults = SamplingDefaults{};
    b->defaults.negative_prompt = wan_i2v_negative_prompt();
  }
  b->tokenizer = std::make_shared<WanTokenizer>(L.tokenizer);
  b->text_len = b->dit.cfg.text_len;
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

void check_bundle(const ModelBundle& b) {
  const std::string& where = b.layout.dir.empty() ? std::string("model") : b.layout.dir;
  if (b.dit.cfg.is_i2v() && b.dit.cfg.clip_dim != b.clip.cfg.dim)
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
