// Llama-3 decoder (transformers' LlamaModel as HunyuanVideo-I2V runs it inside LLaVA): token embedding, pre-norm
// decoder layers with grouped-query attention + rotary position embedding + SwiGLU MLP, RMSNorm; the text encoder
// returns an intermediate hidden state (hidden_states[-3], no final norm), so only the layers up to it are run.
//
//   hidden_states (HF tuple, L = num_hidden_layers): [0] = embeddings, [k] = output of layer k-1 (k < L),
//   [L] = norm(output of layer L-1). Negative indices count from the end: -1 = [L], -(s+1) = [L-s].
//
// Layer: h = x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1))), n1 = RMSNorm(x) * w1
//        y = h + down_proj(silu(gate_proj(n2)) * up_proj(n2)),              n2 = RMSNorm(h) * w2
// Attention: heads N, key/value heads Nkv (N % Nkv == 0; query head h uses kv head h / (N / Nkv)), scale
// 1/sqrt(head_dim), causal + key padding mask, softmax in float32. RoPE: rotate-half layout (pairs (i, i + d/2)),
// inv_freq_i = theta^(-2i/d) with rope_scaling "linear" or "llama3" (Llama-3.1) applied when config.json has it.
// RMSNorm: float32 statistics x * rsqrt(mean(x^2) + eps), cast back, times the weight.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/weights.h"

namespace focalscope {

struct LlamaRopeScaling {
  std::string type = "default";  // "default" | "linear" | "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 8192;        // llama3
};

struct LlamaConfig {
  // transformers' LlamaConfig defaults (used for keys a config.json leaves out, as LLaVA's text_config does).
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;  // absent -> num_attention_heads
  int64_t head_dim = 128;            // absent -> hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  LlamaRopeScaling rope_scaling;
  std::string hidden_act = "silu";
  bool attention_bias = false;
  bool mlp_bias = false;

  // From a Llama config.json object (or LLaVA's "text_config"); `where` names the file in errors. Refuses what this
  // decoder does not implement (another activation, unknown rope_scaling type) with the key named.
  static LlamaConfig from_json(const nlohmann::json& j, const std::string& where);
  void validate(const std::string& where) const;
  nlohmann::json to_json() const;
};

// inv_freq [head_dim / 2] (float32) including rope_scaling.
at::Tensor llama_inv_freq(const LlamaConfig& cfg);
// cos, sin [B, L, head_dim] (float32) for integer positions [B, L], HF layout cat(freqs, freqs).
std::pair<at::Tensor, at::Tensor> llama_rope_cos_sin(const LlamaConfig& cfg, const at::Tensor& position_ids);
// x [B, N, L, d] -> x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x[d/2:], x[:d/2]).
at::Tensor llama_apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// LlamaRMSNorm.
at::Tensor llama_rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);

struct LlamaLayer {
  at::Tensor input_layernorm, post_attention_layernorm;  // [D]
  at::Tensor q_proj, k_proj, v_proj, o_proj;             // [N*d, D], [Nkv*d, D], [Nkv*d, D], [D, N*d]
  at::Tensor q_bias, k_bias, v_bias, o_bias;             // only with attention_bias
  at::Tensor gate_proj, up_proj, down_proj;              // [I, D], [I, D], [D, I]
};

struct LlamaDecoder {
  LlamaConfig cfg;
  at::Tensor embed_tokens;         // [vocab, D]
  std::vector<LlamaLayer> layers;  // the first `layers.size()` layers (those that are run)
  at::Tensor norm;                 // [D] (undefined when the final norm is not needed)

  // Loads `prefix` + "embed_tokens.weight", "layers.{i}.…", "norm.weight" through L (which the caller finishes).
  // Only the first `run_layers` layers (-1: all) are kept; the others, the final norm when not kept, and
  // `extra_ignored` are checked by name and shape and skipped.
  static LlamaDecoder load(WeightLoader& L, const LlamaConfig& cfg, const std::string& prefix, int64_t run_layers = -1,
                           bool keep_final_norm = true);
  // A Llama folder (config.json + model.safetensors[.index.json]); the tensor prefix is detected ("model.",
  // "language_model.model.", "model.language_model." or none); lm_head.weight is checked and skipped.
  static LlamaDecoder from_folder(const std::string& dir, int64_t run_layers = -1,
                                  c10::ScalarType dtype = c10::ScalarType::Float);
  // Seeded random weights (tests): matrices N(0,1)/sqrt(fan_in), norms 1 + 0.1 N(0,1), embeddings N(0,1).
  static LlamaDecoder random_init(const LlamaConfig& cfg, uint64_t seed);
  // HF state-dict names (prefix + …) of everything held.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters(const std::string& prefix = "model.") const;

  at::Tensor embed(const at::Tensor& ids) const;  // [B, L] int64 -> [B, L, D]
  // Runs layers [0, n_layers) on inputs_embeds [B, L, D]: HF hidden_states[n_layers] (no final norm).
  // mask [B, L] (1 = token, 0 = padding; undefined = all ones); position_ids [B, L] (undefined = 0..L-1).
  // `all` (optional) receives hidden_states[0..n_layers].
  at::Tensor forward(const at::Tensor& inputs_embeds, const at::Tensor& mask, const at::Tensor& position_ids,
                     int64_t n_layers, std::vector<at::Tensor>* all = nullptr) const;
  // HF hidden_states[index] (negative from the end; index L / -1 applies the final norm).
  at::Tensor hidden_state(const at::Tensor& inputs_embeds, const at::Tensor& mask, const at::Tensor& position_ids,
                          int64_t index) const;
  // Number of layers hidden_states[index] needs.
  int64_t layers_for_index(int64_t index) const;
};

}  // namespace focalscope
