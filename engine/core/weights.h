// Named tensors gathered from checkpoint files, and the strict loader models use to claim them.
//
// A model's loader asks for every tensor by its upstream state-dict name and expected shape; the first
// missing, misshaped or wrongly typed tensor is reported with the file it came from, and after loading
// any tensor nobody claimed is reported as unexpected (llama.cpp style: check everything, name the culprit).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace focalscope {

class TensorSet {
 public:
  void add(const std::string& name, const at::Tensor& t, const std::string& source_file);
  bool has(const std::string& name) const { return items_.count(name) != 0; }
  const at::Tensor& get(const std::string& name) const;  // throws Error if absent
  const std::string& source(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  // Describes where the set came from ("a.safetensors" or "dir/x.index.json"), for messages.
  std::string origin;

  // Keeps tensors whose name starts with prefix, with the prefix removed ("visual." for CLIP).
  TensorSet with_prefix(const std::string& prefix) const;

 private:
  struct Item { at::Tensor t; std::string source; };
  std::map<std::string, Item> items_;
};

// Single safetensors file (zero-copy, memory-mapped).
TensorSet load_safetensors(const std::string& path);
// Sharded checkpoint: "*.safetensors.index.json" with {"weight_map": {name: shard}}; every shard is
// validated and every name in the map must be found in its shard (and nowhere else).
TensorSet load_sharded_safetensors(const std::string& index_json_path);
// PyTorch zip checkpoint (torch.save of a state dict), read in C++ (see pth.h).
TensorSet load_pth(const std::string& path);
// Dispatch on the file name: *.safetensors, *.index.json, *.pth / *.pt / *.bin.
TensorSet load_tensor_file(const std::string& path);

class WeightLoader {
 public:
  // `what` names the component in messages ("DiT", "umT5"); tensors are converted to dtype/device on take.
  WeightLoader(const TensorSet& set, std::string what, c10::ScalarType dtype = c10::ScalarType::Float,
               c10::Device device = c10::Device(c10::DeviceType::CPU));

  // Claims `name` (relative to the current prefix). Throws Error "<file>: <what> tensor 'name' ..." when it
  // is missing, has another shape, or is not a floating-point tensor.
  at::Tensor take(const std::string& name, const std::vector<int64_t>& shape);
  // Same, but keeps the tensor's own dtype (for integer buffers).
  at::Tensor take_raw(const std::string& name, const std::vector<int64_t>& shape);
  bool has(const std::string& name) const;
  // Shape of a tensor without claiming it (for reading dimensions off the checkpoint).
  std::vector<int64_t> shape_of(const std::string& name) const;
  // Size of dimension `d` of a tensor; throws Error naming the file and tensor when it has fewer dimensions.
  int64_t dim_of(const std::string& name, std::size_t d) const;

  void ignore(const std::string& name);            // an expected tensor we do not use
  void ignore_prefix(const std::string& prefix);   // e.g. "textual." (CLIP text tower)
  // Throws Error naming the first tensor never claimed or ignored.
  void finish() const;

  c10::ScalarType dtype() const { return dtype_; }
  c10::Device device() const { return device_; }

 private:
  std::string where(const std::string& name) const;
  const TensorSet& set_;
  std::string what_;
  c10::ScalarType dtype_;
  c10::Device device_;
  std::set<std::string> claimed_;
  std::vector<std::string> ignored_prefixes_;
};

std::string shape_str(const std::vector<int64_t>& shape);  // "[96,36,1,2,2]"
std::string shape_str(at::IntArrayRef shape);

}  // namespace focalscope
