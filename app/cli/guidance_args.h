// The Focal Guidance flags shared by generate / analyze / bench:
//   --guidance off|fsg|ac|fg  --guidance-config FILE  --keywords w1,w2  --weak-layers 11-26 | 3,4,5
//   --tau-sel X --tau-region X --tau-cache X --lambda-txt X --lambda-lat X --lambda-cache X --cache-source this_step|previous_step
// A config file is read first, then individual flags override it, then --guidance sets the mode.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "engine/guidance/focal_guidance.h"
#include "engine/guidance/guidance_config.h"

namespace focalscope::cli {

const std::set<std::string>& guidance_value_options();
// The guidance flags as a config. Dynamic CFG's own flags without a dyncfg mode are an error naming --guidance,
// unless require_dyncfg_mode is false (bench sets the modes itself, per row: it checks with dyncfg_flags_given).
// default_mode: the mode when --guidance is absent (edit: "kvlock"); null = off / the config file's.
GuidanceConfig guidance_from_args(const Args& a, bool require_dyncfg_mode = true, const char* default_mode = nullptr);
bool dyncfg_flags_given(const Args& a);
extern const char* kGuidanceUsage;

// The run's Focal Guidance summary on stderr (generate, for Wan and HunyuanVideo alike): "focal guidance MODE: weak
// layers ... | keywords: w (clip max) ... | attention cache tokens touched per weak layer: l:n ...", then one
// "warning:" line per no-op.
void print_guidance_summary(const GuidanceConfig& g, const std::vector<int>& weak_layers, const FsgPlan& plan,
                            const GuidanceStats& stats, const std::vector<std::string>& noops);

}  // namespace focalscope::cli
