#include "engine/models/hunyuan/text/hunyuan_text_encoders.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/safetensors.h"
#include "engine/models/hunyuan/text/hf_folder.h"

namespace focalscope {

using json = nlohmann::json;

// ---- template -------------------------------------------------------------------------------------------------------
const HunyuanPromptTemplate& HunyuanPromptTemplate::video_i2v() {
  static const HunyuanPromptTemplate t = [] {
    HunyuanPromptTemplate x;
    x.name = "dit-llm-encode-video-i2v";
    x.text =
        "<|start_header_id|>system<|end_header_id|>\n\n<image>\nDescribe the video by detailing the following aspects "
        "according to the reference image: "
        "1. The main content and theme of the video."
        "2. The color, shape, size, texture, quantity, text, and spatial relationships of the objects."
        "3. Actions, events, behaviors temporal relationships, physical movement changes of the objects."
        "4. background environment, light, style and atmosphere."
        "5. camera angles, movements, and transitions used in the video:<|eot_id|>\n\n"
        "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return x;  // crop_start 103, image_emb_start 5, image_emb_end 581, image_emb_len 576, double_return 271
  }();
  return t;
}

std::string HunyuanPromptTemplate::apply(const std::string& prompt) const {
  const size_t at = text.find("{}");
  if (at == std::string::npos) fail(name, "template has no {} placeholder");
  return text.substr(0, at) + prompt + text.substr(at + 2);
}

std::string HunyuanPromptTemplate::prefix() const {
  const size_t at = text.find("{}");
  if (at == std::string::npos) fail(name, "template has no {} placeholder");
  return text.substr(0, at);
}

// ---- LLaVA -------------------------------------------------------------------------------------------------------------
LlavaI2VTextEncoder LlavaI2VTextEncoder::from_folder(const std::string& dir, const HunyuanTextEncoderOptions& opts) {
  LlavaI2VTextEncoder e;
  e.dir_ = dir;
  e.opts_ = opts;
  const std::string cfg_path = dir + "/config.json";
  const json cfg = read_hf_config(dir);
  if (opts.text_len < 5) fail("text encoder options", "text_len must be at least 5");
  if (opts.hidden_state_skip_layer < 0) fail("text encoder options", "hidden_state_skip_layer must be >= 0");

  // config: LlavaConfig (text_config -> LlamaConfig defaults, vision_config -> CLIPVisionConfig defaults; without a
  // vision_config LlavaConfig's own CLIP-L/14-336 values).
  HfClipTowerConfig vcfg;
  LlamaConfig tcfg;
  int64_t feature_layer = -2;
  naming_file(cfg_path, [&] {
    const std::string mt = cfg_str(cfg, "model_type", "llava", cfg_path);
    if (mt != "llava") fail(cfg_path, "\"model_type\" '" + mt + "' is not llava (text_encoder_i2v holds LlavaForConditionalGeneration)");
    e.image_token_index_ = cfg_int(cfg, "image_token_index", 32000, cfg_path);
    e.pad_token_id_ = cfg_int(cfg, "pad_token_id", -1, cfg_path);
    e.projector_act_ = cfg_str(cfg, "projector_hidden_act", "gelu", cfg_path);
    if (e.projector_act_ != "gelu") fail(cfg_path, "\"projector_hidden_act\" '" + e.projector_act_ + "' is not supported (gelu)");
    const std::string strategy = cfg_str(cfg, "vision_feature_select_strategy", "default", cfg_path);
    if (strategy != "default" && strategy != "full")
      fail(cfg_path, "\"vision_feature_select_strategy\" '" + strategy + "' is not supported (default, full)");
    e.keep_cls_ = strategy == "full";
    feature_layer = cfg_int(cfg, "vision_feature_layer", -2, cfg_path);
    const json tj = cfg.contains("text_config") && cfg["text_config"].is_object() ? cfg["text_config"] : json::object();
    if (cfg_str(tj, "model_type", "llama", cfg_path) != "llama") fail(cfg_path, "\"text_config\": only llama language models are supported");
    tcfg = LlamaConfig::from_json(tj, cfg_path);
    if (cfg.contains("vision_config") && cfg["vision_config"].is_object()) {
      vcfg = HfClipTowerConfig::vision_from_json(cfg["vision_config"], cfg_path);
    } else {
      vcfg = HfClipTowerConfig::vision_from_json(json{{"intermediate_size", 4096}, {"hidden_size", 1024}, {"patch_size", 14},
                                                      {"image_size", 336}, {"num_hidden_layers", 24},
                                                      {"num_attention_heads", 16}, {"projection_dim", 768}},
                                                 cfg_path);
    }
    return 0;
  });

  // tokenizer + template offsets
  e.tokenizer_ = std::make_shared<HfBpeTokenizer>(HfBpeTokenizer::from_folder(dir));
  const auto& tok = *e.tokenizer_;
  const std::string& tok_path = tok.path();
  if (tok.pad_id() < 0) fail(dir + "/tokenizer_config.json", "no \"pad_token\" (the pipeline pads to max_length)");
  if (tok.id_to_token(e.image_token_index_).empty())
    fail(tok_path, "config.json's image_token_index " + std::to_string(e.image_token_index_) + " is not a token of the tokenizer");
  e.template_ = HunyuanPromptTemplate::video_i2v();
  {
    const std::vector<int64_t> pre = tok.encode(e.template_.prefix());
    int64_t image_pos = -1, n_image = 0;
    for (size_t k = 0; k < pre.size(); ++k)
      if (pre[k] == e.image_token_index_) image_pos = static_cast<int64_t>(k), ++n_image;
    if (n_image != 1) fail(tok_path, "the template's <image> does not tokenise to one image_token_index " + std::to_string(e.image_token_index_));
    const std::vector<int64_t> dr = tok.encode_raw("\n\n");
    if (dr.size() != 1) fail(tok_path, "\"\\n\\n\" is not a single token (the template crop needs it)");
    HunyuanPromptTemplate derived = e.template_;
    derived.crop_start = static_cast<int64_t>(pre.size());
    derived.image_emb_start = image_pos;
    derived.image_emb_len = vcfg.num_patches() + (e.keep_cls_ ? 1 : 0);
    derived.image_emb_end = image_pos + derived.image_emb_len;
    derived.double_return_token_id = dr[0];
    // The release tokenizer (Llama-3 ids) must reproduce upstream's constants exactly.
    if (tok.token_to_id("<|start_header_id|>") == 128006 && e.image_token_index_ == 128257) {
      const auto& up = HunyuanPromptTemplate::video_i2v();
      if (derived.crop_start != up.crop_start || derived.image_emb_start != up.image_emb_start ||
          derived.double_return_token_id != up.double_return_token_id)
        fail(tok_path, "the template tokenises to crop_start " + std::to_string(derived.crop_start) + ", image at " +
                           std::to_string(derived.image_emb_start) + ", \"\\n\\n\" = " + std::to_string(derived.double_return_token_id) +
                           "; upstream's constants are 103, 5, 271");
    }
    e.template_ = derived;
  }
  e.processor_ = ClipImageProcessor::from_file(dir + "/preprocessor_config.json");
  if (e.processor_.crop_height != vcfg.image_size || e.processor_.crop_width != vcfg.image_size)
    fail(dir + "/preprocessor_config.json", "crop size " + std::to_string(e.processor_.crop_height) + "x" + std::to_string(e.processor_.crop_width) +
                                                " differs from the vision tower's image_size " + std::to_string(vcfg.image_size));

  // weights
  TensorSet set = load_hf_weights(dir);
  WeightLoader L(set, "LLaVA", opts.dtype);
  std::string vprefix = "vision_tower.vision_model.", lprefix = "language_model.model.", pprefix = "multi_modal_projector.",
              head = "language_model.lm_head.weight";
  if (!set.has(lprefix + "embed_tokens.weight") && set.has("model.language_model.embed_tokens.weight")) {
    // the layout transformers >= 4.52 saves
    vprefix = "model.vision_tower.vision_model.";
    lprefix = "model.language_model.";
    pprefix = "model.multi_modal_projector.";
    head = "lm_head.weight";
  }
  HfClipVision tmp;
  tmp.cfg = vcfg;
  e.vision_layers_run_ = tmp.layers_for_index(feature_layer);
  e.vision_ = HfClipVision::load(L, vcfg, vprefix, e.vision_layers_run_, /*keep_post=*/false);
  const int64_t Dv = vcfg.hidden_size, Dt = tcfg.hidden_size;
  e.proj1_w_ = L.take(pprefix + "linear_1.weight", {Dt, Dv});
  e.proj1_b_ = L.take(pprefix + "linear_1.bias", {Dt});
  e.proj2_w_ = L.take(pprefix + "linear_2.weight", {Dt, Dt});
  e.proj2_b_ = L.take(pprefix + "linear_2.bias", {Dt});
  LlamaDecoder probe;
  probe.cfg = tcfg;
  const int64_t run = probe.layers_for_index(-(opts.hidden_state_skip_layer + 1));
  const bool need_norm = run == tcfg.num_hidden_layers || (opts.apply_final_norm && opts.hidden_state_skip_layer > 0);
  e.llm_ = LlamaDecoder::load(L, tcfg, lprefix, run, need_norm);
  if (set.has(head)) check_and_ignore(L, head, {tcfg.vocab_size, Dt}, "LLaVA");
  L.finish();
  if (tok.vocab_size() > tcfg.vocab_size)
    fail(tok_path, "the tokenizer has ids up to " + std::to_string(tok.vocab_size() - 1) + ", the model's vocab_size is " +
                       std::to_string(tcfg.vocab_size));
  return e;
}

at::Tensor LlavaI2VTextEncoder::pixel_values(const at::Tensor& image) const { return processor_(image); }

at::Tensor LlavaI2VTextEncoder::image_features(const at::Tensor& pixels) const {
  at::Tensor f = vision_.forward(pixels, vision_layers_run_);
  if (!keep_cls_) f = f.narrow(1, 1, f.size(1) - 1);
  at::Tensor h = at::gelu(at::linear(f.to(proj1_w_.scalar_type()), proj1_w_, proj1_b_));
  return at::linear(h, proj2_w_, proj2_b_);
}

LlavaI2VTextEncoder::Merged LlavaI2VTextEncoder::merge(const at::Tensor& ids_in, const at::Tensor& mask_in, const at::Tensor& feats) const {
  const int64_t B = ids_in.size(0), Lin = ids_in.size(1), n = feats.size(1);
  if (feats.size(0) != B) fail("LLaVA", "one image per prompt is needed");
  at::Tensor ids = ids_in.to(at::kLong).cpu(), mask = mask_in.to(at::kLong).cpu();
  at::Tensor emb = llm_.embed(ids);
  std::vector<at::Tensor> rows_e, rows_m;
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor hits = ids[b].eq(image_token_index_).nonzero().view({-1});
    if (hits.numel() != 1)
      fail("LLaVA", "prompt " + std::to_string(b) + " has " + std::to_string(hits.numel()) +
                        " <image> tokens after the template; exactly one is expected (a literal <image> in the prompt?)");
    const int64_t p = hits[0].item<int64_t>();
    // padding embeddings are zeroed (the transformers-4.39 merge), image rows take the projected features
    at::Tensor e = emb[b].masked_fill(ids[b].eq(pad_token_id_).unsqueeze(-1), 0.0);
    rows_e.push_back(at::cat({e.narrow(0, 0, p), feats[b].to(e.scalar_type()), e.narrow(0, p + 1, Lin - p - 1)}, 0));
    rows_m.push_back(at::cat({mask[b].narrow(0, 0, p), at::ones({n}, at::kLong), mask[b].narrow(0, p + 1, Lin - p - 1)}, 0));
  }
  Merged m;
  m.embeds = at::stack(rows_e);
  m.mask = at::stack(rows_m);
  m.position_ids = (m.mask.cumsum(-1) - 1).masked_fill(m.mask.eq(0), 1);
  return m;
}

