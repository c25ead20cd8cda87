// Finds the files of a DiT checkpoint from their content (magic bytes / headers, not names) and lists their tensors.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/formats/dit_probe.h"

namespace focalscope {
class SafetensorsFile;
}

namespace focalscope::formats {

class GgufFile;

struct CheckpointFiles {
  std::string container;                // "safetensors" | "safetensors shards + index" | "gguf"
  std::vector<std::string> files;       // the weight files, in the order read
  std::vector<TensorMeta> tensors;      // every tensor of every file (names as stored)
  std::map<std::string, std::string> metadata;  // safetensors __metadata__ (merged) or GGUF key/values as text
  std::vector<std::string> notes;       // how the files were found (printed by `info` as reasons)
  std::vector<std::shared_ptr<SafetensorsFile>> safetensors;  // opened (header validated, data mapped)
  std::shared_ptr<GgufFile> gguf;       // when container is "gguf"
};

// What a file is, from its first bytes: "gguf", "safetensors", "json", "zip" (torch.save) or "unknown".
std::string sniff_file(const std::string& path);

// `path`: a weight file, a "*.safetensors.index.json" shard index, or a folder (official release, diffusers pipeline
// root with transformer/, diffusers transformer folder, or any folder whose safetensors files hold the DiT).
// Throws Error naming the path when it holds no weight file.
CheckpointFiles find_checkpoint_files(const std::string& path);

// The safetensors files of any component (no DiT filter): `path` a .safetensors file, a shard index, or a folder
// (its shard index when it has one, else every safetensors file in it, found by content). GGUF is refused here.
CheckpointFiles open_safetensors_files(const std::string& path);

// classify_dit over the files found, with their notes as the first reasons; Error when they hold no Wan DiT.
DitProbe probe_checkpoint(const CheckpointFiles& cf, const std::string& path);

}  // namespace focalscope::formats
