// libFuzzer: a sharded safetensors checkpoint as a whole (load_sharded_safetensors: the index JSON's weight_map, shard
// names — path traversal, missing and repeated shards —, every shard's header, and the index / shard agreement in
// both directions), then every tensor it hands out. Input layout (so one input is a whole folder):
//   [u16 LE n][n bytes: model.safetensors.index.json][u16 LE m][m bytes: a.safetensors][rest: b.safetensors]
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/core/error.h"
#include "engine/core/weights.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
}

// Takes a u16-length-prefixed part off the front (shorter when the input ends first).
void take(const uint8_t*& data, size_t& size, const uint8_t** part, size_t* part_size) {
  size_t n = 0;
  if (size >= 2) {
    n = data[0] | (size_t(data[1]) << 8);
    data += 2, size -= 2;
  } else {
    data += size, size = 0;
  }
  if (n > size) n = size;
  *part = data, *part_size = n;
  data += n, size -= n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = focalscope::fuzz::input_file("_sharded");
  std::filesystem::create_directories(dir);
  const uint8_t *index, *a;
  size_t index_n, a_n;
  take(data, size, &index, &index_n);
  take(data, size, &a, &a_n);
  write_file(dir + "/model.safetensors.index.json", index, index_n);
  write_file(dir + "/a.safetensors", a, a_n);
  write_file(dir + "/b.safetensors", data, size);
  try {
    const focalscope::TensorSet set = focalscope::load_sharded_safetensors(dir + "/model.safetensors.index.json");
    for (const auto& name : set.names()) {
      const at::Tensor& t = set.get(name);
      if (t.numel() > 0 && t.numel() < (1 << 20)) (void)t.to(at::kDouble).sum();
    }
  } catch (const focalscope::Error&) {
  }
  return 0;
}