MllmEncoding LlavaI2VTextEncoder::encode(const std::vector<std::string>& prompts, const std::vector<at::Tensor>& images,
                                         bool keep_hidden) const {
  if (prompts.empty()) fail("LLaVA", "no prompts");
  if (images.size() != prompts.size())
    fail("LLaVA", std::to_string(prompts.size()) + " prompts but " + std::to_string(images.size()) + " images (one per prompt)");
  const auto& T = template_;
  std::vector<std::string> texts;
  for (const auto& p : prompts) texts.push_back(T.apply(p));
  const TokenizedBatch tb = tokenizer_->encode_batch(texts, max_length());
  const int64_t B = static_cast<int64_t>(prompts.size()), Lin = max_length();
  at::Tensor ids = at::empty({B, Lin}, at::kLong), mask = at::empty({B, Lin}, at::kLong);
  for (int64_t b = 0; b < B; ++b) {
    std::copy(tb.ids[b].begin(), tb.ids[b].end(), ids[b].data_ptr<int64_t>());
    std::copy(tb.mask[b].begin(), tb.mask[b].end(), mask[b].data_ptr<int64_t>());
  }
  std::vector<at::Tensor> pix;
  for (const auto& im : images) pix.push_back(pixel_values(im));
  const Merged m = merge(ids, mask, image_features(at::cat(pix, 0)));
  const int64_t run = llm_.layers.size();
  at::Tensor hidden = llm_.forward(m.embeds, m.mask, m.position_ids, run);
  if (opts_.apply_final_norm && opts_.hidden_state_skip_layer > 0) hidden = llama_rms_norm(hidden, llm_.norm, llm_.cfg.rms_norm_eps);
  if (opts_.hidden_state_skip_layer == 0) hidden = llama_rms_norm(hidden, llm_.norm, llm_.cfg.rms_norm_eps);  // hidden_states[-1]

  // crop (TextEncoder.encode, i2v branch)
  const int64_t n = T.image_emb_len, text_crop_start = T.crop_start - 1 + n;
  MllmEncoding out;
  std::vector<at::Tensor> states, masks;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> hits;
    for (int64_t k = 0; k < Lin; ++k)
      if (tb.ids[b][k] == T.double_return_token_id) hits.push_back(k);
    if (hits.empty()) fail("LLaVA", "prompt " + std::to_string(b) + " has no \"\\n\\n\" token to crop at");
    const int64_t i = hits.size() == 3 ? Lin : hits.back();  // truncated prompt: the assistant header is gone
    if (i - 4 < T.crop_start) fail("LLaVA", "prompt " + std::to_string(b) + ": the last \"\\n\\n\" lies inside the template prefix");
    out.last_double_return.push_back(i);
    const int64_t a0 = i - 1 + n - 4, a1 = i - 1 + n, Lh = hidden.size(1);
    at::Tensor text = at::cat({hidden[b].narrow(0, text_crop_start, a0 - text_crop_start), hidden[b].narrow(0, a1, Lh - a1)}, 0);
    at::Tensor tmask = at::cat({mask[b].narrow(0, T.crop_start, i - 4 - T.crop_start), mask[b].narrow(0, i, Lin - i)}, 0);
    at::Tensor img = hidden[b].narrow(0, T.image_emb_start, T.image_emb_end - T.image_emb_start);
    at::Tensor imask = at::ones({img.size(0)}, at::kLong);
    if (opts_.image_embed_interleave > 0 && opts_.image_embed_interleave < 6) {
      img = img.slice(0, 0, img.size(0), opts_.image_embed_interleave);
      imask = imask.slice(0, 0, imask.size(0), opts_.image_embed_interleave);
    }
    out.image_rows = img.size(0);
    states.push_back(at::cat({img, text}, 0));
    masks.push_back(at::cat({imask, tmask}, 0));
  }
  out.states = at::stack(states).to(at::kFloat).contiguous();
  out.mask = at::stack(masks);
  out.input_ids = ids;
  out.attention_mask = mask;
  if (keep_hidden) out.hidden = hidden;
  return out;
}

