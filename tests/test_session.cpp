// app/session: prompt words, scripts, settings, snapshots (curves, weak layers), exports, and the worker
// (A/B runs, baseline reuse, cancellation, clear failures) on a tiny runnable model.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "app/session/ablation_file.h"
#include "app/session/analyze_file.h"
#include "app/session/capture_bridge.h"
#include "app/session/edit_mask.h"
#include "app/session/exports.h"
#include "app/session/prompt_words.h"
#include "app/session/script.h"
#include "app/session/session_runner.h"
#include "app/session/settings.h"
#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/core/weights.h"
#include "tests/gui/test_model.h"
#include "tests/test_util.h"

using namespace focalscope;
using namespace focalscope::session;
namespace fs = std::filesystem;

namespace {
// The message a script text fails to parse with ("no error" when it parses), as file "t.txt".
std::string script_error(const std::string& text) {
  try {
    parse_script_text(text, "t.txt");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(PromptWords, ContentWordsInOrderOnce) {
  EXPECT_EQ(prompt_words("The yellow square becomes transparent and disappears."),
            (std::vector<std::string>{"yellow", "square", "becomes", "transparent", "disappears"}));
  EXPECT_EQ(prompt_words("A red ball, a RED box; 3 times"), (std::vector<std::string>{"red", "ball", "box", "times"}));
  EXPECT_TRUE(prompt_words("   ").empty());
}

TEST(Script, ParsesEveryVerbAndNamesBadLines) {
  auto cmds = parse_script_text(
      "# comment\nmodel default\npreset 2\nprompt a red ball rolls\nfg on\nset lambda_txt 0.7\ngenerate\nwait\n"
      "cell 3 4\nmouse 10 20\nscreenshot out dir/shot.png\n",
      "t.txt");
  ASSERT_EQ(cmds.size(), 10u);
  EXPECT_EQ(cmds[2].rest, "a red ball rolls");
  EXPECT_DOUBLE_EQ(cmds[4].number, 0.7);
  EXPECT_DOUBLE_EQ(cmds[6].number, 600);  // default wait limit
  EXPECT_EQ(cmds[9].rest, "out dir/shot.png");
  EXPECT_EQ(cmds[9].line, 11);
  EXPECT_NE(script_error("generate\nfly away\n").find("t.txt:2: unknown command 'fly'"), std::string::npos);
  EXPECT_NE(script_error("fg maybe").find("t.txt:1"), std::string::npos);
  EXPECT_NE(script_error("set tau_x 1").find("set needs"), std::string::npos);
  EXPECT_NE(script_error("steps ten").find("one number"), std::string::npos);
  EXPECT_THROW(parse_script("/nonexistent/script.txt"), Error);
}

TEST(Settings, RoundTripAndBadFilesFallBackToDefaults) {
  const std::string dir = focalscope::testing::temp_dir("settings");
  const std::string path = dir + "/settings.json";
  AppSettings s;
  s.inputs.prompt = "a blue box";
  s.inputs.seed = 7;
  s.guidance.ac = false;
  s.guidance.weak_layers = {3, 4};
  s.inputs.loras = {{"/loras/a.safetensors", 0.5}, {"/loras/b.safetensors", -1.25}};
  s.view.overlay_opacity = 0.3f;
  s.window.width = 1234;
  ASSERT_TRUE(save_settings(path, s));
  std::string warn;
  AppSettings r = load_settings(path, &warn);
  EXPECT_TRUE(warn.empty()) << warn;
  EXPECT_EQ(r.inputs, s.inputs);
  EXPECT_EQ(r.guidance, s.guidance);
  EXPECT_FLOAT_EQ(r.view.overlay_opacity, 0.3f);
  EXPECT_EQ(r.window.width, 1234);
  std::ofstream(path) << "{not json";
  r = load_settings(path, &warn);
  EXPECT_NE(warn.find("malformed"), std::string::npos);
  EXPECT_EQ(r.inputs, RunInputs{});
  EXPECT_EQ(load_settings(dir + "/missing.json").inputs, RunInputs{});
  fs::remove_all(dir);
}

// The thresholds a model calibrates have a "model default" state: auto until set, explicit once set, back to auto
// with `set X auto`; the state survives the settings file, and old files keep a value the user had moved.
TEST(Settings, ThresholdAutoAndExplicitRoundTrip) {
  GuidanceConfig g;
  EXPECT_TRUE(g.tau_sel_auto);
  EXPECT_TRUE(g.tau_cache_auto);
  std::string err;
  ASSERT_TRUE(set_guidance_param(g, "tau_cache", "0.05", &err)) << err;
  EXPECT_FALSE(g.tau_cache_auto);
  EXPECT_FLOAT_EQ(g.tau_cache, 0.05f);
  EXPECT_TRUE(g.tau_sel_auto);
  ASSERT_TRUE(set_guidance_param(g, "lambda_txt", "0.8", &err)) << err;
  EXPECT_FLOAT_EQ(g.lambda_txt, 0.8f);
  EXPECT_FALSE(set_guidance_param(g, "lambda_txt", "auto", &err));
  EXPECT_NE(err.find("only tau_sel and tau_cache"), std::string::npos) << err;
  EXPECT_FALSE(set_guidance_param(g, "tau_sel", "high", &err));
  EXPECT_NE(err.find("'high' is not a number or 'auto'"), std::string::npos) << err;
  EXPECT_FALSE(set_guidance_param(g, "tau_x", "1", &err));

  // Settings JSON: the auto flags and the explicit value come back as they were.
  const std::string dir = focalscope::testing::temp_dir("settings_tau");
  AppSettings s;
  s.guidance = g;
  ASSERT_TRUE(save_settings(dir + "/settings.json", s));
  AppSettings r = load_settings(dir + "/settings.json");
  EXPECT_EQ(r.guidance, g);
  EXPECT_FALSE(r.guidance.tau_cache_auto);
  EXPECT_TRUE(r.guidance.tau_sel_auto);
  ASSERT_TRUE(set_guidance_param(g, "tau_cache", "auto", &err)) << err;
  EXPECT_TRUE(g.tau_cache_auto);
  EXPECT_EQ(guidance_from_json(to_json(g)), g);
  // The dynamic CFG switch (KV-Lock) persists too, and turns the guided variant on by itself.
  GuidanceConfig d;
  d.fsg = d.ac = false;
  EXPECT_FALSE(d.enabled());
  d.dyncfg = true;
  d.dyncfg_raise = true;
  EXPECT_TRUE(d.enabled());
  EXPECT_EQ(guidance_from_json(to_json(d)), d);
  EXPECT_NE(d, GuidanceConfig{});
  // A file from before the auto flags: a moved threshold stays explicit, an untouched one follows the model.
  GuidanceConfig old = guidance_from_json(nlohmann::json{{"tau_sel", 0.55}, {"tau_cache", 0.2}});
  EXPECT_FALSE(old.tau_sel_auto);
  EXPECT_FLOAT_EQ(old.tau_sel, 0.55f);
  EXPECT_TRUE(old.tau_cache_auto);

  // Scripts: `set tau_cache X` / `set tau_cache auto` parse with the same rules (bad ones name the line).
  auto cmds = parse_script_text("set tau_cache 0.1\nset tau_cache auto\nset tau_sel auto\nmodel planted\n"
                                "load_ablation runs/x/ablate.json\n", "t.txt");
  ASSERT_EQ(cmds.size(), 5u);
  GuidanceConfig h;
  ASSERT_TRUE(set_guidance_param(h, cmds[0].args[0], cmds[0].args[1]));
  EXPECT_FALSE(h.tau_cache_auto);
  EXPECT_FLOAT_EQ(h.tau_cache, 0.1f);
  ASSERT_TRUE(set_guidance_param(h, cmds[1].args[0], cmds[1].args[1]));
  EXPECT_TRUE(h.tau_cache_auto);
  EXPECT_EQ(cmds[4].rest, "runs/x/ablate.json");
  EXPECT_NE(script_error("fg on\nset lambda_cache auto\n").find("t.txt:2: set lambda_cache: only tau_sel and tau_cache"), std::string::npos);
  EXPECT_NE(script_error("set tau_cache\n").find("t.txt:1: set needs"), std::string::npos);
  EXPECT_NE(script_error("load_ablation\n").find("load_ablation needs an argument"), std::string::npos);
  fs::remove_all(dir);
}

// ---- ablate.json (focalscope ablate) for the layer-curves overlay ---------------------------------------------

namespace {
nlohmann::json ablation_doc() {
  auto layer = [](int l, double m, nlohmann::json lo, double hi) {
    return nlohmann::json{{"layer", l},
                          {"n", 4},
                          {"latent_effect", {{"mean", m}, {"ci95", {lo, hi}}}},
                          {"pass_drop", {{"mean", 0.25}, {"ci95", {0.0, 0.5}}}},
                          {"agreement_drop", {{"mean", nullptr}, {"ci95", {nullptr, nullptr}}}},
                          {"pass_rate", 0.5},
                          {"moran_i", {{"median", 0.3}, {"ci95", {0.2, 0.4}}}}};
  };
  return {{"format", "focalscope.ablate/1"},
          {"units", 4},
          {"baseline", {{"pass_rate", 0.75}, {"agreement", 0.8}}},
          {"settings", {{"model_name", "gui-test"}}},
          {"spearman", {{"moran_i_vs_latent_effect", -0.5}}},
          {"layers", {layer(2, 0.1, 0.05, 0.2), layer(0, 0.4, 0.3, 0.5), layer(1, 0.2, nullptr, 0.3)}}};
}

std::string write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

std::string ablation_error(const std::string& path) {
  try {
    load_ablation(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(AblationFile, ReadsAGoodFileAndItsFolder) {
  const std::string dir = focalscope::testing::temp_dir("ablation_good");
  const std::string path = write_text(dir + "/ablate.json", ablation_doc().dump(1));
  for (const std::string& p : {path, dir}) {  // the file, or the --out folder holding it
    AblationResult r = load_ablation(p);
    EXPECT_EQ(r.path, path);
    ASSERT_EQ(r.layers.size(), 3u);
    EXPECT_EQ(r.layers[0].layer, 0);  // sorted
    EXPECT_EQ(r.max_layer(), 2);
    EXPECT_DOUBLE_EQ(r.find(0)->effect, 0.4);
    EXPECT_DOUBLE_EQ(r.find(0)->effect_lo, 0.3);
    EXPECT_DOUBLE_EQ(r.find(2)->effect_hi, 0.2);
    EXPECT_TRUE(std::isnan(r.find(1)->effect_lo));  // null: not finite when written
    EXPECT_TRUE(std::isnan(r.find(1)->agreement_drop));
    EXPECT_DOUBLE_EQ(r.find(1)->pass_drop_hi, 0.5);
    EXPECT_DOUBLE_EQ(r.find(1)->moran_median, 0.3);
    EXPECT_EQ(r.find(1)->n, 4);
    EXPECT_EQ(r.find(7), nullptr);
    EXPECT_EQ(r.units, 4);
    EXPECT_EQ(r.model_name, "gui-test");
    EXPECT_DOUBLE_EQ(r.base_pass_rate, 0.75);
    EXPECT_DOUBLE_EQ(r.spearman_latent, -0.5);
  }
  // Only what the overlay draws is required.
  auto minimal = nlohmann::json{{"format", "focalscope.ablate/1"},
                                {"layers", {{{"layer", 5}, {"latent_effect", {{"mean", 0.1}, {"ci95", {0.0, 0.2}}}}}}}};
  AblationResult m = load_ablation(write_text(dir + "/min.json", minimal.dump()));
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_TRUE(std::isnan(m.layers[0].pass_rate));
  EXPECT_TRUE(m.model_name.empty());
  fs::remove_all(dir);
}

// The comparison overlay's reader: a metrics.json of `focalscope analyze` (or its folder); its errors name the file.
TEST(AnalyzeFile, ReadsCurvesAndRefusesBadFiles) {
  const std::string dir = focalscope::testing::temp_dir("analyze_file");
  nlohmann::json j = {{"format", "focalscope.analyze/1"}, {"model", {{"variant", "shapes-mmdit-toy"}}}, {"samples_done", 30},
                      {"layers", nlohmann::json::array()}};
  for (int l = 2; l >= 0; --l)  // out of order on purpose: sorted on load
    j["layers"].push_back({{"layer", l}, {"moran_i", {{"mean", 0.1 * l}, {"median_ci95", {0.1 * l - 0.01, 0.1 * l + 0.02}}}},
                           {"std", {{"mean", 0.2 + l}}}, {"weak", l == 1}});
  std::ofstream(dir + "/metrics.json") << j.dump();
  const AnalyzeCurves c = load_analyze_curves(dir);
  EXPECT_EQ(c.model_name, "shapes-mmdit-toy");
  EXPECT_EQ(c.samples, 30);
  ASSERT_EQ(c.num_layers(), 3);
  EXPECT_DOUBLE_EQ(c.layers[2].moran, 0.2);
  EXPECT_DOUBLE_EQ(c.layers[2].moran_hi, 0.22);
  EXPECT_DOUBLE_EQ(c.layers[0].std_dev, 0.2);
  EXPECT_EQ(c.weak_layers, std::vector<int>{1});
  auto expect_error = [&](const std::string& text, const std::string& want) {
    std::ofstream(dir + "/bad.json") << text;
    try {
      load_analyze_curves(dir + "/bad.json");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir + "/bad.json"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  expect_error("{not json", "JSON");
  expect_error(R"({"format": "focalscope.ablate/1", "layers": []})", "focalscope.analyze/1");
  expect_error(R"({"format": "focalscope.analyze/1", "layers": [{"layer": 0}]})", "moran_i.mean");
  expect_error(R"({"format": "focalscope.analyze/1", "layers": [{"layer": 1, "moran_i": {"mean": 0.1}}]})", "without gaps");
  try {
    load_analyze_curves(dir + "/missing");
    ADD_FAILURE() << "a missing path loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(AblationFile, BadFilesFailWithOneLineNamingTheFile) {
  const std::string dir = focalscope::testing::temp_dir("ablation_bad");
  auto one_line = [](const std::string& m) { return m.find('\n') == std::string::npos; };

  std::string e = ablation_error(dir + "/missing.json");
  EXPECT_NE(e.find(dir + "/missing.json: no such file"), std::string::npos) << e;
  e = ablation_error(dir);  // a folder without ablate.json
  EXPECT_NE(e.find(dir + "/ablate.json: no such file"), std::string::npos) << e;
  e = ablation_error("");
  EXPECT_NE(e.find("no file given"), std::string::npos) << e;

  e = ablation_error(write_text(dir + "/broken.json", "{\"format\": \"focalscope.ablate/1\", \"layers\": [ {"));
  EXPECT_NE(e.find(dir + "/broken.json: not valid JSON"), std::string::npos) << e;
  EXPECT_TRUE(one_line(e)) << e;

  auto doc = ablation_doc();
  doc["format"] = "focalscope.bench/1";
  e = ablation_error(write_text(dir + "/wrong.json", doc.dump()));
  EXPECT_NE(e.find("wrong.json: format is 'focalscope.bench/1', expected focalscope.ablate/1"), std::string::npos) << e;
  doc.erase("format");
  e = ablation_error(write_text(dir + "/noformat.json", doc.dump()));
  EXPECT_NE(e.find("noformat.json: no \"format\""), std::string::npos) << e;
  e = ablation_error(write_text(dir + "/array.json", "[1, 2]"));
  EXPECT_NE(e.find("array.json: not a focalscope ablate result"), std::string::npos) << e;

  // Missing or mistyped fields, each named.
  struct Case {
    const char* name;
    std::function<void(nlohmann::json&)> edit;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"nolayers", [](nlohmann::json& j) { j.erase("layers"); }, "missing \"layers\""},
      {"emptylayers", [](nlohmann::json& j) { j["layers"] = nlohmann::json::array(); }, "non-empty array"},
      {"nolayer", [](nlohmann::json& j) { j["layers"][1].erase("layer"); }, "layers[1]: missing layer"},
      {"neglayer", [](nlohmann::json& j) { j["layers"][0]["layer"] = -1; }, "layers[0]: layer must be a non-negative integer"},
      {"noeffect", [](nlohmann::json& j) { j["layers"][2].erase("latent_effect"); }, "layers[2]: missing latent_effect"},
      {"nomean", [](nlohmann::json& j) { j["layers"][0]["latent_effect"].erase("mean"); }, "missing latent_effect.mean"},
      {"badci", [](nlohmann::json& j) { j["layers"][0]["latent_effect"]["ci95"] = {0.1}; }, "latent_effect.ci95 must be [lo, hi]"},
      {"strmean", [](nlohmann::json& j) { j["layers"][0]["latent_effect"]["mean"] = "big"; }, "latent_effect.mean must be a number"},
      {"badopt", [](nlohmann::json& j) { j["layers"][0]["pass_drop"] = 3; }, "pass_drop must be an object"},
      {"dup", [](nlohmann::json& j) { j["layers"][1]["layer"] = 2; }, "layer 2 appears twice"},
  };
  for (const auto& c : cases) {
    auto j = ablation_doc();
    c.edit(j);
    const std::string path = write_text(dir + "/" + c.name + ".json", j.dump());
    e = ablation_error(path);
    EXPECT_EQ(e.rfind(path, 0), 0u) << c.name << ": " << e;  // starts with the file's path
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.name << ": " << e;
    EXPECT_TRUE(one_line(e)) << e;
  }
  fs::remove_all(dir);
}

TEST(Snapshot, SampledStepsCoverFirstAndLast) {
  EXPECT_EQ(sample_steps(6, 10), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  auto s = sample_steps(25, 10);
  ASSERT_EQ(s.size(), 10u);
  EXPECT_EQ(s.front(), 0);
  EXPECT_EQ(s.back(), 24);
  EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
  EXPECT_EQ(latent_frame_of(0), 0);
  EXPECT_EQ(latent_frame_of(1), 1);
  EXPECT_EQ(latent_frame_of(4), 1);
  EXPECT_EQ(latent_frame_of(5), 2);
}

namespace {
// 8 layers x 3 steps, one keyword: smooth blob maps, except layers 3 and 4 (noise: low Moran's I).
RunSnapshot synthetic_snapshot() {
  RunSnapshot s;
  s.num_layers = 8;
  s.steps_total = 3;
  s.steps_done = 3;
  s.frames_total = 5;
  s.fps = 8;
  s.has_uncond = true;
  s.width = s.height = 64;
  s.lat_h = s.lat_w = 8;
  s.state = RunState::Done;
  s.keywords = {{"red", NAN, false, true}};
  s.capture_keywords = {0};
  s.sampled_steps = {0, 1, 2};
  std::mt19937 rng(1);
  std::normal_distribution<float> n(0, 1);
  const int F = 2, H = 8, W = 8;
  for (int st = 0; st < 3; ++st) {
    auto rec = std::make_shared<StepRecord>();
    rec->step = st;
    rec->maps.resize(1);
    for (int l = 0; l < 8; ++l) {
      std::vector<float> v(F * H * W);
      for (int f = 0; f < F; ++f)
        for (int y = 0; y < H; ++y)
          for (int x = 0; x < W; ++x) {
            const float blob = std::exp(-((x - 3.f) * (x - 3.f) + (y - 4.f) * (y - 4.f)) / 6.f);
            v[(f * H + y) * W + x] = (l == 3 || l == 4) ? n(rng) : blob + 0.05f * n(rng);
          }
      rec->maps[0].push_back(make_similarity_map(F, H, W, v, v));
    }
    s.steps.push_back(rec);
  }
  s.weak_layers = detect_weak_layers(s);
  auto frames = std::make_shared<std::vector<render::Image>>();
  for (int f = 0; f < 5; ++f) frames->push_back(render::Image(64, 64, 3, static_cast<uint8_t>(40 * f)));
  s.frames = frames;
  return s;
}
}  // namespace

TEST(Snapshot, CurvesAndWeakLayers) {
  RunSnapshot s = synthetic_snapshot();
  LayerCurves c = layer_curves(s, 0, PassKind::Cond);
  EXPECT_EQ(c.steps_used, 3);
  ASSERT_EQ(c.moran.size(), 8u);
  EXPECT_GT(c.moran[0], 0.5);
  EXPECT_LT(c.moran[3], 0.2);
  EXPECT_EQ(s.weak_layers, (std::vector<int>{3, 4}));
  LayerCurves one = layer_curves(s, 0, PassKind::Uncond, 1);
  EXPECT_EQ(one.steps_used, 1);
  EXPECT_TRUE(one.moran_lo.empty());  // no bands unless asked for
  // Bands: a 95% bootstrap interval of each layer's mean over its steps, around the same means.
  LayerCurves b = layer_curves(s, 0, PassKind::Cond, -1, 500);
  ASSERT_EQ(b.moran_lo.size(), 8u);
  ASSERT_EQ(b.std_hi.size(), 8u);
  bool some_width = false;
  for (int l = 0; l < 8; ++l) {
    EXPECT_DOUBLE_EQ(b.moran[l], c.moran[l]);
    EXPECT_LE(b.moran_lo[l], b.moran[l] + 1e-12);
    EXPECT_GE(b.moran_hi[l], b.moran[l] - 1e-12);
    EXPECT_LE(b.std_lo[l], b.std_dev[l] + 1e-12);
    EXPECT_GE(b.std_hi[l], b.std_dev[l] - 1e-12);
    some_width = some_width || b.moran_hi[l] > b.moran_lo[l];
  }
  EXPECT_TRUE(some_width);
  LayerCurves again = layer_curves(s, 0, PassKind::Cond, -1, 500);
  EXPECT_EQ(again.moran_lo, b.moran_lo);  // fixed seed: a redraw is the same band
  LayerCurves single = layer_curves(s, 0, PassKind::Cond, 2, 500);
  EXPECT_DOUBLE_EQ(single.moran_lo[0], single.moran[0]);
  EXPECT_DOUBLE_EQ(single.moran_hi[0], single.moran[0]);
  EXPECT_EQ(s.map_slot("red"), 0);
  EXPECT_EQ(s.map_slot("blue"), -1);
  EXPECT_EQ(s.map(0, 9, 0), nullptr);
}

TEST(Exports, WriteEveryFormat) {
  RunSnapshot a = synthetic_snapshot();
  RunSnapshot b = synthetic_snapshot();
  b.variant = Variant::Guided;
  // A run's hallucination metric (two steps; step 0 has no value) is exported as CSV and JSON.
  a.hallucination.window = 10;
  a.hallucination.grid = {1, 1, 2};
  a.hallucination.window_used = {1, 2};
  a.hallucination.global = {NAN, 0.25};
  a.hallucination.maps = {{}, {0.2f, 0.3f}};
  const std::string dir = focalscope::testing::temp_dir("exports");
  auto files = export_all(dir, &a, &b, "red", PassKind::Cond, render::Colormap::Viridis, 0.6f);
  EXPECT_GE(files.size(), 11u);
  {
    std::ifstream h(dir + "/baseline_hallucination.csv");
    std::stringstream text;
    text << h.rdbuf();
    EXPECT_EQ(text.str(), "step,window,sigma2_global\n0,1,\n1,2,0.25\n");
    EXPECT_TRUE(fs::exists(fs::path(dir) / "baseline_hallucination.json"));
    EXPECT_FALSE(fs::exists(fs::path(dir) / "guided_hallucination.csv"));  // that run has none
  }
  for (const char* f : {"metrics.csv", "metrics.json", "baseline_grid.png", "guided_curves.png", "baseline_map_last_step.png",
                        "baseline_frames/frame_004.png"})
    EXPECT_TRUE(fs::exists(fs::path(dir) / f)) << f;
  std::ifstream csv(dir + "/metrics.csv");
  int lines = 0;
  for (std::string l; std::getline(csv, l);) ++lines;
  EXPECT_EQ(lines, 1 + 2 /*variants*/ * 8 /*layers*/ * 3 /*steps*/ * 2 /*passes*/);
  EXPECT_THROW(export_map_png(dir + "/x.png", a, 0, 99, 0, 0, PassKind::Cond, 0.5f), Error);
  fs::remove_all(dir);
}

// ---- the worker on a real (tiny) model ----------------------------------------------------------------------

namespace {
std::string model_dir() {
  static std::string dir = [] {
    const std::string d = focalscope::testing::temp_dir("session_model") + "/model";
    focalscope::testing::write_gui_test_model(focalscope::testing::shared_fixture("wan_checkpoint_layout"), d);
    return d;
  }();
  return dir;
}

std::shared_ptr<const render::Image> test_image() {
  auto img = std::make_shared<render::Image>(64, 64, 3);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      uint8_t* p = img->at(x, y);
      p[0] = static_cast<uint8_t>(x * 4);
      p[1] = static_cast<uint8_t>(y * 4);
      p[2] = (x / 16 + y / 16) % 2 ? 200 : 30;
    }
  return img;
}

RunRequest request() {
  RunRequest r;
  r.inputs.model_dir = model_dir();
  r.inputs.prompt = "A cat walks on the grass";
  r.inputs.steps = 4;
  r.guidance.guided_words = {"cat"};  // the test model has no CLIP text tower to select keywords
  r.image = test_image();
  return r;
}

void wait_idle(SessionRunner& runner, double limit_s = 300) {
  auto t0 = std::chrono::steady_clock::now();
  while (runner.busy() || runner.finished_job() < runner.last_job()) {
    ASSERT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), limit_s) << "run did not finish";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}
}  // namespace

TEST(SessionRunner, AbRunStreamsStepsAndReusesTheBaseline) {
  SessionRunner runner;
  RunRequest req = request();
  const uint64_t job = runner.submit(req);
  // Snapshots stream in while it runs: progress only ever grows for this job.
  int last_done = -1;
  while (runner.busy()) {
    auto s = runner.snapshot(Variant::Baseline);
    if (s->job_id == job) {
      EXPECT_GE(s->steps_done, last_done);
      last_done = s->steps_done;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  wait_idle(runner);
  auto a = runner.snapshot(Variant::Baseline), b = runner.snapshot(Variant::Guided);
  ASSERT_EQ(a->state, RunState::Done) << a->error;
  ASSERT_EQ(b->state, RunState::Done) << b->error;
  EXPECT_EQ(a->steps_total, 4);
  EXPECT_EQ(a->steps.size(), 4u);  // every step sampled (4 <= 10 columns)
  EXPECT_EQ(a->num_layers, 3);
  ASSERT_TRUE(a->frames);
  EXPECT_EQ(a->frames->size(), 5u);
  EXPECT_FALSE(a->guidance.enabled());
  EXPECT_FALSE(a->guidance_applied);
  EXPECT_TRUE(b->guidance_applied);
  EXPECT_EQ(b->guidance_weak_layers, (std::vector<int>{1}));  // the model's manifest
  EXPECT_EQ(b->guided_keywords, (std::vector<std::string>{"cat"}));
  // What guidance did is reported: one stats row per weak layer; thresholds on auto ran with the engine defaults
  // (the test model has no calibration); the baseline records the thresholds its chips were scored with.
  ASSERT_EQ(b->guidance_layer_stats.size(), 1u);
  EXPECT_EQ(b->guidance_layer_stats[0].layer, 1);
  EXPECT_GT(b->guidance_layer_stats[0].ac_applications, 0);
  EXPECT_GT(b->guidance_layer_stats[0].ac_tokens_seen, 0);
  EXPECT_GT(b->guidance_layer_stats[0].fsg_applications, 0);
  EXPECT_TRUE(std::isnan(b->model_tau_cache));
  EXPECT_TRUE(b->model_planted_weak_layers.empty());
  EXPECT_FLOAT_EQ(b->guidance_ran.tau_cache, 0.2f);
  EXPECT_FLOAT_EQ(b->guidance_ran.tau_sel, 0.7f);
  EXPECT_FLOAT_EQ(a->guidance_ran.tau_sel, 0.7f);
  EXPECT_TRUE(a->guidance_noops.empty());
  ASSERT_TRUE(b->frames);
  bool differ = false;
  for (size_t f = 0; f < a->frames->size(); ++f) differ = differ || (*a->frames)[f].pixels != (*b->frames)[f].pixels;
  EXPECT_TRUE(differ) << "Focal Guidance did not change the video";
  ASSERT_FALSE(a->capture_keywords.empty());
  const SimilarityMap* m = a->map(0, 1, 3);
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->has(PassKind::Cond));
  EXPECT_TRUE(m->has(PassKind::Uncond));
  EXPECT_EQ(m->frames, a->lat_f);
  EXPECT_GT(m->cond_max, m->cond_min);

  // A guidance change re-runs only the guided side.
  req.guidance.lambda_txt = 0.9f;
  runner.submit(req);
  wait_idle(runner);
  EXPECT_EQ(runner.snapshot(Variant::Baseline)->job_id, a->job_id);
  EXPECT_GT(runner.snapshot(Variant::Guided)->job_id, b->job_id);
  EXPECT_EQ(runner.snapshot(Variant::Guided)->state, RunState::Done);
}

TEST(SessionRunner, ResubmittingCancelsTheRunInFlight) {
  SessionRunner runner;
  RunRequest req = request();
  req.inputs.steps = 40;
  const uint64_t first = runner.submit(req);
  while (runner.snapshot(Variant::Baseline)->job_id != first || runner.snapshot(Variant::Baseline)->steps_done < 1)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  req.inputs.steps = 3;
  req.inputs.seed = 5;
  const uint64_t second = runner.submit(req);
  wait_idle(runner);
  auto a = runner.snapshot(Variant::Baseline);
  EXPECT_EQ(a->job_id, second);
  EXPECT_EQ(a->state, RunState::Done);
  EXPECT_EQ(a->steps_total, 3);
}

TEST(SessionRunner, GuidanceWithoutKeywordsOnAModelWithoutClipTextFailsClearly) {
  SessionRunner runner;
  RunRequest req = request();
  req.guidance.guided_words.clear();
  req.ab = false;
  runner.submit(req);
  wait_idle(runner);
  auto b = runner.snapshot(Variant::Guided);
  EXPECT_EQ(b->state, RunState::Failed);
  EXPECT_NE(b->error.find("keyword"), std::string::npos) << b->error;
}

TEST(SessionRunner, BadInputsFailWithAMessage) {
  SessionRunner runner;
  RunRequest req = request();
  req.inputs.prompt = "   ";
  req.ab = false;
  req.guided = false;
  runner.submit(req);
  wait_idle(runner);
  auto s = runner.snapshot(Variant::Baseline);
  EXPECT_EQ(s->state, RunState::Failed);
  EXPECT_NE(s->error.find("prompt is empty"), std::string::npos) << s->error;

  req = request();
  req.image.reset();
  req.ab = false;
  req.guided = false;
  runner.submit(req);
  wait_idle(runner);
  s = runner.snapshot(Variant::Baseline);
  EXPECT_EQ(s->state, RunState::Failed);
  EXPECT_NE(s->error.find("no reference image"), std::string::npos) << s->error;

  req = request();
  req.inputs.model_dir = "/nonexistent/model";
  req.ab = false;
  req.guided = false;
  runner.submit(req);
  wait_idle(runner);
  s = runner.snapshot(Variant::Baseline);
  EXPECT_EQ(s->state, RunState::Failed);
  EXPECT_NE(s->error.find("/nonexistent/model"), std::string::npos) << s->error;
}

// The app's LoRA list: the runner merges each LoRA at load and reloads when the list or a strength changes; what
// loading said (merged / unmatched keys) reaches the snapshot; a missing file fails the run naming it.
TEST(SessionRunner, LorasAreMergedAtLoadAndTheirReportReachesTheSnapshot) {
  const TensorSet dit = load_tensor_file(model_dir() + "/dit.safetensors");
  const auto qs = dit.get("blocks.0.cross_attn.q.weight").sizes();
  const std::string lora = focalscope::testing::temp_dir("session_lora") + "/lora.safetensors";
  NamedTensors t;
  t.emplace_back("diffusion_model.blocks.0.cross_attn.q.lora_A.weight", at::full({2, qs[1]}, 0.01f));
  t.emplace_back("diffusion_model.blocks.0.cross_attn.q.lora_B.weight", at::full({qs[0], 2}, 0.01f));
  t.emplace_back("diffusion_model.blocks.99.cross_attn.q.lora_A.weight", at::full({2, qs[1]}, 0.01f));
  t.emplace_back("diffusion_model.blocks.99.cross_attn.q.lora_B.weight", at::full({qs[0], 2}, 0.01f));
  save_safetensors(lora, t, {{"format", "pt"}});
  SessionRunner runner;
  RunRequest req = request();
  req.ab = false;
  req.guided = false;
  runner.submit(req);
  wait_idle(runner);
  const auto plain = runner.snapshot(Variant::Baseline);
  ASSERT_EQ(plain->state, RunState::Done) << plain->error;
  EXPECT_TRUE(plain->model_notes.empty());
  req.inputs.loras = {{lora, 2.0}};
  runner.submit(req);
  wait_idle(runner);
  const auto merged = runner.snapshot(Variant::Baseline);
  ASSERT_EQ(merged->state, RunState::Done) << merged->error;
  ASSERT_EQ(merged->model_notes.size(), 1u);
  EXPECT_NE(merged->model_notes[0].find("blocks.99"), std::string::npos) << "the unmatched key is listed: " << merged->model_notes[0];
  EXPECT_GT(merged->seconds_load, 0.0) << "a new LoRA list reloads the model";
  req.inputs.loras = {{"/nonexistent/lora.safetensors", 1.0}};
  runner.submit(req);
  wait_idle(runner);
  const auto bad = runner.snapshot(Variant::Baseline);
  EXPECT_EQ(bad->state, RunState::Failed);
  EXPECT_NE(bad->error.find("/nonexistent/lora.safetensors"), std::string::npos) << bad->error;
  fs::remove_all(fs::path(lora).parent_path());
}

// A threshold nobody can pass makes the Attention Cache a no-op: the guided snapshot says so (the engine's line) and
// counts 0 touched tokens, instead of passing silently.
TEST(SessionRunner, GuidedSnapshotReportsNoOpsAndExplicitThresholds) {
  SessionRunner runner;
  RunRequest req = request();
  req.guidance.fsg = false;
  ASSERT_TRUE(set_guidance_param(req.guidance, "tau_cache", "1.0"));
  runner.submit(req);
  wait_idle(runner);
  auto b = runner.snapshot(Variant::Guided);
  ASSERT_EQ(b->state, RunState::Done) << b->error;
  EXPECT_FLOAT_EQ(b->guidance_ran.tau_cache, 1.0f);
  EXPECT_FALSE(b->guidance_ran.tau_cache_auto);
  ASSERT_EQ(b->guidance_layer_stats.size(), 1u);
  EXPECT_EQ(b->guidance_layer_stats[0].ac_tokens_touched, 0);
  EXPECT_GT(b->guidance_layer_stats[0].ac_tokens_seen, 0);
  ASSERT_EQ(b->guidance_noops.size(), 1u);
  EXPECT_NE(b->guidance_noops[0].find("Attention Cache kept 0 tokens"), std::string::npos) << b->guidance_noops[0];
  EXPECT_GT(b->cache_values, 0);
  EXPECT_EQ(b->cache_above, 0);
}

// A model's calibrated thresholds apply while the settings say "model default", and an explicit value overrides
// them; planted weak layers in the manifest reach the snapshot (shown only).
TEST(SessionRunner, ModelCalibrationAppliesOnAutoAndPlantedLayersAreReported) {
  const std::string dir = focalscope::testing::temp_dir("session_calibrated") + "/model";
  focalscope::testing::write_gui_test_model(focalscope::testing::shared_fixture("wan_checkpoint_layout"), dir);
  nlohmann::json m;
  std::ifstream(dir + "/focalscope.json") >> m;
  m["calibration"] = {{"tau_cache", 0.05}, {"tau_sel", 0.6}};
  m["planted_weak_layers"] = {2, 1};
  std::ofstream(dir + "/focalscope.json") << m.dump(2);

  SessionRunner runner;
  RunRequest req = request();
  req.inputs.model_dir = dir;
  runner.submit(req);
  wait_idle(runner);
  auto a = runner.snapshot(Variant::Baseline), b = runner.snapshot(Variant::Guided);
  ASSERT_EQ(b->state, RunState::Done) << b->error;
  EXPECT_EQ(a->model_planted_weak_layers, (std::vector<int>{1, 2}));
  EXPECT_DOUBLE_EQ(a->model_tau_cache, 0.05);
  EXPECT_FLOAT_EQ(a->guidance_ran.tau_sel, 0.6f);  // the chips' threshold follows the model too
  EXPECT_FLOAT_EQ(b->guidance_ran.tau_cache, 0.05f);
  EXPECT_FLOAT_EQ(b->guidance_ran.tau_sel, 0.6f);
  EXPECT_EQ(b->guidance_weak_layers, (std::vector<int>{1}));  // planted layers are never used as the weak set

  ASSERT_TRUE(set_guidance_param(req.guidance, "tau_cache", "0.3"));
  runner.submit(req);
  wait_idle(runner);
  b = runner.snapshot(Variant::Guided);
  ASSERT_EQ(b->state, RunState::Done) << b->error;
  EXPECT_FLOAT_EQ(b->guidance_ran.tau_cache, 0.3f);
  EXPECT_FLOAT_EQ(b->guidance_ran.tau_sel, 0.6f);
  fs::remove_all(fs::path(dir).parent_path());
}

// The Edit mode's painted mask (app/session/edit_mask.h): discs, strokes without gaps, clear / invert, coverage, the
// size check's one line, the union plane and the outline.
TEST(EditMask, BrushStrokesInvertCoverageSizeAndOutline) {
  using namespace focalscope::session;
  render::Mask m = blank_mask(20, 10);
  EXPECT_EQ(mask_fraction(m), 0.0);
  EXPECT_TRUE(paint_disc(m, 5, 5, 1.0f, 1));  // centres within 1 px of (5, 5): (4..5, 4..5) -> 4 pixels
  EXPECT_EQ(mask_fraction(m), 4.0 / 200);
  EXPECT_FALSE(paint_disc(m, 5, 5, 1.0f, 1)) << "painting painted pixels changes nothing";
  // A long fast stroke leaves no gap along its row.
  clear_mask(m);
  paint_stroke(m, 1.5f, 5.5f, 18.5f, 5.5f, 1.0f, 1);
  for (int x = 1; x <= 18; ++x) EXPECT_EQ(m.data[5 * 20 + x], 1) << "gap at x " << x;
  const double f = mask_fraction(m);
  invert_mask(m);
  EXPECT_NEAR(mask_fraction(m), 1 - f, 1e-12);
  EXPECT_TRUE(paint_disc(m, 10.5f, 5.5f, 0.5f, 1));
  EXPECT_TRUE(paint_disc(m, 10.5f, 5.5f, 0.5f, 0)) << "erasing";
  EXPECT_EQ(mask_size_error(m, 20, 10, "the painted mask", "src"), "");
  EXPECT_EQ(mask_size_error(m, 64, 64, "mask.png", "src.mp4"), "mask.png: is 20x10 but the video src.mp4 is 64x64");
  // A two-frame mask: the union plane holds what any frame edits; one pixel's outline is its four edges.
  render::Mask v;
  v.width = 4, v.height = 4, v.frames = 2;
  v.data.assign(32, 0);
  v.data[1 * 4 + 1] = 1;       // frame 0, (1, 1)
  v.data[16 + 2 * 4 + 2] = 1;  // frame 1, (2, 2)
  const auto plane = union_plane(v);
  EXPECT_EQ(std::count(plane.begin(), plane.end(), 1), 2);
  std::vector<uint8_t> one(16, 0);
  one[1 * 4 + 1] = 1;
  EXPECT_EQ(mask_outline(one, 4, 4).size(), 4u * 4u);  // 4 segments of 4 floats
}
