// What one run is made of: the generation inputs and the Focal Guidance settings. Plain values, copied
// freely between the GUI thread, the worker and the settings file; equality tells the GUI when to re-run.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "render/image.h"

namespace focalscope::session {

// A LoRA merged into the DiT when the model loads (engine/formats/lora.h); changing the list or a strength reloads
// the model and re-runs like any other input.
struct LoraEntry {
  std::string path;
  double strength = 1.0;
  bool operator==(const LoraEntry& o) const { return path == o.path && strength == o.strength; }
};

struct RunInputs {
  std::string image_path;        // shown in the UI / persisted; the pixels travel in RunRequest::image
  std::string prompt;
  std::string negative_prompt;   // empty: the model's default
  int64_t seed = 42;
  int steps = 0;                 // <= 0: the model's default (likewise cfg < 0, frames <= 0, max_area <= 0)
  double cfg = -1;
  int frames = 0;
  long long max_area = 0;
  std::string model_dir;         // empty: the embedded default model (assets/models/shapes)
  std::vector<LoraEntry> loras;  // merged in order at load (Wan DiTs)
  std::string clip_file;         // Wan2.2 I2V-A14B folders only: a CLIP for Focal Guidance's Eq. 6 (CLI --clip); "" none

  bool operator==(const RunInputs& o) const;
  bool operator!=(const RunInputs& o) const { return !(*this == o); }
};

// Focal Guidance (paper §4) as the app edits it; session_runner.cpp turns it into the engine's
// focalscope::GuidanceConfig (engine/guidance) for the guided variant.
struct GuidanceConfig {
  bool fsg = true;               // Fine-grained Semantic Guidance (Eq. 6-9)
  bool ac = true;                // Attention Cache (Eq. 10-13)
  // Defaults follow engine/guidance/guidance_config.h.
  float tau_sel = 0.7f;          // keyword selection threshold on max_n S_{m,n} (Eq. 6)
  float tau_region = 0.50f;      // region R_k of Eq. 9: normalised similarity above this fraction
  float tau_cache = 0.20f;       // cache threshold (Eq. 12)
  // "Model default" state of the two thresholds that models calibrate (manifest "calibration", `focalscope
  // calibrate`): while auto, the run uses the model's calibrated value (the engine default when it has none) and
  // tau_sel / tau_cache above are ignored; moving a slider or `set tau_cache X` makes the value explicit.
  bool tau_sel_auto = true;
  bool tau_cache_auto = true;
  float lambda_txt = 0.50f;      // value fusion strength (Eq. 8)
  float lambda_lat = 0.50f;      // latent injection strength (Eq. 9)
  float lambda_cache = 0.50f;    // cache injection strength (Eq. 13)
  bool weak_override = false;    // false: the weak-layer set detected from the baseline run
  std::vector<int> weak_layers;  // the explicit set when weak_override
  std::vector<std::string> guided_words;  // words to guide; empty: selected by tau_sel
  // KV-Lock's dynamic CFG (engine/sched/dyn_cfg.h) on the guided variant, with or without FSG / AC; the raise-only
  // reading of omega when `dyncfg_raise`. tau: the model's calibrated kvlock tau (else the paper's 0.01).
  bool dyncfg = false;
  bool dyncfg_raise = false;

  bool enabled() const { return fsg || ac || dyncfg; }
  bool operator==(const GuidanceConfig& o) const;
  bool operator!=(const GuidanceConfig& o) const { return !(*this == o); }
};



// The two result slots: A = baseline (FG off), B = Focal Guidance.
enum class Variant { Baseline = 0, Guided = 1 };
inline constexpr int kNumVariants = 2;
const char* variant_name(Variant v);

struct RunRequest {
  RunInputs inputs;
  GuidanceConfig guidance;
  std::shared_ptr<const render::Image> image;  // decoded reference image (RGB)
  bool ab = true;              // run baseline and guided (baseline reused when its inputs did not change)
  bool guided = true;          // with ab == false: which single variant to run
  std::vector<std::string> analyze_words;  // words whose similarity maps are captured (empty: automatic)
};

// Sets one guidance parameter by name, as the script's `set NAME VALUE` does: NAME is tau_sel, tau_region,
// tau_cache, lambda_txt, lambda_lat or lambda_cache; VALUE a number, or "auto" for tau_sel / tau_cache (back to the
// model's calibrated value). A number for tau_sel / tau_cache makes it explicit. Returns false with a one-line
// `error` (g unchanged) for an unknown name or a bad value.
bool set_guidance_param(GuidanceConfig& g, const std::string& name, const std::string& value, std::string* error = nullptr);

nlohmann::json to_json(const RunInputs& in);
nlohmann::json to_json(const GuidanceConfig& g);
// Missing keys keep their defaults; wrong types are ignored (settings files are user-editable).
RunInputs inputs_from_json(const nlohmann::json& j);
GuidanceConfig guidance_from_json(const nlohmann::json& j);

}  // namespace focalscope::session