// ---- CLIP-L ------------------------------------------------------------------------------------------------------------------
ClipLTextEncoder ClipLTextEncoder::from_folder(const std::string& dir, bool load_vision, c10::ScalarType dtype) {
  ClipLTextEncoder e;
  const std::string cfg_path = dir + "/config.json";
  const json cfg = read_hf_config(dir);
  HfClipTowerConfig tcfg, vcfg;
  int64_t projection = 512;
  naming_file(cfg_path, [&] {
    const std::string mt = cfg_str(cfg, "model_type", "clip", cfg_path);
    if (mt == "clip") {
      tcfg = HfClipTowerConfig::text_from_json(cfg.contains("text_config") && cfg["text_config"].is_object() ? cfg["text_config"] : json::object(), cfg_path);
      vcfg = HfClipTowerConfig::vision_from_json(cfg.contains("vision_config") && cfg["vision_config"].is_object() ? cfg["vision_config"] : json::object(), cfg_path);
      projection = cfg_int(cfg, "projection_dim", 512, cfg_path);
    } else if (mt == "clip_text_model") {
      tcfg = HfClipTowerConfig::text_from_json(cfg, cfg_path);
      projection = tcfg.projection_dim;
      if (load_vision) fail(cfg_path, "a clip_text_model folder has no vision tower");
    } else {
      fail(cfg_path, "\"model_type\" '" + mt + "' is not clip / clip_text_model");
    }
    return 0;
  });
  e.tokenizer_ = std::make_shared<ClipBpeTokenizer>(ClipBpeTokenizer::from_folder(dir));
  TensorSet set = load_hf_weights(dir);
  WeightLoader L(set, "CLIP", dtype);
  e.text_ = HfClipText::load(L, tcfg, "text_model.");
  if (load_vision) {
    e.has_vision_ = true;
    e.vision_ = HfClipVision::load(L, vcfg, "vision_model.", -1, /*keep_post=*/true);
    e.text_projection_ = L.take("text_projection.weight", {projection, tcfg.hidden_size});
    e.visual_projection_ = L.take("visual_projection.weight", {projection, vcfg.hidden_size});
    const std::string pp = dir + "/preprocessor_config.json";
    if (std::filesystem::exists(pp)) e.processor_ = ClipImageProcessor::from_file(pp);
    else e.processor_.shortest_edge = e.processor_.crop_height = e.processor_.crop_width = vcfg.image_size;
  } else {
    L.ignore_prefix("vision_model.");
    if (set.has("text_projection.weight")) check_and_ignore(L, "text_projection.weight", {projection, tcfg.hidden_size}, "CLIP");
    if (set.has("visual_projection.weight")) L.ignore("visual_projection.weight");
  }
  if (set.has("logit_scale")) L.ignore("logit_scale");
  L.finish();
  for (int64_t id : {e.tokenizer_->bos_id(), e.tokenizer_->eos_id(), e.tokenizer_->pad_id()})
    if (id >= tcfg.vocab_size)
      fail(e.tokenizer_->path(), "token id " + std::to_string(id) + " is outside the model's vocab_size " + std::to_string(tcfg.vocab_size));
  return e;
}

