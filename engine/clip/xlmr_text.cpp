#include "engine/clip/xlmr_text.h"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "engine/clip/clip_block.h"  // clip_layer_norm
#include "engine/core/error.h"

namespace focalscope {

namespace {

template <class T, class Fn>
void for_each_param(T& m, Fn&& fn) {
  const int64_t D = m.cfg.dim, F = 4 * m.cfg.dim;
  fn("token_embedding.weight", m.token_embedding, std::vector<int64_t>{m.cfg.vocab, D});
  fn("type_embedding.weight", m.type_embedding, std::vector<int64_t>{1, D});
  fn("pos_embedding.weight", m.pos_embedding, std::vector<int64_t>{m.cfg.max_positions, D});
  for (size_t i = 0; i < m.blocks.size(); ++i) {
    auto& b = m.blocks[i];
    const std::string p = "blocks." + std::to_string(i) + ".";
    fn(p + "attn.q.weight", b.q_w, std::vector<int64_t>{D, D});
    fn(p + "attn.q.bias", b.q_b, std::vector<int64_t>{D});
    fn(p + "attn.k.weight", b.k_w, std::vector<int64_t>{D, D});
    fn(p + "attn.k.bias", b.k_b, std::vector<int64_t>{D});
    fn(p + "attn.v.weight", b.v_w, std::vector<int64_t>{D, D});
    fn(p + "attn.v.bias", b.v_b, std::vector<int64_t>{D});
    fn(p + "attn.o.weight", b.o_w, std::vector<int64_t>{D, D});
    fn(p + "attn.o.bias", b.o_b, std::vector<int64_t>{D});
    fn(p + "norm1.weight", b.norm1_w, std::vector<int64_t>{D});
    fn(p + "norm1.bias", b.norm1_b, std::vector<int64_t>{D});
    fn(p + "ffn.0.weight", b.ffn0_w, std::vector<int64_t>{F, D});
    fn(p + "ffn.0.bias", b.ffn0_b, std::vector<int64_t>{F});
    fn(p + "ffn.2.weight", b.ffn2_w, std::vector<int64_t>{D, F});
    fn(p + "ffn.2.bias", b.ffn2_b, std::vector<int64_t>{D});
    fn(p + "norm2.weight", b.norm2_w, std::vector<int64_t>{D});
    fn(p + "norm2.bias", b.norm2_b, std::vector<int64_t>{D});
  }
  fn("norm.weight", m.norm_w, std::vector<int64_t>{D});
  fn("norm.bias", m.norm_b, std::vector<int64_t>{D});
  fn("head.0.weight", m.head0_w, std::vector<int64_t>{m.cfg.mid_dim, D});
  fn("head.2.weight", m.head2_w, std::vector<int64_t>{m.cfg.out_dim, m.cfg.mid_dim});
}

}  // namespace

bool XlmrTextTower::present(const TensorSet& set, const std::string& prefix) {
  return set.has(prefix + "token_embedding.weight") && set.has(prefix + "type_embedding.weight");
}

XlmrTextTower XlmrTextTower::load(const TensorSet& set, const std::string& prefix, c10::ScalarType dtype, c10::Device device) {
  WeightLoader wl(set, "CLIP text tower (XLM-R)", dtype, device);
  XlmrTextTower m;
  auto dim2 = [&](const std::string& n, size_t d) { return wl.dim_of(prefix + n, d); };
  m.cfg.vocab = dim2("token_embedding.weight", 0);
  m.cfg.dim = dim2("token_embedding.weight", 1);
  m.cfg.max_positions = dim2("pos_embedding.weight", 0);
  m.cfg.mid_dim = dim2("head.0.weight", 0);
  m.cfg.out_dim = dim2("head.2.weight", 0);
  int64_t layers = 0;
  while (wl.has(prefix + "blocks." + std::to_string(layers) + ".attn.q.weight")) ++layers;
  if (layers == 0) fail(set.origin, "CLIP text tower (XLM-R): no block 'blocks.0.attn.q.weight' under '" + prefix + "'");
  if (m.cfg.max_positions <= m.cfg.pad_id + 2)
    fail(set.origin, "CLIP text tower (XLM-R): " + std::to_string(m.cfg.max_positions) + " positions leave no room for a token");
  m.cfg.num_layers = layers;
  m.cfg.num_heads = m.cfg.dim % 64 == 0 ? m.cfg.dim / 64 : 1;
  m.blocks.resize(static_cast<size_t>(layers));
  std::set<std::string> known;
  for_each_param(m, [&](const std::string& name, at::Tensor& t, const std::vector<int64_t>& shape) {
    t = wl.take(prefix + name, shape);
    known.insert(prefix + name);
  });
  // Nothing else may sit under the prefix (a partial or foreign tower); the rest of the file is the image tower.
  for (const auto& name : set.names())
    if (name.rfind(prefix, 0) == 0 && !known.count(name))
      fail(set.source(name), "unexpected CLIP text tower (XLM-R) tensor '" + name + "'");
  return m;
}

at::Tensor XlmrTextTower::head(const at::Tensor& x) const {
  return at::linear(at::gelu(at::linear(x.to(head0_w.scalar_type()), head0_w)), head2_w);
}

at::Tensor XlmrTextTower::forward(const at::Tensor& ids_in) const {
  if (!ids_in.defined() || ids_in.dim() != 2) fail("CLIP text tower (XLM-R)", "ids must be [B, L]");
  const int64_t B = ids_in.size(0), L = ids_in.size(1), D = cfg.dim, H = cfg.num_heads, Dh = D / H;
  if (L > cfg.max_text_len())
    fail("CLIP text tower (XLM-R)", std::to_string(L) + " tokens exceed its " + std::to_string(cfg.max_text_len()) + " positions");
  const at::Tensor ids = ids_in.to(token_embedding.device(), at::kLong);
  if (ids.numel() && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= cfg.vocab))
    fail("CLIP text tower (XLM-R)", "token id outside its vocabulary of " + std::to_string(cfg.vocab));
  const at::Tensor mask = ids.ne(cfg.pad_id).to(at::kLong);
  const at::Tensor pos = cfg.pad_id + at::cumsum(mask, 1) * mask;
  at::Tensor x = at::embedding(token_embedding, ids) + type_embedding[0] + at::embedding(pos_embedding, pos);
  x = clip_layer_norm(x, norm_w, norm_b, cfg.eps);  // post-norm model: the embeddings are normalised
  // Additive key mask, as upstream's finfo.min; <s> is never padding, so no row is fully masked.
  const at::Tensor key_bias = at::where(mask.view({B, 1, 1, L}).gt(0), at::zeros({}, x.options()),
                                        at::full({}, std::numeric_limits<float>::lowest(), x.options()));
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  for (const auto& b : blocks) {
    auto heads = [&](const at::Tensor& t) { return t.view({B, L, H, Dh}).permute({0, 2, 1, 3}); };
    const at::Tensor q = heads(at::linear(x, b.q_w, b.q_b)), k = heads(at::linear(x, b.k_w, b.k_b)),
                     v = heads(at::linear(x, b.v_w, b.v_b));
    const at::Tensor p = at::softmax(at::matmul(q, k.transpose(-1, -2)) * scale + key_bias, -1);
    const at::Tensor a = at::matmul(p, v).permute({0, 2, 1, 3}).reshape({B, L, D});
    x = clip_layer_norm(x + at::linear(a, b.o_w, b.o_b), b.norm1_w, b.norm1_b, cfg.eps);
    x = clip_layer_norm(x + at::linear(at::gelu(at::linear(x, b.ffn0_w, b.ffn0_b)), b.ffn2_w, b.ffn2_b), b.norm2_w,
                        b.norm2_b, cfg.eps);
  }
  return x;
}

