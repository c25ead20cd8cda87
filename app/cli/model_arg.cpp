#include "app/cli/model_arg.h"

#include <filesystem>

#include "app/cli/args.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/core/error.h"
#include "engine/formats/component_weights.h"

namespace focalscope::cli {

std::string resolve_model_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  std::string d = default_model_dir();
  if (d.empty())
    fail("--model-dir", "not given and the embedded default model (assets/models/shapes/focalscope.json) was not found; "
                        "set FOCALSCOPE_MODEL_DIR or pass --model-dir");
  return d;
}

std::unique_ptr<ModelBundle> load_model_arg(const std::string& dir, const LoadOptions& opt) {
  return load_model_bundle(resolve_model_dir(dir), opt);
}

const char* kModelArgsUsage =
    "model (any layout; docs/real_weights.md):\n"
    "  --model-dir DIR     official Wan2.1 release, FocalScope folder, diffusers pipeline folder or ComfyUI models folder\n"
    "                      (components found from their content)\n"
    "  --dit F --t5 F --clip F --vae F   single files instead (ComfyUI style; each checked to hold its component)\n"
    "  --dit-high F --dit-low F --t5 F --vae F [--clip F]   Wan2.2 I2V-A14B from its two expert files (e.g.\n"
    "                      wan2.2_i2v_high_noise_14B_*.safetensors / *_low_noise_*, or HighNoise / LowNoise GGUFs)\n"
    "  --tokenizer FILE    umT5's spiece.model (default: found beside the umT5 file / in the folder)\n"
    "  --clip-tokenizer F  XLM-R's sentencepiece.bpe.model for the CLIP text tower of Wan's open-clip file (Eq. 6\n"
    "                      keyword selection; default: xlm-roberta-large/ beside the model folder or the CLIP file)\n"
    "  --dit-heads N       the DiT's attention heads when no config stores them (default dim / 128)\n"
    "  --lora FILE [--lora-strength S]   merge a LoRA into the DiT at load (repeatable; S default 1)\n"
    "  --lora-high FILE / --lora-low FILE [--lora-strength S]   Wan2.2 I2V-A14B: a LoRA for the high- / low-noise\n"
    "                      expert (its LoRAs ship as such pairs; repeatable)\n"
    "  --keep-quantised    keep the DiT blocks' Q8_0 / Q4_K (GGUF) or fp8 weights as codes in memory and decode each\n"
    "                      block while it runs (same outputs; ~1/2 to 1/4 of the bf16 memory; slower per step)\n";

const std::set<std::string>& model_value_options() {
  static const std::set<std::string> s = {"model-dir", "dit", "dit-high", "dit-low", "t5", "clip", "clip-tokenizer", "vae", "tokenizer", "dit-heads"};
  return s;
}

std::vector<formats::LoraSpec> take_lora_args(std::vector<std::string>& argv) {
  std::vector<formats::LoraSpec> out;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string a = argv[i], val;
    bool eq = false;
    if (auto p = a.find('='); a.rfind("--lora", 0) == 0 && p != std::string::npos) val = a.substr(p + 1), a = a.substr(0, p), eq = true;
    if (a != "--lora" && a != "--lora-high" && a != "--lora-low" && a != "--lora-strength") {
      rest.push_back(argv[i]);
      continue;
    }
    if (!eq) {
      if (i + 1 >= argv.size()) fail(a, "needs a value");
      val = argv[++i];
    }
    if (a != "--lora-strength") {
      if (val.empty()) fail(a, "needs a LoRA file");
      out.push_back({val, 1.0, a == "--lora-high" ? "high" : a == "--lora-low" ? "low" : ""});
    } else {
      if (out.empty()) fail("--lora-strength", "must follow the --lora / --lora-high / --lora-low FILE it applies to");
      char* end = nullptr;
      const double s = std::strtod(val.c_str(), &end);
      if (end == val.c_str() || *end || !std::isfinite(s) || std::fabs(s) > 100)
        fail("--lora-strength", "'" + val + "' is not a number in [-100, 100]");
      out.back().strength = s;
    }
  }
  argv = rest;
  return out;
}