at::Tensor ClipLTextEncoder::pooled(const std::vector<std::string>& prompts, int64_t max_length) const {
  if (prompts.empty()) fail("CLIP-L", "no prompts");
  if (max_length > text_.cfg.max_position_embeddings)
    fail("CLIP-L", "max_length " + std::to_string(max_length) + " exceeds the model's " + std::to_string(text_.cfg.max_position_embeddings) + " positions");
  const TokenizedBatch tb = tokenizer_->encode_batch(prompts, max_length);
  const int64_t B = static_cast<int64_t>(prompts.size());
  at::Tensor ids = at::empty({B, max_length}, at::kLong), mask = at::empty({B, max_length}, at::kLong);
  for (int64_t b = 0; b < B; ++b) {
    std::copy(tb.ids[b].begin(), tb.ids[b].end(), ids[b].data_ptr<int64_t>());
    std::copy(tb.mask[b].begin(), tb.mask[b].end(), mask[b].data_ptr<int64_t>());
  }
  return text_.pooled(text_.forward(ids, mask), ids).to(at::kFloat);
}

at::Tensor ClipLTextEncoder::text_embeds(const std::vector<std::string>& prompts) const {
  if (!text_projection_.defined()) fail("CLIP-L", "loaded without the projections (load_vision = false)");
  return at::linear(pooled(prompts).to(text_projection_.scalar_type()), text_projection_).to(at::kFloat);
}

