// The toy CLIP *text* tower trained together with the embedded model's ClipVision (not an upstream module:
// Wan ships only the image tower). It exists so that Focal Guidance can compare prompt words with image
// patches in one joint space:
//
//   word  -> ClipText::token_embeddings(ids, mask)[b, i]          [out_dim]
//   patch -> ClipVision::project(penultimate-layer patch token)   [out_dim]
//
// and pick the keywords whose similarity map lights up an object. Training (engine/train/clip_stage.cpp)
// uses a global image <-> prompt contrastive loss plus a word -> patch grounding loss, so per-token
// similarities peak on the object a colour / shape word refers to.
//
// Layout: token + position embedding, `num_layers` pre-LN transformer blocks with *bidirectional* attention
// over the real tokens (so "red" in "the red circle" knows which red object is meant), a final LayerNorm and
// a linear projection to the joint space. The prompt embedding is the EOS token's projection. Tokens come
// from the model's own SentencePiece tokenizer (WanTokenizer), padded to `text_len`.
//
// Stored in the CLIP weights file under "textual.*" (ClipVision::load skips that prefix), config in the
// manifest's clip.text_config and in the file's metadata ("clip_text_config"). Loading it from a model folder:
//   ClipText::load(load_tensor_file(dir + "/clip.safetensors"),
//                  ClipTextConfig::from_json(manifest["clip"]["text_config"]), manifest["clip"]["text_prefix"])
// Tokenise with the model's WanTokenizer at seq_len = cfg.text_len; WanTokenizer::words() maps words to tokens.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/clip/clip_block.h"
#include "engine/core/fixture.h"  // NamedTensors
#include "engine/core/weights.h"

namespace focalscope {

struct ClipTextConfig {
  int vocab = 256;     // tokenizer vocabulary size
  int text_len = 32;   // positions (= the tokenizer's seq_len when encoding for this tower)
  int dim = 128;
  int num_heads = 4;
  int num_layers = 2;
  double mlp_ratio = 4.0;
  int out_dim = 64;    // joint space width (= ClipVisionConfig::out_dim)
  double norm_eps = 1e-5;

  static ClipTextConfig from_json(const nlohmann::json& j, const std::string& where = "CLIP text config");
  nlohmann::json to_json() const;
  void validate(const std::string& where = "CLIP text config") const;  // throws Error
  int head_dim() const { return dim / num_heads; }
  int mlp_dim() const { return static_cast<int>(dim * mlp_ratio); }
};

using ClipTextBlock = ClipBlock;  // same parameter layout as a ClipVision block

struct ClipText {
  ClipTextConfig cfg;
  at::Tensor token_embedding;  // [vocab, dim]
  at::Tensor pos_embedding;    // [text_len, dim]
  std::vector<ClipTextBlock> blocks;
  at::Tensor norm_w, norm_b;   // final LayerNorm
  at::Tensor head;             // [dim, out_dim]

  // Tensors "prefix + name" (e.g. "textual.token_embedding"); missing / misshaped ones throw Error naming the
  // file. Tensors outside the prefix are ignored (the same file holds the image tower).
  static ClipText load(const TensorSet& set, const ClipTextConfig& cfg, const std::string& prefix = "textual.",
                       c10::ScalarType dtype = c10::ScalarType::Float,
                       c10::Device device = c10::Device(c10::DeviceType::CPU));
  // Seeded init (same scheme as ClipVision::random_init), deterministic on any device.
  static ClipText random_init(const ClipTextConfig& cfg, uint64_t seed, c10::Device device = c10::Device(c10::DeviceType::CPU));
  NamedTensors named_parameters(const std::string& prefix = "textual.") const;
  void set_requires_grad(bool on);

  // ids, mask [B, L] int64 (L <= text_len; mask 1 on pieces + EOS) -> hidden tokens [B, L, dim] after the final
  // LayerNorm. Padding positions are computed but never attended to.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) const;
  // Every token in the joint space: forward(...) @ head -> [B, L, out_dim] (not normalised).
  at::Tensor token_embeddings(const at::Tensor& ids, const at::Tensor& mask) const;
  // The prompt embedding: the EOS token's (last real token's) joint-space vector [B, out_dim].
  at::Tensor text_embedding(const at::Tensor& ids, const at::Tensor& mask) const;
  // Picks row (sum(mask) - 1) of every batch row of tokens [B, L, C] -> [B, C].
  static at::Tensor select_eos(const at::Tensor& tokens, const at::Tensor& mask);
};

}  // namespace focalscope
