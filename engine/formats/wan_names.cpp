#include "engine/formats/wan_names.h"

#include <cctype>
#include <utility>

namespace focalscope::formats {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// Module renames, diffusers -> Wan, for the part of a name before ".weight" / ".bias" (or the whole name for bare
// parameters). Read off TRANSFORMER_KEYS_RENAME_DICT in diffusers' scripts/convert_wan_to_diffusers.py, inverted.
// That script renames by sequential substring replacement (so "cross_attn.k_img" becomes "attn2.to_k_img", then
// "attn2.add_k_proj"); inverting whole module names avoids re-creating its order dependence.
const std::pair<const char*, const char*> kTop[] = {
    {"condition_embedder.time_embedder.linear_1", "time_embedding.0"},
    {"condition_embedder.time_embedder.linear_2", "time_embedding.2"},
    {"condition_embedder.text_embedder.linear_1", "text_embedding.0"},
    {"condition_embedder.text_embedder.linear_2", "text_embedding.2"},
    {"condition_embedder.time_proj", "time_projection.1"},
    {"condition_embedder.image_embedder.norm1", "img_emb.proj.0"},
    {"condition_embedder.image_embedder.ff.net.0.proj", "img_emb.proj.1"},
    {"condition_embedder.image_embedder.ff.net.2", "img_emb.proj.3"},
    {"condition_embedder.image_embedder.norm2", "img_emb.proj.4"},
    {"condition_embedder.image_embedder.pos_embed", "img_emb.emb_pos"},  // FLF2V only
    {"scale_shift_table", "head.modulation"},
    {"proj_out", "head.head"},
    {"patch_embedding", "patch_embedding"},
};
const std::pair<const char*, const char*> kBlock[] = {
    {"scale_shift_table", "modulation"},
    {"attn1.to_q", "self_attn.q"},       {"attn1.to_k", "self_attn.k"},       {"attn1.to_v", "self_attn.v"},
    {"attn1.to_out.0", "self_attn.o"},   {"attn1.norm_q", "self_attn.norm_q"}, {"attn1.norm_k", "self_attn.norm_k"},
    {"attn2.to_q", "cross_attn.q"},      {"attn2.to_k", "cross_attn.k"},      {"attn2.to_v", "cross_attn.v"},
    {"attn2.to_out.0", "cross_attn.o"},  {"attn2.norm_q", "cross_attn.norm_q"}, {"attn2.norm_k", "cross_attn.norm_k"},
    {"attn2.add_k_proj", "cross_attn.k_img"}, {"attn2.add_v_proj", "cross_attn.v_img"},
    {"attn2.norm_added_k", "cross_attn.norm_k_img"},
    {"ffn.net.0.proj", "ffn.0"},         {"ffn.net.2", "ffn.2"},
    {"norm2", "norm3"},  // the affine cross-attention LayerNorm (see the header)
};

// Splits "module.weight" into ("module", ".weight"); bare parameters (scale_shift_table) keep an empty suffix.
std::pair<std::string, std::string> split_param(const std::string& s) {
  for (const char* suf : {".weight", ".bias"}) {
    const std::string x(suf);
    if (s.size() > x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0) return {s.substr(0, s.size() - x.size()), x};
  }
  return {s, ""};
}

template <std::size_t N>
std::optional<std::string> lookup(const std::pair<const char*, const char*> (&table)[N], const std::string& module) {
  for (const auto& [from, to] : table)
    if (module == from) return std::string(to);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> diffusers_to_wan_name(const std::string& name) {
  if (starts_with(name, "blocks.")) {
    std::size_t i = 7;
    while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
    if (i == 7 || i >= name.size() || name[i] != '.') return std::nullopt;
    const std::string head = name.substr(0, i + 1);  // "blocks.N."
    auto [module, suffix] = split_param(name.substr(i + 1));
    auto to = lookup(kBlock, module);
    if (!to) return std::nullopt;
    // scale_shift_table is a bare parameter; every other block module is a Linear / norm with .weight or .bias.
    if ((*to == "modulation") != suffix.empty()) return std::nullopt;
    return head + *to + suffix;
  }
  auto [module, suffix] = split_param(name);
  auto to = lookup(kTop, module);
  if (!to) return std::nullopt;
  const bool bare = *to == "head.modulation" || *to == "img_emb.emb_pos";
  if (bare != suffix.empty()) return std::nullopt;
  return *to + suffix;
}

std::optional<std::string> wan_key_prefix(const std::vector<std::string>& names) {
  const std::string key = "head.modulation";
  std::optional<std::string> best;
  for (const auto& n : names) {
    if (n.size() < key.size() || n.compare(n.size() - key.size(), key.size(), key) != 0) continue;
    std::string p = n.substr(0, n.size() - key.size());
    if (!p.empty() && p.back() != '.') continue;  // "xhead.modulation" is not ours
    if (!best || p.size() < best->size()) best = p;  // prefer the bare key when both exist
  }
  return best;
}

}  // namespace focalscope::formats
