// The text side of HunyuanVideo-I2V as its pipeline runs it (hyvideo/text_encoder/__init__.py, constants.py;
// ARCHITECTURE.md §10.3), loaded from the release folders:
//
//   text_encoder_i2v/  xtuner/llava-llama-3-8b-v1_1-transformers: LlavaForConditionalGeneration (CLIP-L/14-336
//                      vision tower + 2-layer GELU projector + Llama-3-8B), tokenizer.json, preprocessor_config.json
//   text_encoder_2/    openai/clip-vit-large-patch14: CLIPTextModel, vocab.json + merges.txt
//
// MLLM encode (LlavaI2VTextEncoder::encode), per prompt + reference image:
//   1. text = template "dit-llm-encode-video-i2v" with the prompt; tokens = BOS + BPE, truncated / right-padded to
//      max_length = text_len + crop_start (256 + 103 = 359), mask 1 on tokens;
//   2. pixels = CLIPImageProcessor(image) (336 px); features = projector(vision hidden_states[-2] without the
//      class token) -> 576 rows;
//   3. transformers-4.39 LLaVA merge: the single <image> id is replaced by the 576 rows (mask 1), padding
//      embeddings (pad_token_id) are zeroed, position_ids = cumsum(mask) - 1 (1 on padding);
//   4. Llama hidden_states[-(skip+1)] = hidden_states[-3] (the first L-2 layers), no final norm;
//   5. crop: image rows [image_emb_start, image_emb_end) every `image_embed_interleave`-th (576 -> 144), mask 1;
//      text rows [crop_start - 1 + 576, i - 1 + 576 - 4) ++ [i - 1 + 576, end) with i the input position of the
//      last "\n\n" token (271) -- or max_length when only 3 are left (truncated prompt) -- so the
//      <|eot_id|><|start_header_id|>assistant<|end_header_id|> rows are dropped and "\n\n" + padding kept;
//      mask likewise from the token mask -> [144 image rows | 252 text rows] = 396 rows.
// CLIP-L: the plain prompt, 77 tokens, pooler_output -> text_states_2 [B, 768].
//
// The template's offsets are derived from the folder's tokenizer (the tokens before "{}", the position of <image>,
// the id of "\n\n", the vision tower's patch count); with the release tokenizer they must equal upstream's
// constants (103, 5, 581, 576, 271), which the loader checks.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/models/hunyuan/text/bpe_tokenizer.h"
#include "engine/models/hunyuan/text/hf_clip.h"
#include "engine/models/hunyuan/text/llama.h"

namespace focalscope {

struct HunyuanPromptTemplate {
  std::string name;
  std::string text;  // one "{}" where the prompt goes
  int64_t crop_start = 103, image_emb_start = 5, image_emb_end = 581, image_emb_len = 576, double_return_token_id = 271;
  // PROMPT_TEMPLATE["dit-llm-encode-video-i2v"] with upstream's constants.
  static const HunyuanPromptTemplate& video_i2v();
  std::string apply(const std::string& prompt) const;  // Python str.format with one "{}"
  std::string prefix() const;                           // the text before "{}"
};

struct HunyuanTextEncoderOptions {
  int64_t text_len = 256;                // --text-len
  int64_t hidden_state_skip_layer = 2;   // -> hidden_states[-3]
  bool apply_final_norm = false;
  int64_t image_embed_interleave = 4;    // token_replace (latent_concat: 2)
  c10::ScalarType dtype = c10::ScalarType::Float;
};

struct MllmEncoding {
  at::Tensor states;          // [B, image_rows + text rows, D] float (144 + 252 = 396 with release values)
  at::Tensor mask;            // [B, rows] int64
  int64_t image_rows = 0;     // rows [0, image_rows) are the subsampled image tokens
  at::Tensor input_ids;       // [B, max_length] tokenizer output
  at::Tensor attention_mask;  // [B, max_length]
  std::vector<int64_t> last_double_return;  // per row: the `i` of the crop
  at::Tensor hidden;          // [B, max_length - 1 + image_emb_len, D] before the crop (only when asked for)
};

class LlavaI2VTextEncoder {
 public:
  static LlavaI2VTextEncoder from_folder(const std::string& dir, const HunyuanTextEncoderOptions& opts = {});

  // One reference image per prompt: uint8 [H, W, 3] RGB (what PIL's Image.open(...).convert('RGB') gives).
  MllmEncoding encode(const std::vector<std::string>& prompts, const std::vector<at::Tensor>& images,
                      bool keep_hidden = false) const;

