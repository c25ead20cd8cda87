// focalscope kvlock-figures: the two figures of docs/kv_lock.md, made from real runs of the embedded model —
//   edit_filmstrip.png         one shapes-edit case: source / plain edit / KV-Lock / expected, frame by frame;
//   sigma2_stable_unstable.png sigma2 inside the mask over the steps of two plain edits: the most settled and the
//                              least settled (largest sigma2 over the locked steps) of the first N cases, tau drawn.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "analysis/edit_metrics.h"
#include "analysis/shapes_checker.h"
#include "app/cli/args.h"
#include "app/cli/bench_runner.h"
#include "app/cli/command.h"
#include "app/cli/edit_bench_runner.h"
#include "app/cli/edit_inputs.h"
#include "app/cli/model_arg.h"
#include "app/cli/progress.h"
#include "engine/core/blas_check.h"
#include "engine/core/error.h"
#include "engine/guidance/guided_edit.h"
#include "engine/pipeline/kv_lock.h"
#include "render/canvas.h"
#include "render/figures.h"

namespace focalscope::cli {
namespace {

EditRequest bench_edit_request(const shapes::EditBenchCase& bc, int64_t seed, int steps) {
  EditRequest req;
  std::vector<at::Tensor> fr;
  for (const auto& f : shapes::render_annotation(bc.c.source.annotation))
    fr.push_back(at::from_blob(const_cast<uint8_t*>(f.rgb.data()), {f.h, f.w, 3}, at::kByte).permute({2, 0, 1}).to(at::kFloat).div(127.5).sub(1));
  req.source_video = at::stack(fr, 1);
  req.mask = at::from_blob(const_cast<uint8_t*>(bc.c.mask.data()), {1, bc.c.mask_h, bc.c.mask_w}, at::kByte).to(at::kFloat);
  req.source_name = bc.dir + "/source";
  req.mask_name = bc.mask_path();
  req.source_prompt = bc.c.source.prompt;
  req.gen.prompt = bc.c.instruction();
  req.gen.seed = seed;
  req.gen.steps = steps;
  return req;
}

struct Row {
  std::string label;
  std::vector<shapes::RgbFrame> frames;
};

void save_filmstrip(const std::string& path, const std::vector<Row>& rows, int scale) {
  const int w = rows[0].frames[0].w * scale, h = rows[0].frames[0].h * scale, label_w = 330, gap = 4;
  const int n = static_cast<int>(rows[0].frames.size());
  render::Canvas c(label_w + n * (w + gap), static_cast<int>(rows.size()) * (h + gap) + 30);
  for (int t = 0; t < n; ++t) c.text(label_w + t * (w + gap) + w / 2, 8, "t" + std::to_string(t), render::colors::kText, 2, render::Align::Center);
  for (size_t r = 0; r < rows.size(); ++r) {
    const int y = 30 + static_cast<int>(r) * (h + gap);
    c.text(8, y + h / 2, rows[r].label, render::colors::kText, 2, render::Align::Left, render::VAlign::Middle);
    for (int t = 0; t < n && t < static_cast<int>(rows[r].frames.size()); ++t) {
      render::Image im(rows[r].frames[t].w, rows[r].frames[t].h, 3);
      im.pixels = rows[r].frames[t].rgb;
      c.draw_image(im, label_w + t * (w + gap), y, w, h);
    }
  }
  c.save(path);
}

int run(const std::vector<std::string>& argv) {
  Args a(argv, {"case", "bench-dir", "cases", "out", "seed", "steps", "model-dir", "threads"}, {"help"});
  if (a.flag("help")) {
    std::printf(
        "usage: focalscope kvlock-figures [--case ID] [--bench-dir DIR] [--cases N] [--out DIR] [--seed K] [--steps N]\n"
        "Writes DIR/edit_filmstrip.png (case ID of the shapes-edit set, default motion_0000: source / plain edit /\n"
        "KV-Lock / expected) and DIR/sigma2_stable_unstable.png (sigma2 inside the mask over the steps of the plain\n"
        "edits of the first N cases (default 12) with the smallest and the largest sigma2 over the locked steps).\n");
    return 0;
  }
  if (a.has("threads")) set_compute_threads(static_cast<int>(a.integer("threads", 2, 1, 256)));
  const std::string out = a.str("out", "kvlock_figures");
  std::filesystem::create_directories(out);
  const int seed = static_cast<int>(a.integer("seed", 0, 0, 1000));
  const int steps = static_cast<int>(a.integer("steps", -1, 1, 1000));
  const auto cases = shapes::read_edit_bench_set(a.str("bench-dir", default_edit_bench_dir()));
  auto model = load_model_arg(a.str("model-dir"));

  // 1. The filmstrip.
  const std::string id = a.str("case", "motion_0000");
  auto it = std::find_if(cases.begin(), cases.end(), [&](const shapes::EditBenchCase& c) { return c.id == id; });
  if (it == cases.end()) fail("--case", "'" + id + "' is not in the set");
  const EditRequest req = bench_edit_request(*it, edit_case_seed(*it, seed), steps);
  std::vector<Row> rows{{"source", shapes::render_annotation(it->c.source.annotation)}};
  for (const char* mode : {"off", "kvlock"}) {
    GuidanceConfig g;
    g.set_mode(mode);
    const EditResult er = run_edit(*model, prepare_edit(*model, req, g));
    const auto frames = video_to_rgb_frames(er.guided.run.video);
    const StaticMask m = union_mask(er.mask);
    char label[96];
    std::snprintf(label, sizeof label, "%s %.1f dB %s", std::string(mode) == "off" ? "plain" : "KV-Lock",
                  analysis::background_psnr(frames, rows[0].frames, m.data, m.width, m.height),
                  analysis::check_case(frames, it->c.edited.annotation).pass ? "pass" : "fail");
    rows.push_back({label, frames});
  }
  rows.push_back({"expected", shapes::render_annotation(it->c.edited.annotation)});
  save_filmstrip(out + "/edit_filmstrip.png", rows, 2);
  std::printf("%s: %s -> %s | %s\n", id.c_str(), it->c.source.prompt.c_str(), it->c.instruction().c_str(),
              (out + "/edit_filmstrip.png").c_str());

  // 2. sigma2 of plain edits, inside the mask: the most and the least settled of the first N cases.
  const int n = std::min(static_cast<int>(a.integer("cases", 12, 2, 1000)), static_cast<int>(cases.size()));
  struct Curve {
    std::string id;
    std::vector<double> sigma2;
    double late_max;
  };
  std::vector<Curve> curves;
  int locked = 0;
  double tau = 0;
  for (int i = 0; i < n; ++i) {
    const auto& bc = cases[static_cast<size_t>(i) * cases.size() / n];  // spread over the dimensions
    EditJob job = prepare_edit(*model, bench_edit_request(bc, edit_case_seed(bc, seed), steps), GuidanceConfig{});
    job.gen.hallucination_mask = latent_mask_from_pixels(job.gen.kvlock.pixel_mask, model->vae.cfg.temporal_stride(),
                                                         model->vae.cfg.spatial_stride());
    const EditResult er = run_edit(*model, job);
    const auto& s = er.guided.run.hallucination.local;
    locked = locked_steps(KvLockConfig{}, static_cast<int>(s.size()));
    double mx = 0;
    for (size_t k = s.size() - locked; k < s.size(); ++k) mx = std::max(mx, s[k]);
    curves.push_back({bc.id, s, mx});
    tau = kvlock_tau(*model, nullptr, true);
    print_progress("[kvlock-figures] plain edits", i + 1, n, 0, 0);
  }
  end_progress();
  std::sort(curves.begin(), curves.end(), [](const Curve& x, const Curve& y) { return x.late_max < y.late_max; });
  render::LinePlotSpec p;
  p.title = "sigma2 inside the edit mask, plain edits";
  p.width = 1250;
  p.x_label = "step";
  p.y_label = "sigma2";
  const size_t steps_n = curves.front().sigma2.size();
  p.series.push_back({"settled: " + curves.front().id, {}, curves.front().sigma2, {}, {}, {}, 2.5f});
  p.series.push_back({"unsettled: " + curves.back().id, {}, curves.back().sigma2, {}, {}, {}, 2.5f});
  p.series.push_back({"tau (calibrated, local)", render::Color{120, 120, 120, 255}, std::vector<double>(steps_n, tau), {}, {}, {}, 1.5f});
  p.shaded.push_back({double(steps_n - locked) - 0.5, double(steps_n) - 0.5, {0, 0, 0, 22}, "locked steps"});
  p.x_min = 0;
  p.x_max = double(steps_n - 1);
  save_png(out + "/sigma2_stable_unstable.png", render::draw_line_plot(p));
  std::printf("settled %s (max sigma2 over the locked steps %.4f), unsettled %s (%.4f), tau %.4f | %s\n", curves.front().id.c_str(),
              curves.front().late_max, curves.back().id.c_str(), curves.back().late_max, tau,
              (out + "/sigma2_stable_unstable.png").c_str());
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("kvlock-figures", "the KV-Lock figures of docs/kv_lock.md (edit filmstrip, sigma2 of a settled and an unsettled run)", run);

}  // namespace focalscope::cli