at::Tensor ClipLTextEncoder::pixel_values(const at::Tensor& image) const {
  if (!has_vision_) fail("CLIP-L", "loaded without the vision tower");
  return processor_(image);
}

at::Tensor ClipLTextEncoder::image_embeds(const at::Tensor& pixels) const {
  if (!has_vision_) fail("CLIP-L", "loaded without the vision tower");
  at::Tensor h = vision_.forward(pixels, static_cast<int64_t>(vision_.layers.size()));
  at::Tensor cls = at::layer_norm(h.select(1, 0).to(at::kFloat), {h.size(2)}, vision_.post_ln_w.to(at::kFloat),
                                  vision_.post_ln_b.to(at::kFloat), vision_.cfg.layer_norm_eps);
  return at::linear(cls.to(visual_projection_.scalar_type()), visual_projection_).to(at::kFloat);
}

at::Tensor ClipLTextEncoder::token_embeds(const std::string& prompt) const {
  if (!text_projection_.defined()) fail("CLIP-L", "loaded without the projections (load_vision = false)");
  const TokenizedBatch tb = tokenizer_->encode_batch({prompt}, 77);
  const int64_t L = static_cast<int64_t>(tb.ids[0].size());
  at::Tensor ids = at::empty({1, L}, at::kLong), mask = at::empty({1, L}, at::kLong);
  std::copy(tb.ids[0].begin(), tb.ids[0].end(), ids[0].data_ptr<int64_t>());
  std::copy(tb.mask[0].begin(), tb.mask[0].end(), mask[0].data_ptr<int64_t>());
  const at::Tensor h = text_.forward(ids, mask)[0];
  return at::linear(h.to(text_projection_.scalar_type()), text_projection_).to(at::kFloat);
}

