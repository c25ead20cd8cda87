#include "app/cli/bench_runner.h"

#include <c10/core/InferenceMode.h>

#include <cctype>
#include <cstdio>
#include <map>
#include <filesystem>

#include "analysis/shapes_checker.h"
#include "analysis/vbench_consistency.h"
#include "app/cli/media.h"
#include "engine/core/error.h"
#include "engine/guidance/guided_generate.h"
#include "engine/shapes/shapes_world.h"

namespace focalscope {
namespace fs = std::filesystem;

std::string default_bench_dir() {
  const std::string m = default_model_dir();
  if (!m.empty()) {
    fs::path p = fs::path(m).parent_path().parent_path() / "bench" / "shapes";  // assets/models/shapes -> assets/bench/shapes
    if (fs::exists(p / "index.json")) return p.string();
  }
  return "assets/bench/shapes";
}

std::vector<shapes::BenchCase> select_bench_cases(const std::string& bench_dir, const std::string& dimension, int limit,
                                                  std::map<std::string, int>* per_dim) {
  std::map<std::string, int> counts;
  if (!dimension.empty()) shapes::parse_dimension(dimension);  // validates the name
  std::vector<shapes::BenchCase> cases;
  for (const auto& c : shapes::read_bench_set(bench_dir.empty() ? default_bench_dir() : bench_dir)) {
    const std::string d = shapes::dimension_name(c.c.dim);
    if (!dimension.empty() && d != dimension) continue;
    if (limit > 0 && counts[d] >= limit) continue;
    counts[d]++;
    cases.push_back(c);
  }
  if (cases.empty()) fail("--dimension", "no benchmark cases selected");
  if (per_dim) *per_dim = counts;
  return cases;
}

int64_t bench_case_seed(const shapes::BenchCase& bc, int k) {
  return static_cast<int64_t>(bc.c.seed % 1000003) * 7 + k;
}

std::vector<shapes::RgbFrame> video_to_rgb_frames(const at::Tensor& video) {
  std::vector<shapes::RgbFrame> out;
  for (const auto& img : video_to_images(video)) {
    shapes::RgbFrame f(img.width, img.height);
    f.rgb = img.pixels;
    out.push_back(std::move(f));
  }
  return out;
}

namespace {
at::Tensor frames_tensor(const std::vector<shapes::RgbFrame>& frames) {
  std::vector<at::Tensor> ts;
  for (const auto& f : frames) {
    at::Tensor t = at::from_blob(const_cast<uint8_t*>(f.rgb.data()), {f.h, f.w, 3}, at::kByte).clone();
    ts.push_back(t.permute({2, 0, 1}).to(at::kFloat).div(127.5).sub(1.0));
  }
  return at::stack(ts);  // [F, 3, H, W]
}
std::vector<std::vector<float>> embed(const ModelBundle& m, const std::vector<shapes::RgbFrame>& frames) {
  at::Tensor px = m.clip.preprocess(frames_tensor(frames).to(m.clip.patch_w.device()));
  at::Tensor e = m.clip.image_embedding(px.to(m.clip.patch_w.scalar_type())).to(at::kCPU, at::kFloat).contiguous();
  std::vector<std::vector<float>> out;
  for (int64_t i = 0; i < e.size(0); ++i) out.emplace_back(e[i].data_ptr<float>(), e[i].data_ptr<float>() + e.size(1));
  return out;
}
std::vector<shapes::RgbFrame> generate_frames(const ModelBundle& m, const shapes::BenchCase& bc,
                                              const BenchSetting& setting, const BenchOptions& opt, int seed,
                                              std::vector<std::string>* noops) {
  GenerateRequest req;
  req.image = load_image_tensor(bc.ref_path);
  req.prompt = setting.empty_prompt ? std::string() : bc.c.prompt;
  req.allow_empty_prompt = setting.empty_prompt;
  req.seed = bench_case_seed(bc, seed);
  req.steps = opt.steps;
  req.guide_scale = opt.cfg;
  req.frames = bc.c.annotation.value("frames", -1);
  GuidedResult r = generate_guided(m, req, setting.guidance);
  if (noops) *noops = r.noops;
  return video_to_rgb_frames(r.run.video);
}

std::vector<shapes::RgbFrame> vae_round_trip(const ModelBundle& m, const std::vector<shapes::RgbFrame>& frames) {
  c10::InferenceMode im;
  const auto dev = m.clip.patch_w.device();
  at::Tensor video = frames_tensor(frames).permute({1, 0, 2, 3}).unsqueeze(0).to(dev);  // [1, 3, F, H, W]
  return video_to_rgb_frames(m.vae.decode(m.vae.encode(video))[0].to(at::kCPU));
}

// "VAE ceiling (ground truth)" -> "vae_ceiling_ground_truth": a folder name from a row name.
std::string slug(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '_') out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "setting" : out;
}

void save_strip(const std::string& path, const std::vector<shapes::RgbFrame>& frames) {
  const int scale = 2, w = frames.front().w, h = frames.front().h;
  render::Image strip(static_cast<int>(frames.size()) * w * scale, h * scale, 3, 0);
  for (size_t i = 0; i < frames.size(); ++i) {
    render::Image f(w, h, 3);
    f.pixels = frames[i].rgb;
    render::blit(strip, render::resize_nearest(f, w * scale, h * scale), static_cast<int>(i) * w * scale, 0);
  }
  render::save_png(path, strip);
}
}  // namespace

