#include "app/session/edit_session.h"

#include <algorithm>

#include "engine/guidance/guidance_config.h"

namespace focalscope::session {

bool EditInputs::operator==(const EditInputs& o) const {
  return video_path == o.video_path && mask_path == o.mask_path && prompt == o.prompt &&
         source_prompt == o.source_prompt && guidance == o.guidance && compose_fg == o.compose_fg;
}

const std::vector<std::string>& edit_guidance_tokens() {
  static const std::vector<std::string> t = [] {
    std::vector<std::string> v{"off"};
    for (const auto& k : kvlock_variants()) v.push_back(k);
    return v;
  }();
  return t;
}

const char* edit_guidance_help(const std::string& t) {
  // The notes' ablation rows (docs/kv_lock.md), one line each.
  if (t == "off") return "plain edit: I2V from the source's first frame and the edit prompt, same noise, no lock";
  if (t == "kvlock") return "full KV-Lock: background K/V lock (alpha = sigma2 / tau inside the mask) + s* + omega";
  if (t == "kvlock-fixed") return "the lock with a fixed alpha 0.5 in every locked step (+ s* + omega)";
  if (t == "kvlock-kv") return "the background K/V lock only (no dynamic CFG)";
  if (t == "kvlock-omega") return "the omega (CFG scale) schedule only, no lock";
  if (t == "kvlock-sstar") return "s* (CFG rescale) only, no lock";
  if (t == "kvlock-sstar-omega") return "s* and omega, no lock";
  if (t == "kvlock-global") return "full KV-Lock with sigma2 over the whole latent instead of inside the mask";
  return "";
}

std::string edit_mode_string(const EditInputs& in) {
  if (!in.compose_fg) return in.guidance;
  return in.guidance == "off" ? "fg" : "fg+" + in.guidance;
}

bool set_edit_guidance(EditInputs& in, const std::string& mode, std::string* error) {
  std::string token = mode;
  bool fg = false;
  if (token == "fg") {
    token = "off";
    fg = true;
  } else if (token.rfind("fg+", 0) == 0) {
    token = token.substr(3);
    fg = true;
  }
  const auto& all = edit_guidance_tokens();
  if (std::find(all.begin(), all.end(), token) == all.end()) {
    if (error) {
      std::string list;
      for (const auto& t : all) list += (list.empty() ? "" : ", ") + t;
      *error = "edit guidance '" + mode + "' is not one of " + list + " (optionally 'fg+' before it)";
    }
    return false;
  }
  in.guidance = token;
  in.compose_fg = fg;
  return true;
}

nlohmann::json to_json(const EditInputs& in) {
  return {{"video_path", in.video_path}, {"mask_path", in.mask_path}, {"prompt", in.prompt},
          {"source_prompt", in.source_prompt}, {"guidance", in.guidance}, {"compose_fg", in.compose_fg}};
}

EditInputs edit_inputs_from_json(const nlohmann::json& j) {
  EditInputs in;
  if (!j.is_object()) return in;
  auto str = [&](const char* k, std::string& out) {
    if (j.contains(k) && j[k].is_string()) out = j[k].get<std::string>();
  };
  str("video_path", in.video_path);
  str("mask_path", in.mask_path);
  str("prompt", in.prompt);
  str("source_prompt", in.source_prompt);
  std::string g = in.guidance;
  str("guidance", g);
  if (j.contains("compose_fg") && j["compose_fg"].is_boolean()) in.compose_fg = j["compose_fg"].get<bool>();
  // A token a later engine no longer knows falls back to the default instead of failing every run.
  const auto& all = edit_guidance_tokens();
  if (std::find(all.begin(), all.end(), g) != all.end()) in.guidance = g;
  return in;
}

double EditSnapshot::progress() const {
  switch (state) {
    case RunState::Idle:
    case RunState::Queued: return 0.0;
    case RunState::Loading: return 0.02;
    case RunState::Encoding: return 0.05;
    case RunState::Sampling: return 0.05 + 0.9 * (steps_total > 0 ? double(steps_done) / steps_total : 0.0);
    case RunState::Decoding: return 0.96;
    case RunState::Done: return 1.0;
    case RunState::Cancelled:
    case RunState::Failed: return steps_total > 0 ? 0.05 + 0.9 * double(steps_done) / steps_total : 0.0;
  }
  return 0.0;
}

}  // namespace focalscope::session
