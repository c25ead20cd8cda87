// The other components of a Wan I2V set in the layouts users have, found from their content and mapped back to the
// official Wan names (what UMT5Encoder / ClipVision / WanVAE claim):
//
//   umT5 encoder   official (models_t5_umt5-xxl-enc-bf16.pth: token_embedding, blocks.N.attn.q, ...);
//                  Hugging Face T5 names (ComfyUI umt5_xxl_fp16 / fp8_e4m3fn_scaled single files, diffusers
//                  text_encoder/ = transformers UMT5EncoderModel): shared / encoder.block.N.layer.0.SelfAttention.q ...
//   CLIP vision    official (visual.* of the open-clip-xlm-roberta .pth: cls_embedding, transformer.N.attn.to_qkv ...);
//                  Hugging Face CLIP-vision names (ComfyUI clip_vision_h, diffusers image_encoder/ =
//                  CLIPVisionModelWithProjection): vision_model.embeddings.class_embedding, ...self_attn.q_proj ...
//   VAE            official (Wan2.1_VAE.pth; ComfyUI wan_2.1_vae.safetensors keeps these names);
//                  diffusers AutoencoderKLWan (vae/): encoder.conv_in, decoder.up_blocks.I.resnets.J ...
//
// Tensors that change shape or order on the way back (documented in docs/real_weights.md):
//   CLIP  q_proj/k_proj/v_proj [D,D] (+ biases) -> to_qkv [3D,D] concatenated in the order q, k, v;
//         class_embedding [D] -> cls_embedding [1,1,D]; position_embedding.weight [P,D] -> pos_embedding [1,P,D];
//         visual_projection.weight [E,D] (nn.Linear) -> head [D,E] (transposed).
//   umT5  no shape change; wi_0 (the GELU'd branch) is Wan's ffn.gate.0, wi_1 is ffn.fc1, wo is ffn.fc2.
//   VAE   no shape change; diffusers regroups the decoder's flat upsamples list into up_blocks (resnets + one
//         upsampler each): up_blocks.I.resnets.J = upsamples.(base_I + J), up_blocks.I.upsamplers.0 = the entry after.
//
// fp8 / scaled-fp8 storage is decoded as for the DiT (safetensors_decode.h); lossless storage is handed over as stored.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/core/weights.h"

namespace focalscope::formats {

struct ComponentProbe {
  std::string path;
  std::string component;  // "dit" | "umt5" | "clip-vision" | "vae" | "unknown"
  std::string naming;     // "official" | "hf-t5" | "hf-clip" | "diffusers" (DiT / VAE)
  std::string prefix;     // stripped in front of every key of the component
  std::string container;  // "safetensors", "safetensors shards + index", "torch zip (.pth)", "gguf"
  std::vector<std::string> files;
  std::map<std::string, int64_t> tensors_by_dtype;
  std::vector<std::string> reasons;
  std::string summary() const;  // one line: component, naming, prefix, dtypes
};

// Classifies a tensor-name list (pure; the tests feed it synthetic headers). DiT names are recognised as "dit" but
// described in detail by dit_probe.h.
ComponentProbe classify_component(const std::vector<std::string>& names);

// Reads headers only (safetensors / GGUF; a .pth is read whole) of a file or folder and classifies it.
ComponentProbe probe_component(const std::string& path);

// The weights under Wan's official names (no "visual." prefix for CLIP). Throw Error with one line naming the file
// and tensor for a name with no Wan counterpart, a missing partner tensor (q_proj without k_proj), a bad shape, or a
// file that holds another component.
TensorSet load_umt5_weights(const std::string& path, ComponentProbe* probe = nullptr);
TensorSet load_clip_vision_weights(const std::string& path, ComponentProbe* probe = nullptr);
TensorSet load_vae_weights(const std::string& path, ComponentProbe* probe = nullptr);

}  // namespace focalscope::formats
