// The text tower of Wan's open-clip CLIP (`XLMRobertaCLIP.textual`, `textual.*` of
// models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth), which Wan's I2V pipeline never runs and FocalScope runs for
// Eq. 6 (keyword selection and the keyword maps) on the real Wan models. As Wan's xlm_roberta.py / clip.py define it:
//
//   x = token_embedding(ids) + type_embedding(0) + pos_embedding(pad_id + cumsum(mask) * mask)   (positions from 2)
//   x = LayerNorm(x)                                              (post-norm model: the embedding norm, `textual.norm`)
//   per block: x = norm1(x + o(attn(q(x), k(x), v(x)), keys masked where ids == pad_id));  x = norm2(x + ffn(x))
//              ffn = Linear(dim, 4 dim), exact GELU, Linear(4 dim, dim); LayerNorm eps 1e-5
//   pooled (the CLIP text embedding) = head(mean of x over the non-pad tokens, <s> and </s> included),
//   head = Linear(dim, (dim + out) / 2, no bias), exact GELU, Linear(.., out, no bias).
//
// A word's joint-space vector for Eq. 6 is FocalScope's choice (the paper does not say how Wan's CLIP scores words):
// head(mean of x over the word's tokens) — the pooled embedding's own recipe restricted to the word's tokens, so a
// one-word prompt's word vector and its pooled embedding differ only by <s> / </s> in the mean.
//
// Sizes are read off the tensors; the head count is not stored anywhere: XLM-R large (dim 1024) has 16 heads of 64,
// and any other width is taken as heads of 64 when it divides, else one head (the shared fixture's 16-wide tower).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/weights.h"
#include "engine/text/xlmr_tokenizer.h"

namespace focalscope {

struct XlmrTextConfig {
  int64_t vocab = 250002, max_positions = 514, dim = 1024, num_heads = 16, num_layers = 24, mid_dim = 1024, out_dim = 1024;
  int64_t pad_id = 1;
  double eps = 1e-5;
  int64_t max_text_len() const { return max_positions - pad_id - 1; }  // positions start at pad_id + 1
};

struct XlmrTextBlock {
  at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, norm1_w, norm1_b, ffn0_w, ffn0_b, ffn2_w, ffn2_b, norm2_w, norm2_b;
};

struct XlmrTextTower {
  XlmrTextConfig cfg;
  at::Tensor token_embedding, type_embedding, pos_embedding, norm_w, norm_b, head0_w, head2_w;
  std::vector<XlmrTextBlock> blocks;

  // True when `set` holds an XLM-R text tower under `prefix` (its token and type embeddings).
  static bool present(const TensorSet& set, const std::string& prefix = "textual.");
  // Every tensor under `prefix` checked by name and shape (sizes read off the tensors); a missing, misshaped or
  // unexpected one throws Error naming the file and the tensor. Tensors outside the prefix are ignored.
  static XlmrTextTower load(const TensorSet& set, const std::string& prefix = "textual.",
                            c10::ScalarType dtype = c10::ScalarType::Float,
                            c10::Device device = c10::Device(c10::DeviceType::CPU));
  // ids [B, L] int64 (pad_id on padding) -> the last block's output [B, L, dim].
  at::Tensor forward(const at::Tensor& ids) const;
  at::Tensor head(const at::Tensor& x) const;     // [..., dim] -> [..., out_dim]
  at::Tensor pooled(const at::Tensor& ids) const; // the CLIP text embedding [B, out_dim]
};

// The tower with its tokenizer: what Eq. 6 needs from a Wan CLIP.
struct XlmrClipText {
  XlmrTextTower tower;
  std::shared_ptr<const XlmrTokenizer> tokenizer;
  // The words of `prompt` (WanTokenizer::words on the XLM-R tokens) and each word's joint-space vector
  // head(mean of its tokens' states) -> [W, out_dim] float32 on the CPU. A word cut off by truncation has a zero row.
  at::Tensor word_embeddings(const std::string& prompt, std::vector<WordSpan>& words) const;
  // Throws Error naming the tokenizer file when its ids do not fit the tower's vocabulary.
  void check_vocabulary() const;
};

// The XLM-R tokenizer of a Wan CLIP: `given` when set (--clip-tokenizer), else
// `xlm-roberta-large/sentencepiece.bpe.model` in the model folder, then beside the CLIP file (the release keeps it in
// the model folder). Empty when none exists.
std::string find_xlmr_tokenizer(const std::string& given, const std::string& model_dir, const std::string& clip_file);
// The CLIP file's own tensors under their stored names (the text tower sits beside the image tower in the official
// open-clip file); an empty set for a folder or a format that cannot hold one.
TensorSet whole_clip_file(const std::string& path);
// One line for `info`: whether Eq. 6 runs on this CLIP file (its XLM-R text tower and tokenizer), or why not.
std::string describe_clip_text(const std::string& given_tokenizer, const std::string& model_dir, const std::string& clip_file);

}  // namespace focalscope