  // Pieces of encode(), public for tests and analysis.
  at::Tensor pixel_values(const at::Tensor& image_hwc_u8) const;   // [1, 3, S, S]
  at::Tensor image_features(const at::Tensor& pixel_values) const;  // [B, image_emb_len, D]
  struct Merged {
    at::Tensor embeds, mask, position_ids;  // [B, L - 1 + n, D], [B, L - 1 + n], [B, L - 1 + n]
  };
  Merged merge(const at::Tensor& input_ids, const at::Tensor& attention_mask, const at::Tensor& image_features) const;

  const HfBpeTokenizer& tokenizer() const { return *tokenizer_; }
  const HunyuanPromptTemplate& prompt_template() const { return template_; }
  const LlamaDecoder& language_model() const { return llm_; }
  const HfClipVision& vision_tower() const { return vision_; }
  const ClipImageProcessor& image_processor() const { return processor_; }
  const HunyuanTextEncoderOptions& options() const { return opts_; }
  int64_t max_length() const { return opts_.text_len + template_.crop_start; }
  int64_t image_token_index() const { return image_token_index_; }
  int64_t pad_token_id() const { return pad_token_id_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  HunyuanTextEncoderOptions opts_;
  std::shared_ptr<HfBpeTokenizer> tokenizer_;
  HunyuanPromptTemplate template_;
  ClipImageProcessor processor_;
  HfClipVision vision_;
  int64_t vision_layers_run_ = 0;
  bool keep_cls_ = false;  // vision_feature_select_strategy "full"
  at::Tensor proj1_w_, proj1_b_, proj2_w_, proj2_b_;
  std::string projector_act_ = "gelu";
  LlamaDecoder llm_;
  int64_t image_token_index_ = -1, pad_token_id_ = -1;
};

class ClipLTextEncoder {
 public:
  // text_model.* (+ with load_vision: vision_model.*, visual_projection, text_projection for joint-space
  // embeddings); the rest of a whole-CLIP checkpoint is checked by name and skipped.
  static ClipLTextEncoder from_folder(const std::string& dir, bool load_vision = false,
                                      c10::ScalarType dtype = c10::ScalarType::Float);
  // text_states_2: pooler_output of the prompts tokenised to max_length (77) -> [B, hidden].
  at::Tensor pooled(const std::vector<std::string>& prompts, int64_t max_length = 77) const;
  // CLIP joint space (needs load_vision for image_embeds): text_projection(pooled), visual_projection(post_layernorm(
  // class token of the last layer)) -> [B, projection_dim] (not normalised).
  at::Tensor text_embeds(const std::vector<std::string>& prompts) const;
  at::Tensor image_embeds(const at::Tensor& pixel_values) const;
  at::Tensor pixel_values(const at::Tensor& image_hwc_u8) const;
  // Focal Guidance's Eq. 6 in CLIP-L's joint space (needs load_vision): every token of the prompt (BOS + tokens + EOS,
  // max_length 77) as text_projection(last_hidden_state) -> [L, projection_dim]; and the image's patch tokens of the
  // penultimate layer, post_layernorm then visual_projection -> [g*g, projection_dim] (class token dropped).
  at::Tensor token_embeds(const std::string& prompt) const;
  at::Tensor patch_embeds(const at::Tensor& pixel_values) const;

  const ClipBpeTokenizer& tokenizer() const { return *tokenizer_; }
  const HfClipText& text_model() const { return text_; }
  bool has_vision() const { return has_vision_; }

 private:
  std::shared_ptr<ClipBpeTokenizer> tokenizer_;
  HfClipText text_;
  bool has_vision_ = false;
  HfClipVision vision_;
  at::Tensor text_projection_, visual_projection_;
  ClipImageProcessor processor_;
};

// uint8 [H, W, 3] from an image tensor [3, H, W] in [-1, 1] (the pipeline's layout): round((x + 1) * 127.5).
at::Tensor image_m11_to_u8_hwc(const at::Tensor& image_chw);

// Writes tiny random folders in the release layout under root: text_encoder_i2v/ (LLaVA: config.json, two
// safetensors shards + index, tokenizer.json, tokenizer_config.json, special_tokens_map.json,
// preprocessor_config.json) and text_encoder_2/ (whole CLIP: config.json, model.safetensors, vocab.json, merges.txt,
// special_tokens_map.json, tokenizer_config.json). Byte-level tokenizers whose vocabularies hold the template's
// header words, so <image> sits at position 5 as in the release. Deterministic for a seed.
struct TinyTextEncoderSpec {
  int64_t llm_layers = 3, llm_hidden = 32, llm_heads = 4, llm_kv_heads = 2, llm_intermediate = 64;
  int64_t vision_layers = 3, vision_hidden = 16, vision_heads = 2, image_size = 28, patch_size = 7;
  int64_t clip_layers = 2, clip_hidden = 16, clip_heads = 2, clip_projection = 8;
  uint64_t seed = 0;
};
void write_tiny_text_encoder_folders(const std::string& root, const TinyTextEncoderSpec& spec = {});

}  // namespace focalscope
