// Every parameter of Focal Guidance (arXiv 2601.07287 §4) in one plain struct, loadable from JSON and settable from
// CLI flags. FSG (Fine-grained Semantic Guidance, Eq. 6-9) and the Attention Cache (Eq. 11-13) switch independently;
// with both off — or every lambda at 0 — generation is bit-for-bit the baseline.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include <vector>

#include "engine/pipeline/kv_lock_config.h"
#include "engine/sched/dyn_cfg.h"

namespace focalscope {

// Where the Attention Cache takes its responsive-layer maps from when a weak layer runs (Eq. 11). Inside one forward,
// a weak layer l_w can only see layers < l_w of the current step.
enum class CacheSource {
  ThisStepEarlierLayers,     // default: responsive layers already computed in this forward (fresh, causal)
  PreviousStepResponsive,    // every responsive layer of the previous step (complete, one step stale)
};

struct GuidanceConfig {
  bool fsg = false;  // Fine-grained Semantic Guidance: value fusion (Eq. 8) + latent injection (Eq. 9)
  bool ac = false;   // Attention Cache (Eq. 11-13)

  // Keyword selection (Eq. 6): words whose max CLIP word-patch similarity exceeds tau_sel become keywords (function
  // words excepted). 0.7 separates object words from the rest with the embedded model's CLIP (docs/focal_guidance.md).
  double tau_sel = 0.7;
  // Sign of S in Eq. 6: +1 plain cosine, -1 the paper's negative cosine (CLIP Surgery). See docs/focal_guidance.md.
  int sim_sign = +1;
  // Region R_k of Eq. 9: patches whose (min-max normalised) similarity exceeds this fraction.
  double tau_region = 0.5;
  double lambda_txt = 0.5;    // Eq. 8 strength
  double lambda_lat = 0.5;    // Eq. 9 strength
  double tau_cache = 0.2;     // Eq. 12 threshold on the aggregated cosine map
  double lambda_cache = 0.5;  // Eq. 13 strength
  CacheSource cache_source = CacheSource::ThisStepEarlierLayers;

  // Semantic-weak layers: given explicitly, or empty = use the detected set of the model (its manifest's
  // `weak_layers`, from `focalscope analyze`).
  std::vector<int> weak_layers;
  // Keywords: empty = select by Eq. 6; non-empty = use these words of the prompt.
  std::vector<std::string> keywords;
  // Apply to the conditional CFG pass only (the negative prompt has no keywords); default true.
  bool cond_only = true;

  // Whether tau_sel / tau_cache were set explicitly (a config key or flag). Thresholds that were not take the model's
  // calibrated values (manifest "calibration", `focalscope calibrate`) when it has them: see with_model_defaults().
  bool tau_sel_given = false, tau_cache_given = false;

  // KV-Lock's dynamic CFG (engine/sched/dyn_cfg.h), composable with FSG / AC: `--guidance dyncfg`, `fg+dyncfg`.
  // JSON: "dyncfg": {"sstar", "omega", "reading", "omega0", "tau", "b", "kappa"}.
  DynCfgConfig dyncfg;
  // KV-Lock editing (engine/pipeline/kv_lock_config.h), set by the kvlock tokens (with their dynamic CFG part in
  // `dyncfg`); needs a source video and a mask (focalscope edit). JSON: "kvlock": {"variant", "alpha_fixed", "local",
  // "tau", "kappa", "shared_noise", "cache_on_cpu"}.
  KvLockConfig kvlock;

  bool active() const;  // anything that can change the output
  nlohmann::json to_json() const;
  // Unknown keys or out-of-range values -> Error naming `where` and the key.
  static GuidanceConfig from_json(const nlohmann::json& j, const std::string& where = "guidance config");
  static GuidanceConfig load(const std::string& path);
  void validate(const std::string& where = "guidance config") const;

  // --guidance: '+'-joined tokens: off | fsg | ac | fg, and dyncfg | dyncfg-sstar (s* only) | dyncfg-omega (the
  // omega schedule only); e.g. "fg+dyncfg"; and for edits one KV-Lock token (kvlock_variants()). A mode resets
  // what it does not name.
  void set_mode(const std::string& mode);
  std::string mode() const;  // the same tokens: "off", "fsg", "fg", "dyncfg", "fg+dyncfg", ...
};

// The KV-Lock tokens, the notes' ablation rows: kvlock (full: background lock + s* + omega, local sigma2),
// kvlock-fixed (lock with alpha 0.5), kvlock-kv (the lock only), kvlock-omega, kvlock-sstar, kvlock-sstar-omega (the
// CFG parts only, no lock), kvlock-global (full, sigma2 over the whole latent).
const std::vector<std::string>& kvlock_variants();

}  // namespace focalscope
