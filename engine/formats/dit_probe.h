// What a Wan DiT checkpoint is, found from its content (magic bytes, tensor names, shapes, dtypes, header metadata),
// never from file names: the layout (official Wan names / ComfyUI single file / diffusers / GGUF), the architecture
// and variant, the dimensions, and how the weights are stored (dtype or quantisation). `focalscope info --dit` prints
// it with the reasons; load_wan_dit_weights (dit_weights.h) follows it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace focalscope::formats {

// One tensor as a file header describes it (safetensors dtype names; GGUF type names such as "Q4_K").
struct TensorMeta {
  std::string name;  // as stored (prefix included)
  std::string dtype;
  std::vector<int64_t> shape;
  std::string file;
};

struct DitProbe {
  std::string path;                // what was given
  std::vector<std::string> files;  // weight files that hold the DiT
  std::string container;           // "safetensors" | "safetensors shards + index" | "gguf"
  std::string layout;              // "wan-official" | "comfyui" | "diffusers" | "gguf"
  std::string naming;              // "official" (Wan's state-dict names) | "diffusers"
  std::string prefix;              // stripped in front of every DiT key ("" when bare)
  std::string arch;                // "Wan2.1 DiT" when the keys are Wan's, else "unknown"
  std::string variant;             // "I2V (CLIP image branch)", "T2V", ...
  int64_t dim = 0, in_dim = 0, out_dim = 0, ffn_dim = 0, text_dim = 0, freq_dim = 0, num_layers = 0;
  int64_t num_heads = 0;           // dim / 128 by Wan's convention (not stored); 0 when dim is not a multiple of 128
  std::map<std::string, int64_t> tensors_by_dtype, params_by_dtype;
  std::string storage;             // "BF16", "fp8 e4m3fn, scaled (legacy ...)", "GGUF Q4_K + F32", ...
  int64_t other_tensors = 0;       // tensors outside the DiT prefix (other components of a full checkpoint)
  std::vector<std::string> reasons;  // why: one line per finding
  bool is_wan_dit() const { return arch != "unknown"; }
};

// Classifies a tensor list (the header of one or several files). `metadata` is the safetensors "__metadata__" of the
// files (merged) or the GGUF key/values rendered as strings. Pure function: the unit tests feed it synthetic headers.
DitProbe classify_dit(const std::vector<TensorMeta>& tensors, const std::map<std::string, std::string>& metadata);

// Reads headers only (memory-mapped) of `path` — a .safetensors / .gguf file, a shard index, an official release
// folder, a diffusers pipeline folder (its transformer/) or a diffusers transformer folder — and classifies them.
// Throws Error "<path>: ..." when nothing there holds a Wan DiT.
DitProbe probe_dit(const std::string& path);

// The multi-line report `focalscope info` prints.
std::string describe_probe(const DitProbe& p);

}  // namespace focalscope::formats
