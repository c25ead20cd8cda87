// Writes torch.save-format checkpoints for tests, from the format's description (a zip with <stem>/data.pkl, a
// protocol-2 pickle of OrderedDicts and torch._utils._rebuild_tensor_v2 calls with persistent-id storages, and one
// raw little-endian record per storage under <stem>/data/<key>), through libtorch's own zip writer. Not the
// loader's code: a test that reads these files back checks the loader against the format.
#pragma once
#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace focalscope::testing {

class PickleBytes {
 public:
  PickleBytes& op(char c) { b_.push_back(c); return *this; }
  PickleBytes& proto() { b_ += "\x80\x02"; return *this; }
  PickleBytes& global(const std::string& module, const std::string& name) { b_ += "c" + module + "\n" + name + "\n"; return *this; }
  PickleBytes& str(const std::string& s) {
    op('X');
    for (int k = 0; k < 4; ++k) b_.push_back(static_cast<char>((s.size() >> (8 * k)) & 0xff));
    b_ += s;
    return *this;
  }
  PickleBytes& integer(int64_t v) {  // LONG1 with 8 little-endian bytes: valid for every value
    b_ += "\x8a\x08";
    for (int k = 0; k < 8; ++k) b_.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 0xff));
    return *this;
  }
  PickleBytes& ints(at::IntArrayRef v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  PickleBytes& ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  const std::string& bytes() const { return b_; }

 private:
  std::string b_;
};

// One dict level of the checkpoint: either tensors (an OrderedDict state dict) or, under `key`, a nested one.
struct CheckpointEntry {
  std::string key;
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // a state dict (when `text` is empty)
  std::string text;                                          // a plain str value instead (e.g. "ds_version")
};

inline const char* storage_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "FloatStorage";
    case at::kHalf: return "HalfStorage";
    case at::kBFloat16: return "BFloat16Storage";
    case at::kDouble: return "DoubleStorage";
    default: return "FloatStorage";
  }
}

// top level: a dict of entries (each a state dict or a str), or, with `flat`, the one state dict itself.
inline void write_torch_checkpoint(const std::string& path, const std::vector<CheckpointEntry>& entries, bool flat = false) {
  PickleBytes p;
  std::vector<std::pair<std::string, std::string>> records;
  auto state_dict = [&](const std::vector<std::pair<std::string, at::Tensor>>& ts) {
    p.ordered_dict().op('(');
    for (const auto& [name, t0] : ts) {
      const at::Tensor t = t0.contiguous().cpu();
      const std::string key = std::to_string(records.size());
      records.emplace_back("data/" + key, std::string(static_cast<const char*>(t.data_ptr()), t.nbytes()));
      p.str(name).global("torch._utils", "_rebuild_tensor_v2").op('(');
      p.op('(').str("storage").global("torch", storage_type(t.scalar_type())).str(key).str("cpu").integer(t.numel()).op('t').op('Q');
      p.integer(0).ints(t.sizes()).ints(t.strides()).op('\x89').ordered_dict().op('t').op('R');
    }
    p.op('u');
  };
  p.proto();
  if (flat) {
    state_dict(entries.at(0).tensors);
  } else {
    p.op('}').op('(');
    for (const auto& e : entries) {
      p.str(e.key);
      if (!e.text.empty()) p.str(e.text);
      else state_dict(e.tensors);
    }
    p.op('u');
  }
  p.op('.');
  std::string buf;
  {
    caffe2::serialize::PyTorchStreamWriter w([&](const void* d, size_t n) {
      buf.append(static_cast<const char*>(d), n);
      return n;
    });
    w.writeRecord("data.pkl", p.bytes().data(), p.bytes().size());
    for (const auto& [name, bytes] : records) w.writeRecord(name, bytes.data(), bytes.size());
    w.writeEndOfFile();
  }
  std::ofstream(path, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(buf.size()));
}

}  // namespace focalscope::testing
