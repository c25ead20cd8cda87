// The files `focalscope analyze` writes besides the figures: per_layer.csv (every map's per-frame statistics)
// and metrics.json (settings, samples, per-layer curves with their spread, the weak-layer decision).
#pragma once
#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "analysis/layer_stats.h"
#include "analysis/weak_layers.h"
#include "app/cli/analyze_run.h"

namespace focalscope::cli {

// Columns: layer,step,keyword,frame,moran_i,std,sample,pass[,expert]  (one row per map frame; layer/step are model
// indices, keyword the word, frame the latent frame, std the population std of the min-max normalised frame).
void write_per_layer_csv(const std::string& path, const std::vector<SampleOutcome>& samples);

struct AnalyzeSummary {
  std::string model_dir, model_variant;
  const AnalyzeSettings* settings = nullptr;
  std::vector<int> layers;                  // layer ids of the curve slots
  const analysis::LayerCurves* curves = nullptr;
  const analysis::WeakLayerReport* report = nullptr;
  const analysis::WeakLayerOptions* rule = nullptr;
  const analysis::LayerCurves* uncond_curves = nullptr;  // when the uncond pass was captured too
  const std::vector<analysis::LayerUncertainty>* uncertainty = nullptr;  // bootstrap intervals per layer
  int64_t capture_bytes_per_sample = 0;
  std::string capture_layout;
  bool cancelled = false;
  double seconds_total = 0;
  std::vector<std::string> figures;
  // Wan2.2 I2V-A14B: the same rule and bootstrap on the stat steps each expert ran (empty for one DiT).
  struct Expert {
    std::string name;  // "high_noise" / "low_noise"
    const char* noise() const { return name == "high_noise" ? "high" : "low"; }
    std::unique_ptr<analysis::LayerCurves> curves;
    analysis::WeakLayerReport report;
    std::vector<analysis::LayerUncertainty> uncertainty;
    double bootstrap_seconds = 0;
  };
  std::vector<Expert> experts;
};

nlohmann::json metrics_json(const AnalyzeSummary& s, const std::vector<SampleOutcome>& samples);

// "0.26 0.21 0.19 ..." : Moran's I per layer slot, two decimals (the per-sample progress lines).
std::string moran_line(const std::vector<analysis::MapStats>& values);

// The summary table on stdout: each layer's Moran's I and the rule's statistic with their 95% bootstrap intervals,
// margin, P(weak) and verdict (intervals n/a with one sample), then the rule's line. report / unc index curve slots.
void print_weak_layer_table(const std::vector<int>& layer_ids, const std::vector<analysis::LayerUncertainty>& unc,
                            const analysis::WeakLayerReport& report, const analysis::WeakLayerOptions& rule, int samples,
                            double bootstrap_seconds);

}  // namespace focalscope::cli