at::Tensor XlmrTextTower::pooled(const at::Tensor& ids) const {
  const at::Tensor x = forward(ids);
  const at::Tensor m = ids.to(x.device()).ne(cfg.pad_id).unsqueeze(-1).to(x.scalar_type());
  return head((x * m).sum(1) / m.sum(1));
}

void XlmrClipText::check_vocabulary() const {
  if (tokenizer->vocab_size() > tower.cfg.vocab)
    fail(tokenizer->path(), "XLM-R tokenizer of " + std::to_string(tokenizer->vocab_size()) +
                                " ids does not fit the CLIP text tower's vocabulary of " + std::to_string(tower.cfg.vocab));
}

at::Tensor XlmrClipText::word_embeddings(const std::string& prompt, std::vector<WordSpan>& words) const {
  const Tokenized t = tokenizer->encode(prompt, std::min<int64_t>(XlmrTokenizer::kDefaultSeqLen, tower.cfg.max_text_len()));
  words = WanTokenizer::words(t);
  // Only the real tokens run: padding never reaches them (keys masked), and a 512-row pass costs ~40x more.
  const at::Tensor x = tower.forward(t.ids_tensor().narrow(1, 0, t.length()))[0];  // [length, dim]
  at::Tensor out = at::zeros({static_cast<int64_t>(words.size()), tower.cfg.out_dim});
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i].tokens.empty()) continue;
    const at::Tensor idx = at::tensor(words[i].tokens, at::TensorOptions().dtype(at::kLong)).to(x.device());
    out[static_cast<int64_t>(i)] = tower.head(x.index_select(0, idx).mean(0)).to(at::kCPU, at::kFloat);
  }
  return out;
}

std::string find_xlmr_tokenizer(const std::string& given, const std::string& model_dir, const std::string& clip_file) {
  if (!given.empty()) return given;
  for (const std::string& d : {model_dir, std::filesystem::path(clip_file).parent_path().string()}) {
    if (d.empty()) continue;
    const std::filesystem::path p = std::filesystem::path(d) / "xlm-roberta-large" / "sentencepiece.bpe.model";
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  return {};
}

TensorSet whole_clip_file(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (path.empty() || std::filesystem::is_directory(path) || !(ext == ".pth" || ext == ".pt" || ext == ".safetensors")) return {};
  return load_tensor_file(path);
}

std::string describe_clip_text(const std::string& given_tokenizer, const std::string& model_dir, const std::string& clip_file) {
  const TensorSet set = whole_clip_file(clip_file);
  if (!XlmrTextTower::present(set)) return "none in the CLIP file: Eq. 6 keyword selection is off (give --keywords)";
  const XlmrTextTower t = XlmrTextTower::load(set);
  std::string s = "XLM-R text tower (" + std::to_string(t.cfg.num_layers) + " layers, dim " + std::to_string(t.cfg.dim) +
                  ", vocabulary " + std::to_string(t.cfg.vocab) + ")";
  const std::string tok = find_xlmr_tokenizer(given_tokenizer, model_dir, clip_file);
  if (tok.empty()) return s + "; no xlm-roberta-large/sentencepiece.bpe.model found (--clip-tokenizer F): Eq. 6 is off";
  return s + " + tokenizer " + tok + ": Eq. 6 keyword selection on";
}

}  // namespace focalscope