std::pair<double, double> i2v_consistency(const ModelBundle& m, const std::vector<shapes::RgbFrame>& frames) {
  c10::InferenceMode guard;
  auto f = embed(m, frames);
  std::vector<std::vector<float>> rest(f.begin() + 1, f.end());
  const double subject = analysis::vbench_consistency(f[0], rest).score;
  auto masks = analysis::object_masks(frames);
  std::vector<shapes::RgbFrame> bg;
  for (size_t i = 0; i < frames.size(); ++i) bg.push_back(analysis::mask_objects(frames[i], masks[i], frames[0]));
  auto b = embed(m, bg);
  std::vector<std::vector<float>> brest(b.begin() + 1, b.end());
  const double background = analysis::vbench_consistency(b[0], brest).score;
  return {subject, background};
}

analysis::RowStats run_bench_setting(const ModelBundle& m, const std::vector<shapes::BenchCase>& cases,
                                     const BenchSetting& setting, const BenchOptions& opt,
                                     std::vector<std::vector<analysis::CaseScore>>* per_seed) {
  analysis::RowStats row;
  row.name = setting.name;
  const int seeds = setting.vae_ceiling ? 1 : opt.seeds;
  // Switched-on guidance that did nothing, counted per kind of no-op (the text before its first ':').
  std::map<std::string, std::pair<int, std::string>> noop_counts;
  int runs = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    std::vector<analysis::CaseScore> scores;
    int done = 0;
    for (const auto& bc : cases) {
      std::vector<shapes::RgbFrame> frames;
      if (setting.vae_ceiling) {
        frames = vae_round_trip(m, shapes::render_annotation(bc.c.annotation));
      } else {
        std::vector<std::string> noops;
        frames = generate_frames(m, bc, setting, opt, seed, &noops);
        ++runs;
        for (const auto& n : noops) {
          auto& e = noop_counts[n.substr(0, n.find(':'))];
          ++e.first;
          e.second = n;
        }
      }
      if (!opt.strips_dir.empty()) {
        const fs::path dir = fs::path(opt.strips_dir) / slug(setting.name);
        fs::create_directories(dir);
        save_strip((dir / (bc.id + "_seed" + std::to_string(seed) + ".png")).string(), frames);
      }
      analysis::CaseScore cs;
      cs.dimension = shapes::dimension_name(bc.c.dim);
      cs.case_id = bc.id;
      const analysis::CaseVerdict verdict = analysis::check_case(frames, bc.c.annotation);
      cs.pass = verdict.pass;
      if (!verdict.pass) cs.failures = verdict.failures();
      auto [subj, bg] = i2v_consistency(m, frames);
      cs.subject = subj;
      cs.background = bg;
      scores.push_back(cs);
      ++done;
      if (opt.on_case) opt.on_case(setting.name, seed, done, static_cast<int>(cases.size()), cs);
    }
    row.seeds.push_back(analysis::score_seed(scores));
    if (per_seed) per_seed->push_back(std::move(scores));
  }
  for (const auto& [kind, e] : noop_counts)
    std::fprintf(stderr, "warning: %s: %s in %d of %d runs (last: %s)\n", setting.name.c_str(), kind.c_str(), e.first,
                 runs, e.second.c_str());
  return row;
}

}  // namespace focalscope
