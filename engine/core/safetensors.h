// safetensors reader (memory-mapped, fully validated) and writer.
//
// Format: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
// then the data section; offsets are relative to the start of the data section.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/dtype.h"

namespace focalscope {

struct TensorEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte span inside the data section
  int64_t numel() const;
};

class MappedFile;  // read-only mmap (engine/core/mapped_file.h)

class SafetensorsFile {
 public:
  // Maps and validates the file; throws focalscope::Error naming the file (and tensor) on any problem:
  // header length beyond the file, invalid JSON, unknown dtype, bad shape, offsets outside the data
  // section or overlapping, shape x dtype size != byte span.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<TensorEntry>& entries() const { return entries_; }  // sorted by offset
  const TensorEntry* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Zero-copy CPU tensor over the mapped bytes; it keeps the mapping alive. Treat it as read-only.
  at::Tensor tensor(const std::string& name) const;
  at::Tensor tensor(const TensorEntry& e) const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> map_;
  const unsigned char* data_ = nullptr;  // start of the data section
  std::vector<TensorEntry> entries_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any device / dtype safetensors can hold; made contiguous on CPU) in the given order.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace focalscope
