// focalscope train: trains the embedded Shapes model stage by stage (tokenizer -> VAE -> CLIP -> DiT + umT5) into
// a training directory, with checkpoints and resume, and exports the model folder the engine loads.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/device_args.h"
#include "app/cli/guidance_args.h"
#include "app/cli/model_arg.h"
#include "app/cli/train_check.h"
#include "engine/core/error.h"
#include "engine/train/checkpoint.h"
#include "engine/train/clip_stage.h"
#include "engine/train/dit_stage.h"
#include "engine/train/export_model.h"
#include "engine/capture/capture_layout.h"
#include "engine/train/finetune_stage.h"
#include "engine/train/mmdit_stage.h"
#include "engine/train/plant_weak_stage.h"
#include "engine/train/tokenizer_stage.h"
#include "engine/train/train_loop.h"
#include "engine/train/vae_decoder_stage.h"
#include "engine/train/vae_stage.h"

namespace focalscope::cli {
namespace {

const char* kUsage =
    "usage: focalscope train --stage STAGE --out DIR [options]\n"
    "stages (each writes DIR/<stage>/: checkpoint.safetensors, loss.csv, outputs):\n"
    "  tokenizer   SentencePiece model of the Shapes prompt language (spm_train)\n"
    "  vae         the Wan VAE (WanVAE), reconstruction + tiny KL\n"
    "  vae-decoder refine the VAE's decoder with its encoder frozen, object pixels weighted (needs vae; the DiT's\n"
    "              latents stay valid, so it can run any time; export ships it)\n"
    "  clip        CLIP image tower + text tower: contrastive + word->patch grounding\n"
    "  dit         the Wan DiT (WanModel, i2v) + umT5 encoder, flow matching (needs tokenizer, vae, clip)\n"
    "  mmdit       the embedded MMDiT (HunyuanVideo-I2V architecture) + its tiny LLaVA-style text encoder, same data\n"
    "              and objective as dit (needs tokenizer, vae, clip; engine/train/mmdit_stage.h)\n"
    "  all         tokenizer, vae, vae-decoder, clip, dit in turn (a finished stage is skipped with --resume), then export\n"
    "  export-mmdit write the MMDiT model folder (--export DIR, default DIR/model-mmdit) from DIR/mmdit; its\n"
    "              tokenizer, CLIP and VAE are referenced from --base FOLDER (default: DIR's sibling 'shapes')\n"
    "  export      write the model folder (--export DIR, default DIR/model) from the latest DiT checkpoint\n"
    "  check       generate fresh training-range cases with --model-dir and run the strict checker\n"
    "options:\n"
    "  --steps N               total steps to reach (the DiT's with --stage all); default: the stage's own\n"
    "  --minutes M             stop after M minutes of this run (checkpoint first)\n"
    "  --batch B               batch size (default: the stage's own)\n"
    "  --seed S                seed of everything (default 1)\n"
    "  --resume                continue from DIR/<stage>/checkpoint.safetensors\n"
    "  --threads N             CPU threads (ATen and OpenBLAS); 1 is fastest on a busy 2-core machine\n"
    "  --device cpu|cuda       where to train (default cpu)\n"
    "  --checkpoint-minutes M  checkpoint cadence (default 5)\n"
    "  --lr-cooldown N         dit / mmdit / all: the DiT's learning rate falls linearly to 0 over the last N steps before --steps\n"
    "  --teacher DIR           mmdit: distil from the Wan model folder DIR, whose tokenizer, CLIP and VAE encoder must be\n"
    "                          the --out directory's (e.g. assets/models/shapes): the target is the teacher's velocity\n"
    "  --teacher-share X       mmdit with --teacher: target = X teacher + (1 - X) (eps - x0), X in (0, 1] (default 1)\n"
    "  --export DIR            after training, export the model folder to DIR\n"
    "fine-tune (Focal Guidance post-training; engine/train/finetune_stage.h):\n"
    "  focalscope train --finetune weak-layers --out DIR [--model-dir M] [--guidance fg|off] [--weak-layers L]\n"
    "                   [--steps N] [--lr X] [--batch B] [--export DIR] [guidance flags]\n"
    "    trains only the weak layers' cross-attention of model M (default: the embedded model) with Focal Guidance\n"
    "    attached (or not, with --guidance off), exports DIR/finetune/model (or --export)\n"
    "  focalscope train --finetune plant-weak --weak-layers L1,L2,... --out DIR [--model-dir BASE] [--steps N]\n"
    "                   [--seed S] [--batch B] [--lr X] [--export DIR] [--plant-context shuffled|empty] [--keep-text-kv]\n"
    "                   [--reinit-lr-mult X]\n"
    "    plants semantic-weak layers (ground truth for validate-detector; engine/train/plant_weak_stage.h): the whole\n"
    "    DiT of BASE (default: the embedded model) is fine-tuned while the listed layers' text cross-attention sees\n"
    "    other clips' prompts; exports DIR/plant_weak/model (or --export), which refers to BASE's other files\n"
    "check options: --model-dir DIR --cases N (per dimension, default 10) --sample-steps N --cfg X --no-floor --frames-dir DIR\n";

std::string now_utc() {
  char buf[64];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string machine_summary() {
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  return cpu + ", " + std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " cores";
}

bool stage_finished(const std::string& ckpt, int64_t target, const std::string& output) {
  namespace fs = std::filesystem;
  if (!fs::exists(output)) return false;
  auto ck = train::read_checkpoint(ckpt);
  return ck && ck->step >= target;
}

// The flags every training run shares (output folder, schedule, batch, seed, resume, checkpoints, device).
// max_steps / min_batch: the bounds the run accepts.
train::StageOptions stage_options_from_args(const Args& a, int64_t max_steps, int min_batch) {
  train::StageOptions opt;
  opt.out_dir = a.required("out");
  opt.steps = a.integer("steps", 0, 1, max_steps);
  opt.minutes = a.number("minutes", 0, 0, 1e7);
  opt.batch = static_cast<int>(a.integer("batch", 0, min_batch, 4096));
  opt.seed = static_cast<uint64_t>(a.integer("seed", 1, 0, (1LL << 62)));
  opt.resume = a.flag("resume");
  opt.checkpoint_minutes = a.number("checkpoint-minutes", 5, 0.01, 1e6);
  opt.device = parse_device_flag(a.str("device", "cpu"));
  return opt;
}

// --finetune plant-weak: planted semantic-weak layers (engine/train/plant_weak_stage.h).
int run_plant_weak(const Args& a, const std::vector<std::string>& argv) {
  if (a.has("threads")) train::set_compute_threads(static_cast<int>(a.integer("threads", 1, 1, 256)));
  train::PlantWeakConfig cfg;
  cfg.model_dir = resolve_model_dir(a.str("model-dir"));
  cfg.layers = parse_index_list(a.required("weak-layers"), 4096, "--weak-layers");
  if (cfg.layers.empty()) fail("--weak-layers", "give the layers to plant (e.g. 6,7,8), not 'all'");
  cfg.lr = a.number("lr", cfg.lr, 1e-9, 1.0);
  cfg.export_dir = a.str("export");
  cfg.context = a.str("plant-context", cfg.context);
  cfg.reinit = !a.flag("keep-text-kv");
  cfg.reinit_lr_mult = a.number("reinit-lr-mult", cfg.reinit_lr_mult, 0, 1000);
  std::string command = "focalscope train";
  for (const auto& s : argv) command += " " + s;
  cfg.provenance = {{"command", command}, {"machine", machine_summary()}, {"exported_at", now_utc()}};
  const train::StageOptions opt = stage_options_from_args(a, 1000000, 2);  // a shuffled batch needs 2 clips
  for (const char* g : {"guidance", "guidance-config", "keywords", "tau-sel", "tau-region", "tau-cache", "lambda-txt",
                        "lambda-lat", "lambda-cache", "cache-source"})
    if (a.has(g)) fail(std::string("--") + g, "does not apply to --finetune plant-weak");
  std::filesystem::create_directories(opt.out_dir);
  const train::StageResult r = train::plant_weak_layers(opt, cfg);
  // A resumed run that had nothing left to train has no loss to show (it only exports).
  const std::string loss = r.losses.empty() ? "no step trained" : "last loss " + std::to_string(r.losses.back());
  std::printf("[plant-weak] steps %lld -> %lld in %s, %.2f samples/s, %s | %s\n",
              static_cast<long long>(r.first_step), static_cast<long long>(r.steps_done),
              train::format_duration(r.seconds).c_str(), r.samples_per_s, loss.c_str(), r.summary.c_str());
  return 0;
}

// --finetune weak-layers: post-training of the weak layers' cross-attention (engine/train/finetune_stage.h).
int run_finetune(const Args& a, const std::vector<std::string>& argv) {
  if (a.str("finetune") == "plant-weak") return run_plant_weak(a, argv);
  if (a.str("finetune") != "weak-layers")
    fail("--finetune", "'" + a.str("finetune") + "' is not weak-layers or plant-weak");
  if (a.has("threads")) train::set_compute_threads(static_cast<int>(a.integer("threads", 1, 1, 256)));
  train::FinetuneConfig cfg;
  cfg.model_dir = resolve_model_dir(a.str("model-dir"));
  cfg.guidance = guidance_from_args(a);
  cfg.lr = a.number("lr", cfg.lr, 1e-9, 1.0);
  cfg.export_dir = a.str("export");
  const train::StageOptions opt = stage_options_from_args(a, 1LL << 40, 1);
  std::filesystem::create_directories(opt.out_dir);
  const train::StageResult r = train::finetune_weak_layers(opt, cfg);
  std::printf("[finetune] steps %lld -> %lld in %s, last loss %.4f | %s\n", static_cast<long long>(r.first_step),
              static_cast<long long>(r.steps_done), train::format_duration(r.seconds).c_str(),
              r.losses.empty() ? NAN : r.losses.back(), r.summary.c_str());
  return 0;
}

int run(const std::vector<std::string>& argv) {
  std::set<std::string> value_opts = {"stage", "out", "steps", "minutes", "batch", "seed", "threads", "device",
                                      "checkpoint-minutes", "export", "model-dir", "cases", "sample-steps", "cfg",
                                      "frames-dir", "finetune", "base", "lr", "lr-cooldown", "plant-context", "reinit-lr-mult",
                                      "teacher", "teacher-share"};
  value_opts.insert(guidance_value_options().begin(), guidance_value_options().end());
  Args a(argv, value_opts, {"help", "resume", "no-floor", "keep-text-kv"});
  if (a.flag("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  // Checked before any mode returns, so that --finetune and --stage check/vae/... reject it instead of ignoring it.
  if (a.has("lr-cooldown") && (a.has("finetune") || (a.has("stage") && a.str("stage") != "dit" && a.str("stage") != "mmdit" && a.str("stage") != "all")))
    fail("--lr-cooldown", "applies to the DiTs only (--stage dit, mmdit or all), not " +
                              (a.has("finetune") ? std::string("--finetune") : "'" + a.str("stage") + "'"));
  for (const char* t : {"teacher", "teacher-share"})
    if (a.has(t) && a.str("stage") != "mmdit") fail(std::string("--") + t, "applies to --stage mmdit only");
  if (a.has("teacher-share") && !a.has("teacher")) fail("--teacher-share", "needs --teacher DIR");
  if (a.has("finetune")) return run_finetune(a, argv);
  const std::string stage = a.required("stage");
  if (a.has("threads")) train::set_compute_threads(static_cast<int>(a.integer("threads", 1, 1, 256)));
  const uint64_t seed = static_cast<uint64_t>(a.integer("seed", 1, 0, (1LL << 62)));

  if (stage == "check") {
    TrainCheckOptions c;
    c.model_dir = a.required("model-dir");
    c.cases_per_dimension = static_cast<int>(a.integer("cases", 10, 1, 10000));
    c.seed = seed;
    c.steps = static_cast<int>(a.integer("sample-steps", -1, 1, 1000));
    c.cfg = a.number("cfg", -1, 0, 50);
    c.floor = !a.flag("no-floor");
    c.frames_dir = a.str("frames-dir");
    std::printf("%s\n", run_train_check(c).c_str());
    return 0;
  }

  train::StageOptions opt = stage_options_from_args(a, 1LL << 40, 1);  // its seed is `seed`, parsed the same way
  if (a.has("lr-cooldown")) {
    opt.lr_cooldown = a.integer("lr-cooldown", 0, 1, (1LL << 40));
    if (opt.steps > 0 && opt.lr_cooldown > opt.steps)
      fail("--lr-cooldown", std::to_string(opt.lr_cooldown) + " steps is longer than --steps " + std::to_string(opt.steps));
  }
  std::filesystem::create_directories(opt.out_dir);

  // Provenance for the manifest and assets/README.md.
  std::string command = "focalscope train";
  for (const auto& s : argv) command += " " + s;
  const auto t0 = std::chrono::steady_clock::now();
  auto wall = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  auto log_result = [&](const std::string& name, const train::StageResult& r) {
    std::printf("[%s] steps %lld -> %lld in %s, %.2f samples/s, last loss %.4f%s%s\n", name.c_str(),
                static_cast<long long>(r.first_step), static_cast<long long>(r.steps_done),
                train::format_duration(r.seconds).c_str(), r.samples_per_s, r.losses.empty() ? NAN : r.losses.back(),
                r.summary.empty() ? "" : " | ", r.summary.c_str());
    std::fflush(stdout);
  };
  const bool all = stage == "all";
  // In `all`, --steps / --minutes / --batch are the DiT's; the other stages use their defaults.
  train::StageOptions fixed = opt;
  if (all) fixed.steps = 0, fixed.minutes = 0, fixed.batch = 0, fixed.lr_cooldown = 0;
  const std::string out = opt.out_dir;

  if (stage == "tokenizer" || all) {
    if (!(all && opt.resume && std::filesystem::exists(train::tokenizer_output_path(out))))
      train::train_tokenizer(fixed);
  }
  if (stage == "vae" || all) {
    const auto cfg = train::VaeTrainConfig::embedded();
    if (all && opt.resume && stage_finished(out + "/vae/checkpoint.safetensors", cfg.steps, train::vae_output_path(out)))
      std::printf("[vae] finished earlier, skipped\n");
    else
      log_result("vae", train::train_vae(all ? fixed : opt, cfg));
  }
  if (stage == "vae-decoder" || all) {
    const auto cfg = train::VaeDecoderTrainConfig::embedded();
    if (all && opt.resume && stage_finished(out + "/vae_decoder/checkpoint.safetensors", cfg.steps, train::vae_decoder_output_path(out)))
      std::printf("[vae_decoder] finished earlier, skipped\n");
    else
      log_result("vae_decoder", train::train_vae_decoder(all ? fixed : opt, cfg));
  }
  if (stage == "clip" || all) {
    const auto cfg = train::ClipTrainConfig::embedded();
    if (all && opt.resume && stage_finished(out + "/clip/checkpoint.safetensors", cfg.steps, train::clip_output_path(out)))
      std::printf("[clip] finished earlier, skipped\n");
    else
      log_result("clip", train::train_clip(all ? fixed : opt, cfg, train::tokenizer_output_path(out)));
  }
  if (stage == "dit" || all) log_result("dit", train::train_dit(opt, train::DitTrainConfig::embedded()));
  if (stage == "mmdit") {
    train::MmditTrainConfig cfg = train::MmditTrainConfig::embedded();
    if (a.has("teacher")) cfg.teacher_dir = resolve_model_dir(a.str("teacher"));
    cfg.teacher_share = a.number("teacher-share", cfg.teacher_share, 1e-6, 1.0);
    log_result("mmdit", train::train_mmdit(opt, cfg));
  }
  if (stage == "export-mmdit") {
    train::ExportOptions e;
    e.train_dir = out;
    e.model_dir = a.str("export", out + "/model-mmdit");
    e.name = "shapes-mmdit-toy";
    e.provenance = {{"command", command}, {"machine", machine_summary()}, {"exported_at", now_utc()}};
    const std::string base = a.str("base", (std::filesystem::path(e.model_dir).parent_path() / "shapes").string());
    train::export_mmdit_model(e, base);
    std::printf("exported %s (tokenizer, CLIP and VAE from %s)\n", e.model_dir.c_str(), base.c_str());
    return 0;
  }
  if (!all && stage != "tokenizer" && stage != "vae" && stage != "vae-decoder" && stage != "clip" && stage != "dit" &&
      stage != "mmdit" && stage != "export")
    fail("--stage", "'" + stage + "' is not tokenizer, vae, vae-decoder, clip, dit, mmdit, all, export, export-mmdit or check");

  if (stage == "export" || all || a.has("export")) {
    train::ExportOptions e;
    e.train_dir = out;
    e.model_dir = a.str("export", out + "/model");
    e.provenance = {{"command", command}, {"machine", machine_summary()}, {"exported_at", now_utc()},
                    {"this_run_wall_s", wall()}};
    train::export_model(e);
    std::printf("exported %s\n", e.model_dir.c_str());
  }
  return 0;
}

}  // namespace

FOCALSCOPE_COMMAND("train", "train the embedded Shapes model (tokenizer, VAE, CLIP, DiT + umT5) and export it", run);

}  // namespace focalscope::cli
