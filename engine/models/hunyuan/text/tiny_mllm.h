// The text encoder of the embedded MMDiT model (assets/models/shapes-mmdit): a LLaVA-style MLLM at toy size, built
// the way HunyuanVideo-I2V's text side is (hunyuan_text_encoders.h), so the DiT sees the same kind of input:
//
//   image rows = projector(CLIP vision patch tokens of the reference, penultimate block, class token dropped,
//                every `image_stride`-th patch kept)            (LLaVA: linear_1 -> GELU -> linear_2)
//   prompt rows = embed_tokens(SentencePiece ids of the prompt + EOS, padded to text_len)
//   states = Llama decoder over [image rows; prompt rows] (causal, key padding mask), the output of its last layer
//            without the final norm                             (the release: hidden_states[-3], also un-normed)
//   mask   = [ones(image rows); prompt mask]                   (a prefix of ones, as the DiT's varlen attention needs)
//   pooled = the frozen toy CLIP text tower's EOS token after its final LayerNorm (CLIP-L's pooler_output)
//
// Choices where the toy differs from the release, and why (docs/architectures.md "The embedded MMDiT model"):
// the Shapes SentencePiece tokenizer instead of Llama-3's BPE (one vocabulary for both toys, 210 pieces); no chat
// template (no system prompt to crop); every decoder layer feeds the DiT (a 2-layer decoder has no layers to spare;
// the release drops its last two); image rows first, so the visual-context rows are [0, image_rows).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/core/fixture.h"  // NamedTensors
#include "engine/core/weights.h"
#include "engine/models/hunyuan/text/llama.h"

namespace focalscope {

struct ClipVision;
struct ClipText;
class TensorSet;

struct TinyMllmConfig {
  LlamaConfig llama;      // vocab_size = the tokenizer's
  int64_t text_len = 32;  // prompt rows (pieces + EOS, right-padded)
  int clip_blocks = -1;   // CLIP vision blocks run for the image rows (-1: all but the last, LLaVA's layer -2)
  int image_stride = 1;   // keep every n-th patch (raster order), as the release's [::4]
  int64_t vision_dim = 128;  // CLIP vision width (projector input)

  static TinyMllmConfig embedded();  // the shipped size: Llama 64 wide, 2 layers, 4 heads / 2 KV heads
  static TinyMllmConfig from_json(const nlohmann::json& j, const std::string& where);
  nlohmann::json to_json() const;
  void validate(const std::string& where) const;
};

struct TinyMllmText {
  at::Tensor states;  // [B, image_rows + text_len, D] float32
  at::Tensor mask;    // [B, image_rows + text_len] int64, a prefix of ones
  at::Tensor pooled;  // [B, clip text dim] float32
  int64_t image_rows = 0;
};

struct TinyMllm {
  TinyMllmConfig cfg;
  LlamaDecoder llm;
  at::Tensor proj1_w, proj1_b, proj2_w, proj2_b;  // multi_modal_projector.linear_{1,2}

  // Seeded init: the decoder as LlamaDecoder::random_init, the projector N(0, 1/fan_in), biases 0.
  static TinyMllm random_init(const TinyMllmConfig& cfg, uint64_t seed, c10::Device device = c10::Device(c10::kCPU));
  // Tensors `prefix` + "language_model.…" (Llama names) and "multi_modal_projector.linear_{1,2}.{weight,bias}";
  // every name and shape checked by L.
  static TinyMllm load(WeightLoader& L, const TinyMllmConfig& cfg, const std::string& prefix);
  NamedTensors named_parameters(const std::string& prefix = "") const;

  // Image rows for preprocessed CLIP pixels [B, 3, S, S] (ClipVision::preprocess): [B, rows, D]. The CLIP tower is
  // frozen: its forward runs without autograd; the projector is differentiable.
  at::Tensor image_rows(const ClipVision& clip, const at::Tensor& pixels) const;
  // ids / mask [B, text_len] from the tokenizer; pixels as above. `clip_text` gives the pooled vector (frozen).
  TinyMllmText encode(const ClipVision& clip, const ClipText& clip_text, const at::Tensor& pixels, const at::Tensor& ids,
                      const at::Tensor& mask) const;
};

}  // namespace focalscope
