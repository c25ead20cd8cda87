// Wan DiT tensor names across checkpoint layouts (torch-free).
//
// The official Wan2.1 state dict (wan/modules/model.py) is the reference naming; ComfyUI's single files use the same
// names, possibly under "model.diffusion_model."; diffusers' WanTransformer3DModel renames almost every module
// (scripts/convert_wan_to_diffusers.py, TRANSFORMER_KEYS_RENAME_DICT). These helpers map a name back to the official
// one, so every loader hands WanModel::load the names it expects.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace focalscope::formats {

// Diffusers name -> official Wan name; nullopt when the name is not part of a Wan2.1 transformer.
// No tensor changes shape under this mapping (the diffusers modules keep Wan's shapes, e.g. scale_shift_table
// [1,6,dim] = modulation); the one reordering is the norms: diffusers' affine norm2 is Wan's norm3 (the cross-attention
// norm), because diffusers numbers the norms in call order (norm1, cross-attn norm, FFN norm).
std::optional<std::string> diffusers_to_wan_name(const std::string& name);

// The prefix in front of "head.modulation" among `names` ("" when the key is bare, nullopt when absent):
// ComfyUI stores the DiT of a full checkpoint under "model.diffusion_model." and some files under "diffusion_model.".
std::optional<std::string> wan_key_prefix(const std::vector<std::string>& names);

}  // namespace focalscope::formats