ModelArgs model_args_from(const Args& a, std::vector<formats::LoraSpec> loras) {
  ModelArgs m;
  m.model_dir = a.str("model-dir");
  m.dit = a.str("dit");
  m.dit_high = a.str("dit-high");
  m.dit_low = a.str("dit-low");
  m.t5 = a.str("t5");
  m.clip = a.str("clip");
  m.vae = a.str("vae");
  m.tokenizer = a.str("tokenizer");
  m.clip_tokenizer = a.str("clip-tokenizer");
  m.dit_heads = static_cast<int>(a.integer("dit-heads", 0, 0, 1024));
  m.loras = std::move(loras);
  m.keep_quantised = a.flag("keep-quantised");
  return m;
}

namespace {
ModelLayout resolve_layout_without_clip_tokenizer(const ModelArgs& m) {
  // Wan2.2 I2V-A14B ships no CLIP: --model-dir DIR --clip FILE adds one (FSG's keyword maps); checked by content.
  if (!m.model_dir.empty() && !m.clip.empty() && m.dit.empty() && m.t5.empty() && m.vae.empty()) {
    ModelLayout L = detect_model_layout(m.model_dir);
    if (L.format == "wan2.2-i2v-a14b") {
      const formats::ComponentProbe p = formats::probe_component(m.clip);
      if (p.component != "clip-vision") fail(m.clip, "--clip expects a clip-vision, this holds " + p.summary());
      L.clip_weights = m.clip;
      L.reasons.push_back("--clip " + m.clip + ": clip-vision (" + p.summary() + ")");
      return L;
    }
  }
  if (!m.dit_high.empty() || !m.dit_low.empty()) {  // Wan2.2 I2V-A14B's two experts as files
    if (!m.model_dir.empty()) fail("--model-dir", "give either --model-dir or the component files (--dit-high --dit-low --t5 --vae), not both");
    if (!m.dit.empty()) fail("--dit", "give either --dit (one DiT) or --dit-high and --dit-low (Wan2.2's two experts), not both");
    ModelLayout L = wan22_layout_from_files(m.dit_high, m.dit_low, m.t5, m.vae, m.tokenizer);
    if (!m.clip.empty()) {  // optional, as with a two-expert folder: FSG's keyword selection / anchors
      const formats::ComponentProbe p = formats::probe_component(m.clip);
      if (p.component != "clip-vision") fail(m.clip, "--clip expects a clip-vision, this holds " + p.summary());
      L.clip_weights = m.clip;
      L.reasons.push_back("--clip " + m.clip + ": clip-vision (" + p.summary() + ")");
    }
    return L;
  }
  if (m.explicit_files() || !m.dit.empty()) {
    if (!m.model_dir.empty()) fail("--model-dir", "give either --model-dir or the component files (--dit --t5 --clip --vae), not both");
    return layout_from_files(m.dit, m.t5, m.clip, m.vae, m.tokenizer);
  }
  return detect_model_layout(resolve_model_dir(m.model_dir));
}
}  // namespace

ModelLayout resolve_model_layout(const ModelArgs& m) {
  ModelLayout L = resolve_layout_without_clip_tokenizer(m);
  if (!m.clip_tokenizer.empty()) {
    if (!std::filesystem::is_regular_file(m.clip_tokenizer)) fail(m.clip_tokenizer, "--clip-tokenizer: file not found");
    L.clip_tokenizer = m.clip_tokenizer;
  }
  return L;
}

std::unique_ptr<ModelBundle> load_model_arg(const ModelArgs& m, LoadOptions opt) {
  opt.loras = m.loras;
  opt.dit_heads = m.dit_heads;
  opt.keep_quantised = m.keep_quantised;
  auto b = load_model_bundle(resolve_model_layout(m), opt);
  for (const auto& n : b->load_notes) std::fprintf(stderr, "%s\n", n.c_str());
  return b;
}

}  // namespace focalscope::cli