at::Tensor ClipLTextEncoder::patch_embeds(const at::Tensor& pixels) const {
  if (!has_vision_) fail("CLIP-L", "loaded without the vision tower");
  const int64_t n = static_cast<int64_t>(vision_.layers.size());
  at::Tensor h = vision_.forward(pixels, std::max<int64_t>(1, n - 1))[0];  // penultimate layer, as LLaVA reads it
  h = h.narrow(0, 1, h.size(0) - 1).to(at::kFloat);
  h = at::layer_norm(h, {h.size(1)}, vision_.post_ln_w.to(at::kFloat), vision_.post_ln_b.to(at::kFloat), vision_.cfg.layer_norm_eps);
  return at::linear(h.to(visual_projection_.scalar_type()), visual_projection_).to(at::kFloat);
}

at::Tensor image_m11_to_u8_hwc(const at::Tensor& image) {
  if (!image.defined() || image.dim() != 3 || image.size(0) != 3) fail("image", "expected [3, H, W] in [-1, 1]");
  return ((image.to(at::kFloat) + 1.0) * 127.5).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
}

// ---- tiny release-layout folders -------------------------------------------------------------------------------------------
namespace {
void write_json(const std::filesystem::path& p, const json& j) {
  std::ofstream f(p);
  if (!f) fail(p.string(), "cannot write");
  f << j.dump(1) << "\n";
}

const char* kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json tiny_llama_tokenizer_json() {
  const auto& bytes = byte_level_alphabet();
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[bytes[b]] = b;
  const std::string nl = bytes['\n'];
  vocab[nl + nl] = 256;  // "\n\n"
  vocab["system"] = 257;  // header words as whole tokens (reached through ignore_merges), as in Llama-3
  vocab["user"] = 258;
  vocab["assistant"] = 259;
  json added = json::array();
  const std::vector<std::string> specials = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                             "<|eot_id|>", "<unk>", "<image>", "<pad>"};
  for (size_t k = 0; k < specials.size(); ++k)
    added.push_back({{"id", 300 + k}, {"content", specials[k]}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
  json bos = {{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Regex}}}, {"behavior", "Isolated"}, {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}}},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single", {bos, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair", {bos, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}, bos, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
            {"special_tokens", {{"<|begin_of_text|>", {{"id", "<|begin_of_text|>"}, {"ids", {300}}, {"tokens", {"<|begin_of_text|>"}}}}}}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", true},
            {"vocab", vocab}, {"merges", {nl + " " + nl}}}}};
}

json processor_json(int64_t size) {
  return {{"crop_size", {{"height", size}, {"width", size}}}, {"do_center_crop", true}, {"do_convert_rgb", true},
          {"do_normalize", true}, {"do_rescale", true}, {"do_resize", true},
          {"image_mean", {0.48145466, 0.4578275, 0.40821073}}, {"image_std", {0.26862954, 0.26130258, 0.27577711}},
          {"image_processor_type", "CLIPImageProcessor"}, {"resample", 3}, {"rescale_factor", 1.0 / 255.0},
          {"size", {{"shortest_edge", size}}}};
}

