// A complete I2V generator: DiT + umT5 (+ tokenizer) + CLIP vision + VAE, and the sampling defaults that go
// with it. Loaded from either
//   * the official Wan2.1-I2V release layout (config.json + diffusion_pytorch_model*.safetensors[.index.json],
//     models_t5_umt5-xxl-enc-bf16.pth, Wan2.1_VAE.pth, models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth,
//     google/umt5-xxl/spiece.model), read as shipped; or
//   * a FocalScope model folder (focalscope.json manifest + safetensors), the format of the embedded model.
#pragma once
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <array>
#include <limits>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/clip/clip_text.h"
#include "engine/clip/clip_vision.h"
#include "engine/formats/lora.h"
#include "engine/models/hunyuan/hunyuan_model.h"
#include "engine/models/hunyuan/text/tiny_mllm.h"
#include "engine/models/wan/wan_model.h"
#include "engine/text/tokenizer.h"
#include "engine/text/umt5.h"
#include "engine/vae/wan_vae.h"

namespace focalscope {

struct XlmrClipText;  // engine/clip/xlmr_text.h

// Sampling defaults of a model (upstream i2v-14B 480P: unipc, 40 steps, shift 3, CFG 5, 81 frames, 16 fps).
struct SamplingDefaults {
  std::string solver = "unipc";
  int steps = 40;
  double shift = 3.0;
  double guide_scale = 5.0;
  int frames = 81;                // pixel frames, 1 + 4k
  long long max_area = 480 * 832;  // pixel area the latent size is derived from (keeps the image's aspect)
  int fps = 16;
  std::string negative_prompt;    // used when the request's negative prompt is empty
  // Wan2.2 I2V-A14B (two experts, wan/configs/wan_i2v_A14B.py): steps with timestep >= boundary * num_train_timesteps
  // run the high-noise expert with guide_scale_high, the others the low-noise expert with guide_scale
  // (sample_guide_scale = (low, high)). boundary 0 = one DiT (guide_scale_high unused); written to JSON only when set.
  double boundary = 0;
  double guide_scale_high = -1;
  int num_train_timesteps = 1000;
  nlohmann::json to_json() const;
  static SamplingDefaults from_json(const nlohmann::json& j, const std::string& where);
};

struct LoadOptions {
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dit_dtype = c10::ScalarType::Float;
  c10::ScalarType text_dtype = c10::ScalarType::Float;
  c10::ScalarType clip_dtype = c10::ScalarType::Float;
  bool check = true;  // run check_bundle after loading (off only for code that swaps a component afterwards)
  // Issue 27: LoRAs merged into the DiT at load (float32, in order; engine/formats/lora.h), and the DiT's head count
  // when the checkpoint cannot say it (single files store no config; 0 = diffusers config or dim / 128).
  std::vector<formats::LoraSpec> loras;
  int dit_heads = 0;
  // Keep the DiT blocks' quantised weights (GGUF Q8_0 / Q4_K, fp8) as codes and decode them per block while it runs
  // (formats/quantised_weight.h); a load note says what was kept, or that nothing could be.
  bool keep_quantised = false;
};

// What a model directory holds, found without loading any weights (for `info` and clear errors).
struct ModelLayout {
  std::string dir;
  std::string format;    // "wan-official" | "focalscope" | "components" (any layout, found from content: engine/formats)
                         // | "wan2.2-i2v-a14b" (high_noise_model/ + low_noise_model/, no CLIP unless one is given)
  std::string variant;   // e.g. "Wan2.1-I2V (dim 5120, 40 layers)" / the manifest's name
  std::string dit_config, dit_weights, t5_weights, clip_weights, vae_weights, tokenizer;  // resolved paths
  std::string clip_prefix;  // "visual." in the official CLIP file
  nlohmann::json manifest;  // focalscope.json (format "focalscope")
  std::string dit_diffusers_config;  // "components": diffusers transformer/config.json when present
  std::vector<std::string> reasons;  // "components": how each file was found
  // "wan2.2-i2v-a14b": dit_weights / dit_config are the low-noise expert's, these the high-noise expert's.
  // clip_weights is empty unless a CLIP was given (--clip FILE: FSG's keyword selection and anchors need one).
  std::string dit_high_weights, dit_high_config;
  // The XLM-R tokenizer of the CLIP's text tower (Eq. 6 on Wan): `--clip-tokenizer F`, else
  // `xlm-roberta-large/sentencepiece.bpe.model` beside the model folder or the CLIP file (empty: none found).
  std::string clip_tokenizer;
};
// Throws Error naming the directory and every missing file when the layout is incomplete.
// A folder without focalscope.json or the official file names is searched by content (engine/formats/model_set.h:
// diffusers pipeline folder, ComfyUI models folder, any folder holding the four components).
ModelLayout detect_model_layout(const std::string& dir);
// Wan2.2 I2V-A14B from two expert files / folders (--dit-high, --dit-low) and the shared umT5 / VAE (format
// "wan2.2-i2v-a14b", no CLIP unless clip_weights is set afterwards).
ModelLayout wan22_layout_from_files(const std::string& high, const std::string& low, const std::string& t5,
                                    const std::string& vae, const std::string& tokenizer);
// Explicit component files (--dit --t5 --clip --vae [--tokenizer]), each checked to hold its component.
ModelLayout layout_from_files(const std::string& dit, const std::string& t5, const std::string& clip, const std::string& vae,
                              const std::string& tokenizer);

struct ModelBundle {
  ModelLayout layout;
  WanModel dit;  // the one DiT; for Wan2.2 I2V-A14B the low-noise expert (the late, detail steps)
  // Wan2.2 I2V-A14B: the high-noise expert (steps with t >= boundary_timestep()); null for a one-DiT model, so every
  // single-DiT code path is unchanged. The sampler picks per step (expert_for); analysis that takes one DiT sees `dit`.
  std::shared_ptr<WanModel> dit_high;
  bool has_clip = true;  // false: no CLIP image encoder loaded (Wan2.2 without --clip); `clip` is then empty
  bool two_experts() const { return dit_high != nullptr; }
  // boundary * num_train_timesteps (upstream compares the integer timestep with it: t >= 900); -1 with one DiT.
  double boundary_timestep() const { return two_experts() ? defaults.boundary * defaults.num_train_timesteps : -1; }
  bool high_noise_step(int64_t timestep) const { return two_experts() && double(timestep) >= boundary_timestep(); }
  const WanModel& expert_for(int64_t timestep) const { return high_noise_step(timestep) ? *dit_high : dit; }
  UMT5Encoder t5;
  // The embedded MMDiT model (manifest "architecture": "hunyuan-mmdit", assets/models/shapes-mmdit): a
  // HunyuanVideo-I2V-architecture DiT and its TinyMllm text encoder take the places of `dit` and `t5` (both left
  // empty); the tokenizer, CLIP (image + text tower) and VAE serve it as they serve Wan. Null for every Wan model.
  std::shared_ptr<HunyuanModel> mmdit;
  std::shared_ptr<TinyMllm> mllm;
  double mmdit_guidance = 1.0;  // fed to guidance_in as value x 1000: the value the model was trained with
  bool is_mmdit() const { return mmdit != nullptr; }
  std::string architecture() const { return is_mmdit() ? "hunyuan-mmdit" : "wan"; }
  int num_layers() const;                 // DiT layers the probe seam numbers (MMDiT: double, then single blocks)
  std::array<int, 3> patch_size() const;  // (t, h, w) of the DiT's patch embedding
  int latent_channels() const;            // the DiT's output channels (= the VAE's z)
  // Row of the DiT's text where the prompt's first piece sits: 0 for Wan; the MMDiT's text is [image rows; prompt]
  // (TinyMllm), so keyword rows shift by its image rows there.
  int64_t text_row_offset() const;
  std::shared_ptr<WanTokenizer> tokenizer;
  int text_len = 512;  // tokenizer seq_len (= dit.cfg.text_len)
  ClipVision clip;
  int clip_blocks = -1;  // blocks run for clip_fea (Wan: all but the last)
  // CLIP text tower in the same joint space (the embedded model has one; Wan's release ships only the image tower).
  // Focal Guidance's keyword selection (Eq. 6) needs it; without it keywords must be given.
  std::optional<ClipText> clip_text;
  // The XLM-RoBERTa text tower of Wan's open-clip CLIP (`textual.*` of the release's CLIP .pth) with its tokenizer
  // (`xlm-roberta-large/sentencepiece.bpe.model`): Eq. 6 on the real Wan models. Null when either is absent.
  std::shared_ptr<const XlmrClipText> xlmr_text;
  std::vector<int> weak_layers;  // detected semantic-weak layers recorded in the manifest (may be empty)
  // Guidance thresholds calibrated on this model's own statistics (manifest "calibration", `focalscope calibrate`);
  // NaN when the model has none (the GuidanceConfig defaults apply).
  double calibrated_tau_cache = std::numeric_limits<double>::quiet_NaN();
  double calibrated_tau_sel = std::numeric_limits<double>::quiet_NaN();
  // KV-Lock's hallucination threshold on this model's latent scale (manifest "kvlock" -> "tau"); NaN: none.
  double calibrated_kvlock_tau = std::numeric_limits<double>::quiet_NaN();
  // The same for the local reading (sigma2 inside an edit mask, which runs larger than the whole latent's): manifest
  // "kvlock" -> "tau_local", from plain edits of training-range Shapes edit cases (focalscope calibrate).
  double calibrated_kvlock_tau_local = std::numeric_limits<double>::quiet_NaN();
  WanVAE vae;
  SamplingDefaults defaults;
  LoadOptions options;
  std::vector<std::string> load_notes;  // e.g. one line per LoRA merged, with its unmatched keys
};

std::unique_ptr<ModelBundle> load_model_bundle(const std::string& dir, const LoadOptions& opt = {});
std::unique_ptr<ModelBundle> load_model_bundle(const ModelLayout& layout, const LoadOptions& opt = {});
// Writes `weak` into the focalscope.json of model folder `dir` ("weak_layers", and `source` under
// "weak_layers_source"), atomically (temp file + rename). Throws Error when the folder has no manifest.
void record_weak_layers(const std::string& dir, const std::vector<int>& weak, const nlohmann::json& source);
// Writes `calibration` (thresholds + where they came from) under "calibration" in the manifest, atomically.
void record_calibration(const std::string& dir, const nlohmann::json& calibration);
// Writes `kvlock` ({"tau": ..., "source": ...}, `focalscope calibrate`) into the manifest of model folder `dir`.
void record_kvlock(const std::string& dir, const nlohmann::json& kvlock);

// Checks that the components fit together (CLIP width = DiT clip_dim, umT5 width = text_dim, ...); throws Error.
void check_bundle(const ModelBundle& b);

// Path of the embedded default model (assets/models/shapes), found next to the executable or the source tree;
// empty when absent.
std::string default_model_dir();

// The official negative prompt of wan/configs (shared_config.py, "镜头晃动，" prefixed for i2v).
const std::string& wan_i2v_negative_prompt();
// Wan2.2's (wan/configs/shared_config.py sample_neg_prompt; wan_i2v_A14B.py adds no prefix).
const std::string& wan22_negative_prompt();
// wan/configs/wan_i2v_A14B.py + shared_config.py: unipc, 40 steps, shift 5.0, sample_guide_scale (3.5, 3.5) for
// (low, high), boundary 0.900 of num_train_timesteps 1000, 81 frames at 16 fps; generate.py's default size 1280*720.
SamplingDefaults wan22_i2v_a14b_defaults();

}  // namespace focalscope
