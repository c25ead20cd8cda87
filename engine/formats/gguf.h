// GGUF reader (torch-free): header, key/values and tensor table of a memory-mapped .gguf file, fully validated.
//
// Layout (ggml docs/gguf.md, version 2 and 3): "GGUF", u32 version, u64 tensor count, u64 key/value count; key/values
// (u64-length string key, u32 value type, value); tensor infos (name, u32 n_dims, u64 ne[n_dims] with ne[0] the fastest
// dimension, u32 ggml type, u64 offset into the data section); the data section starts at the next multiple of
// general.alignment (default 32). ComfyUI-GGUF conventions (city96, tools/convert.py / loader.py): tensors may be stored
// reshaped, with their torch shape in "comfy.gguf.orig_shape.<name>" (array of INT32); the 5-D patch embedding, which
// ggml itself cannot hold (GGML_MAX_DIMS 4), is added afterwards as an F32 tensor with five dimensions
// (tools/fix_5d_tensors.py), so this reader accepts up to 8 dimensions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace focalscope {
class MappedFile;
}

namespace focalscope::formats {

// ggml_type codes (ggml.h) of the types this project reads.
enum GgmlType : uint32_t {
  GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q5_0 = 6, GGML_Q5_1 = 7, GGML_Q8_0 = 8,
  GGML_Q2_K = 10, GGML_Q3_K = 11, GGML_Q4_K = 12, GGML_Q5_K = 13, GGML_Q6_K = 14, GGML_BF16 = 30,
};
// "Q4_K", "F32", ... ; "type<N>" for codes this reader does not know.
std::string ggml_type_name(uint32_t type);
// Elements per block and bytes per block (ggml-common.h block structs); false for unsupported types.
bool ggml_block_layout(uint32_t type, int64_t& block_elems, int64_t& block_bytes);

struct GgufTensor {
  std::string name;
  uint32_t type = 0;
  std::vector<int64_t> ne;     // ggml order (ne[0] fastest)
  std::vector<int64_t> shape;  // torch order: comfy.gguf.orig_shape when present, else ne reversed
  uint64_t offset = 0;         // into the data section
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;
  int64_t numel() const;
};

class GgufFile {
 public:
  // Throws Error "<path>: ..." / "<path>: tensor '<name>': ..." on any inconsistency: bad magic or version, strings or
  // arrays running past the file, unknown value types, unsupported tensor types, a tensor whose byte size disagrees
  // with its type and shape, data outside the file, an orig_shape with another element count.
  static std::shared_ptr<GgufFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(const std::string& name) const;
  // Key/values as text (strings as-is, numbers printed, arrays as "[n items]" except short INT arrays).
  const std::map<std::string, std::string>& metadata_text() const { return meta_; }

 private:
  std::string path_;
  uint32_t version_ = 0;
  std::shared_ptr<MappedFile> map_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> meta_;
  std::map<std::string, std::vector<int64_t>> orig_shapes_;
  friend struct GgufParser;
};

}  // namespace focalscope::formats
