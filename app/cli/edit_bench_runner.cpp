#include "app/cli/edit_bench_runner.h"

#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "analysis/edit_metrics.h"
#include "analysis/shapes_checker.h"
#include "app/cli/bench_runner.h"
#include "app/cli/edit_inputs.h"
#include "engine/core/error.h"
#include "engine/guidance/guided_edit.h"
#include "render/image.h"

namespace focalscope {
namespace fs = std::filesystem;

std::string default_edit_bench_dir() {
  const fs::path shapes = default_bench_dir();  // .../bench/shapes
  const fs::path p = shapes.parent_path() / "shapes-edit";
  return fs::exists(p / "index.json") ? p.string() : std::string("assets/bench/shapes-edit");
}

int64_t edit_case_seed(const shapes::EditBenchCase& bc, int k) { return static_cast<int64_t>(bc.c.seed % 1000003) * 7 + k; }

std::vector<EditBenchSetting> edit_bench_settings(const std::vector<std::string>& modes, const GuidanceConfig& base,
                                                  bool ceiling, bool source) {
  std::vector<EditBenchSetting> out;
  for (const auto& mode : modes) {
    EditBenchSetting s;
    s.guidance = base;
    s.guidance.set_mode(mode);
    s.mode = s.guidance.mode();
    s.name = s.mode == "off" ? "plain edit" : s.mode == "kvlock" ? "KV-Lock (full)" : s.mode;
    for (const auto& o : out)
      if (o.mode == s.mode) fail("--guidance", "'" + mode + "' is listed twice");
    out.push_back(s);
  }
  if (ceiling) {
    EditBenchSetting c;
    c.name = "ground truth through the VAE (ceiling)";
    c.mode = "ceiling";
    c.kind = EditBenchSetting::Kind::VaeCeiling;
    out.push_back(c);
  }
  if (source) {
    EditBenchSetting s;
    s.name = "source, unedited (bg upper bound, fg floor)";
    s.mode = "source";
    s.kind = EditBenchSetting::Kind::Source;
    out.push_back(s);
  }
  return out;
}

namespace {
at::Tensor frames_to_video(const std::vector<shapes::RgbFrame>& frames) {  // -> [3, F, H, W] in [-1, 1]
  std::vector<at::Tensor> ts;
  for (const auto& f : frames)
    ts.push_back(at::from_blob(const_cast<uint8_t*>(f.rgb.data()), {f.h, f.w, 3}, at::kByte).permute({2, 0, 1}).to(at::kFloat).div(127.5).sub(1.0));
  return at::stack(ts, 1);
}

void save_pair_strip(const std::string& path, const std::vector<shapes::RgbFrame>& top, const std::vector<shapes::RgbFrame>& bottom) {
  const int w = top.front().w, h = top.front().h;
  render::Image strip(static_cast<int>(top.size()) * w, 2 * h, 3, 0);
  for (size_t i = 0; i < top.size(); ++i)
    for (int row = 0; row < 2; ++row) {
      const auto& f = row == 0 ? top[i] : bottom[std::min(i, bottom.size() - 1)];
      render::Image im(f.w, f.h, 3);
      im.pixels = f.rgb;
      render::blit(strip, im, static_cast<int>(i) * w, row * h);
    }
  render::save_png(path, strip);
}
}  // namespace

analysis::EditRow run_edit_setting(const ModelBundle& m, const std::vector<shapes::EditBenchCase>& cases,
                                   const EditBenchSetting& setting, const EditBenchOptions& opt) {
  analysis::EditRow row;
  row.name = setting.name;
  row.mode = setting.mode;
  const bool deterministic = setting.kind != EditBenchSetting::Kind::Edit;
  std::map<std::string, std::pair<int, std::string>> noop_counts;
  int runs = 0;
  for (int seed = 0; seed < opt.seeds; ++seed) {
    std::vector<analysis::EditCaseScore> scores;
    for (const auto& bc : cases) {
      analysis::EditCaseScore cs;
      cs.dimension = shapes::dimension_name(bc.c.dim);
      cs.case_id = bc.id;
      const auto source_frames = shapes::render_annotation(bc.c.source.annotation);
      std::vector<shapes::RgbFrame> frames, reference = source_frames;
      std::vector<uint8_t> mask = bc.c.mask;
      int mw = bc.c.mask_w, mh = bc.c.mask_h;
      if (deterministic && seed > 0) {  // the reference rows do not depend on the noise: repeat seed 0's scores
        cs = row.seeds[0][scores.size()];
        scores.push_back(cs);
        if (opt.on_case) opt.on_case(setting.name, seed, static_cast<int>(scores.size()), static_cast<int>(cases.size()), cs);
        continue;
      }
      if (setting.kind == EditBenchSetting::Kind::Source) {
        frames = source_frames;
      } else if (setting.kind == EditBenchSetting::Kind::VaeCeiling) {
        c10::InferenceMode im;
        at::Tensor v = frames_to_video(shapes::render_annotation(bc.c.edited.annotation)).unsqueeze(0).to(m.options.device);
        frames = video_to_rgb_frames(m.vae.decode(m.vae.encode(v))[0].to(at::kCPU));
      } else {
        c10::InferenceMode im;
        EditRequest req;
        req.source_video = frames_to_video(source_frames);
        at::Tensor mk = at::empty({1, mh, mw}, at::kByte);
        std::memcpy(mk.data_ptr<uint8_t>(), mask.data(), mask.size());
        req.mask = mk.to(at::kFloat);
        req.source_name = bc.dir + "/source";
        req.mask_name = bc.mask_path();
        req.source_prompt = bc.c.source.prompt;
        req.gen.prompt = bc.c.instruction();
        req.gen.seed = edit_case_seed(bc, seed);
        req.gen.steps = opt.steps;
        req.gen.guide_scale = opt.cfg;
        req.gen.frames = static_cast<int>(source_frames.size());
        const EditResult er = run_edit(m, prepare_edit(m, req, setting.guidance));
        ++runs;
        for (const auto& n : er.noops) {
          auto& e = noop_counts[n.substr(0, n.find(':'))];
          ++e.first;
          e.second = n;
        }
        frames = video_to_rgb_frames(er.guided.run.video);
        reference = video_to_rgb_frames(er.source);  // the source at the model's output size
        const cli::StaticMask u = cli::union_mask(er.mask);
        mask = u.data;
        for (auto& b : mask) b = b ? 255 : 0;
        mw = u.width, mh = u.height;
      }
      const analysis::CaseVerdict v = analysis::check_case(frames, bc.c.edited.annotation);
      cs.fg_pass = v.pass;
      if (!v.pass) cs.failures = v.failures();
      cs.bg_psnr = analysis::background_psnr(frames, reference, mask, mw, mh);
      cs.bg_ssim = analysis::background_ssim(frames, reference, mask, mw, mh);
      if (!opt.strips_dir.empty()) {
        std::string slug;
        for (char c : setting.mode) slug += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
        const fs::path dir = fs::path(opt.strips_dir) / slug;
        fs::create_directories(dir);
        save_pair_strip((dir / (bc.id + "_seed" + std::to_string(seed) + ".png")).string(), reference, frames);
      }
      scores.push_back(cs);
      if (opt.on_case) opt.on_case(setting.name, seed, static_cast<int>(scores.size()), static_cast<int>(cases.size()), cs);
    }
    row.seeds.push_back(std::move(scores));
  }
  for (const auto& [kind, e] : noop_counts)
    std::fprintf(stderr, "warning: %s: %s in %d of %d runs (last: %s)\n", setting.name.c_str(), kind.c_str(), e.first, runs,
                 e.second.c_str());
  return row;
}

}  // namespace focalscope
