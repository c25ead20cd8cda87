// A whole file mapped read-only (mmap, MAP_PRIVATE): the safetensors and .pth readers hand out tensors that point
// straight into it (kept alive by the tensors' deleters), so weights go from the page cache to their target dtype
// and device without an extra host copy.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace focalscope {

class MappedFile {
 public:
  // Throws Error("<path>: cannot open / stat / mmap ...", "not a regular file").
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace focalscope