at::Tensor rnd(const std::vector<int64_t>& s, at::Generator& g, double scale) {
  return at::randn(s, g, at::TensorOptions().dtype(at::kFloat)) * scale;
}
}  // namespace

void write_tiny_text_encoder_folders(const std::string& root, const TinyTextEncoderSpec& s) {
  namespace fs = std::filesystem;
  const fs::path mllm = fs::path(root) / "text_encoder_i2v", clip = fs::path(root) / "text_encoder_2";
  fs::create_directories(mllm);
  fs::create_directories(clip);
  at::Generator gen = at::detail::createCPUGenerator(s.seed + 1000);

  // ---- text_encoder_i2v (LLaVA) ----
  LlamaConfig lc;
  lc.vocab_size = 320;
  lc.hidden_size = s.llm_hidden;
  lc.intermediate_size = s.llm_intermediate;
  lc.num_hidden_layers = s.llm_layers;
  lc.num_attention_heads = s.llm_heads;
  lc.num_key_value_heads = s.llm_kv_heads;
  lc.head_dim = s.llm_hidden / s.llm_heads;
  lc.rms_norm_eps = 1e-5;
  lc.rope_theta = 500000.0;
  HfClipTowerConfig vc;
  vc.hidden_size = s.vision_hidden;
  vc.intermediate_size = 2 * s.vision_hidden;
  vc.num_hidden_layers = s.vision_layers;
  vc.num_attention_heads = s.vision_heads;
  vc.image_size = s.image_size;
  vc.patch_size = s.patch_size;
  vc.projection_dim = s.clip_projection;
  json tj = lc.to_json();
  tj.erase("head_dim");  // LLaVA's text_config leaves defaults out
  tj.erase("attention_bias");
  tj.erase("mlp_bias");
  tj["architectures"] = {"LlamaForCausalLM"};
  tj["bos_token_id"] = 300;
  tj["eos_token_id"] = 301;
  json vj = vc.to_json(true);
  vj["architectures"] = {"CLIPVisionModel"};
  write_json(mllm / "config.json", {{"architectures", {"LlavaForConditionalGeneration"}}, {"ignore_index", -100},
                                     {"image_token_index", 306}, {"model_type", "llava"}, {"pad_token_id", 307},
                                     {"projector_hidden_act", "gelu"}, {"text_config", tj}, {"vision_config", vj},
                                     {"vision_feature_layer", -2}, {"vision_feature_select_strategy", "default"},
                                     {"torch_dtype", "float32"}});
  std::vector<std::pair<std::string, at::Tensor>> w1 = HfClipVision::random_init(vc, s.seed + 1).named_parameters("vision_tower.vision_model.");
  w1.emplace_back("multi_modal_projector.linear_1.weight", rnd({lc.hidden_size, vc.hidden_size}, gen, 1.0 / std::sqrt(double(vc.hidden_size))));
  w1.emplace_back("multi_modal_projector.linear_1.bias", rnd({lc.hidden_size}, gen, 0.05));
  w1.emplace_back("multi_modal_projector.linear_2.weight", rnd({lc.hidden_size, lc.hidden_size}, gen, 1.0 / std::sqrt(double(lc.hidden_size))));
  w1.emplace_back("multi_modal_projector.linear_2.bias", rnd({lc.hidden_size}, gen, 0.05));
  std::vector<std::pair<std::string, at::Tensor>> w2 = LlamaDecoder::random_init(lc, s.seed + 2).named_parameters("language_model.model.");
  w2.emplace_back("language_model.lm_head.weight", rnd({lc.vocab_size, lc.hidden_size}, gen, 1.0 / std::sqrt(double(lc.hidden_size))));
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
  int64_t total = 0;
  for (auto* part : {&w1, &w2})
    for (auto& [n, t] : *part) {
      index["weight_map"][n] = part == &w1 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
      total += t.numel() * 4;
    }
  index["metadata"]["total_size"] = total;
  save_safetensors((mllm / "model-00001-of-00002.safetensors").string(), w1, {{"format", "pt"}});
  save_safetensors((mllm / "model-00002-of-00002.safetensors").string(), w2, {{"format", "pt"}});
  write_json(mllm / "model.safetensors.index.json", index);
  write_json(mllm / "tokenizer.json", tiny_llama_tokenizer_json());
  write_json(mllm / "tokenizer_config.json", {{"bos_token", "<|begin_of_text|>"}, {"eos_token", "<|end_of_text|>"}, {"pad_token", "<pad>"},
                                              {"unk_token", "<unk>"}, {"padding_side", "right"}, {"tokenizer_class", "LlamaTokenizer"},
                                              {"processor_class", "LlavaProcessor"}, {"model_max_length", 1e30}});
  write_json(mllm / "special_tokens_map.json", {{"bos_token", "<|begin_of_text|>"}, {"eos_token", "<|end_of_text|>"},
                                                {"pad_token", "<pad>"}, {"unk_token", "<unk>"}});
  write_json(mllm / "preprocessor_config.json", processor_json(s.image_size));

  // ---- text_encoder_2 (whole CLIP, as openai/clip-vit-large-patch14 ships) ----
  const auto& bytes = byte_level_alphabet();
  json cv = json::object();
  int64_t next = 0;
  for (int b = 0; b < 256; ++b) cv[bytes[b]] = next++;
  for (int b = 0; b < 256; ++b) cv[bytes[b] + "</w>"] = next++;
  const std::vector<std::pair<std::string, std::string>> merges = {{"t", "h"}, {"th", "e</w>"}, {"c", "a"}, {"ca", "t</w>"},
                                                                   {"r", "e"}, {"re", "d</w>"}, {"ca", "t"}};
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [a, b] : merges) {
    if (!cv.contains(a + b)) cv[a + b] = next++;
    merges_txt += a + " " + b + "\n";
  }
  cv["<|startoftext|>"] = next++;
  cv["<|endoftext|>"] = next++;
  HfClipTowerConfig ct;
  ct.hidden_size = s.clip_hidden;
  ct.intermediate_size = 2 * s.clip_hidden;
  ct.num_hidden_layers = s.clip_layers;
  ct.num_attention_heads = s.clip_heads;
  ct.projection_dim = s.clip_projection;
  ct.vocab_size = next;
  ct.max_position_embeddings = 77;
  ct.eos_token_id = 2;  // the legacy value openai/clip-vit-large-patch14 carries (pooled at the largest id)
  HfClipTowerConfig cvis = vc;
  json ctj = ct.to_json(false);
  ctj["bos_token_id"] = 0;
  ctj["pad_token_id"] = 1;
  write_json(clip / "config.json", {{"architectures", {"CLIPModel"}}, {"model_type", "clip"}, {"projection_dim", s.clip_projection},
                                    {"logit_scale_init_value", 2.6592}, {"text_config", ctj}, {"vision_config", cvis.to_json(true)},
                                    {"torch_dtype", "float32"}});
  std::vector<std::pair<std::string, at::Tensor>> cw = HfClipText::random_init(ct, s.seed + 3).named_parameters("text_model.");
  for (auto& kv : HfClipVision::random_init(cvis, s.seed + 4).named_parameters("vision_model.")) cw.push_back(kv);
  cw.emplace_back("text_projection.weight", rnd({s.clip_projection, ct.hidden_size}, gen, 1.0 / std::sqrt(double(ct.hidden_size))));
  cw.emplace_back("visual_projection.weight", rnd({s.clip_projection, cvis.hidden_size}, gen, 1.0 / std::sqrt(double(cvis.hidden_size))));
  cw.emplace_back("logit_scale", at::full({}, 2.6592, at::kFloat));
  save_safetensors((clip / "model.safetensors").string(), cw, {{"format", "pt"}});
  write_json(clip / "vocab.json", cv);
  {
    std::ofstream f(clip / "merges.txt");
    f << merges_txt;
  }
  const json specials = {{"bos_token", "<|startoftext|>"}, {"eos_token", "<|endoftext|>"}, {"pad_token", "<|endoftext|>"},
                         {"unk_token", "<|endoftext|>"}};
  write_json(clip / "special_tokens_map.json", specials);
  json tc = specials;
  tc["model_max_length"] = 77;
  tc["tokenizer_class"] = "CLIPTokenizer";
  write_json(clip / "tokenizer_config.json", tc);
  write_json(clip / "preprocessor_config.json", processor_json(s.image_size));
}

}  // namespace focalscope
