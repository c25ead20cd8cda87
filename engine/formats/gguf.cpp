#include "engine/formats/gguf.h"

#include <cerrno>
#include <cstdlib>

#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/core/error.h"
#include "engine/core/mapped_file.h"

namespace focalscope::formats {

std::string ggml_type_name(uint32_t t) {
  switch (t) {
    case GGML_F32: return "F32";
    case GGML_F16: return "F16";
    case GGML_BF16: return "BF16";
    case GGML_Q4_0: return "Q4_0";
    case GGML_Q4_1: return "Q4_1";
    case GGML_Q5_0: return "Q5_0";
    case GGML_Q5_1: return "Q5_1";
    case GGML_Q8_0: return "Q8_0";
    case GGML_Q2_K: return "Q2_K";
    case GGML_Q3_K: return "Q3_K";
    case GGML_Q4_K: return "Q4_K";
    case GGML_Q5_K: return "Q5_K";
    case GGML_Q6_K: return "Q6_K";
    default: return "type" + std::to_string(t);
  }
}

bool ggml_block_layout(uint32_t t, int64_t& be, int64_t& bb) {
  // Sizes of ggml-common.h's block structs (the K-quants: QK_K = 256 elements per super-block).
  switch (t) {
    case GGML_F32: be = 1; bb = 4; return true;
    case GGML_F16: case GGML_BF16: be = 1; bb = 2; return true;
    case GGML_Q4_0: be = 32; bb = 2 + 16; return true;         // d, qs[16]
    case GGML_Q4_1: be = 32; bb = 2 + 2 + 16; return true;     // d, m, qs[16]
    case GGML_Q5_0: be = 32; bb = 2 + 4 + 16; return true;     // d, qh[4], qs[16]
    case GGML_Q5_1: be = 32; bb = 2 + 2 + 4 + 16; return true; // d, m, qh[4], qs[16]
    case GGML_Q8_0: be = 32; bb = 2 + 32; return true;         // d, qs[32]
    case GGML_Q2_K: be = 256; bb = 16 + 64 + 2 + 2; return true;        // scales[16], qs[64], d, dmin
    case GGML_Q3_K: be = 256; bb = 32 + 64 + 12 + 2; return true;       // hmask[32], qs[64], scales[12], d
    case GGML_Q4_K: be = 256; bb = 2 + 2 + 12 + 128; return true;       // d, dmin, scales[12], qs[128]
    case GGML_Q5_K: be = 256; bb = 2 + 2 + 12 + 32 + 128; return true;  // d, dmin, scales[12], qh[32], qs[128]
    case GGML_Q6_K: be = 256; bb = 128 + 64 + 16 + 2; return true;      // ql[128], qh[64], scales[16], d
    default: return false;
  }
}

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

// Bounds-checked cursor over the mapped bytes; every read names the file when it would run past the end.
struct GgufParser {
  const std::string& path;
  const uint8_t* p;
  const uint8_t* end;
  const uint8_t* begin;

  [[noreturn]] void short_read(const std::string& what) const {
    fail(path, "truncated GGUF header: " + what + " runs past the end of the file (offset " + std::to_string(p - begin) + ")");
  }
  template <class T>
  T get(const std::string& what) {
    if (static_cast<std::size_t>(end - p) < sizeof(T)) short_read(what);
    T v;
    std::memcpy(&v, p, sizeof(T));  // GGUF is little-endian, as every host this project targets
    p += sizeof(T);
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t n = get<uint64_t>(what + " length");
    if (n > static_cast<uint64_t>(end - p)) short_read(what);
    std::string s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  // Reads one value of `type`; returns a text rendering, and the integers of INT arrays in `ints`.
  std::string value(uint32_t type, const std::string& key, std::vector<int64_t>* ints, int depth = 0) {
    switch (type) {
      case 0: return std::to_string(get<uint8_t>(key));
      case 1: return std::to_string(get<int8_t>(key));
      case 2: return std::to_string(get<uint16_t>(key));
      case 3: return std::to_string(get<int16_t>(key));
      case 4: return std::to_string(get<uint32_t>(key));
      case 5: return std::to_string(get<int32_t>(key));
      case 6: return std::to_string(get<float>(key));
      case 7: return get<uint8_t>(key) ? "true" : "false";
      case 8: return str(key);
      case 10: return std::to_string(get<uint64_t>(key));
      case 11: return std::to_string(get<int64_t>(key));
      case 12: return std::to_string(get<double>(key));
      case 9: {
        if (depth > 2) fail(path, "metadata '" + key + "': arrays nested too deep");
        const uint32_t et = get<uint32_t>(key + " array type");
        const uint64_t n = get<uint64_t>(key + " array length");
        if (n > static_cast<uint64_t>(end - p)) short_read(key + " array");  // every item takes at least one byte
        const bool integer = et == 4 || et == 5 || et == 10 || et == 11;
        for (uint64_t i = 0; i < n; ++i) {
          std::string v = value(et, key, nullptr, depth + 1);
          if (ints && integer) {  // a uint64 above INT64_MAX is refused, not thrown as std::out_of_range (fuzz_gguf)
            errno = 0;
            char* e = nullptr;
            const long long x = std::strtoll(v.c_str(), &e, 10);
            if (errno == ERANGE || !e || *e) fail(path, "metadata '" + key + "': integer " + v + " does not fit in int64");
            ints->push_back(x);
          }
        }
        return "[" + std::to_string(n) + " items]";
      }
      default: fail(path, "metadata '" + key + "' has unknown value type " + std::to_string(type));
    }
  }
};

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  auto f = std::shared_ptr<GgufFile>(new GgufFile());
  f->path_ = path;
  f->map_ = std::make_shared<MappedFile>(path);
  GgufParser r{path, f->map_->data(), f->map_->data() + f->map_->size(), f->map_->data()};
  if (f->map_->size() < 4 || std::memcmp(r.p, "GGUF", 4) != 0) fail(path, "not a GGUF file (no 'GGUF' magic)");
  r.p += 4;
  f->version_ = r.get<uint32_t>("version");
  if (f->version_ != 2 && f->version_ != 3)
    fail(path, "GGUF version " + std::to_string(f->version_) + " (this reader supports 2 and 3)");
  const uint64_t n_tensors = r.get<uint64_t>("tensor count");
  const uint64_t n_kv = r.get<uint64_t>("key/value count");
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = r.str("metadata key");
    const uint32_t type = r.get<uint32_t>("metadata '" + key + "' type");
    std::vector<int64_t> ints;
    const std::string v = r.value(type, key, &ints);
    const std::string pre = "comfy.gguf.orig_shape.";
    if (key.rfind(pre, 0) == 0) {
      if (type != 9 || ints.empty()) fail(path, "metadata '" + key + "': expected an array of integers (city96's orig_shape)");
      f->orig_shapes_[key.substr(pre.size())] = ints;
      std::string s = "[";
      for (std::size_t k = 0; k < ints.size(); ++k) s += (k ? "," : "") + std::to_string(ints[k]);
      f->meta_[key] = s + "]";
    } else {
      f->meta_[key] = v;
    }
    if (key == "general.alignment") {
      if (type != 4) fail(path, "metadata 'general.alignment' must be UINT32");
      alignment = std::stoull(v);
      if (alignment == 0 || (alignment & (alignment - 1))) fail(path, "general.alignment " + v + " is not a power of two");
    }
  }
  if (n_tensors > static_cast<uint64_t>(r.end - r.p)) r.short_read("tensor table");
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = r.str("tensor name");
    const std::string where = path + ": tensor '" + t.name + "'";
    const uint32_t nd = r.get<uint32_t>("tensor '" + t.name + "' dims");
    if (nd == 0 || nd > 8) fail(where, std::to_string(nd) + " dimensions (expected 1..8)");
    for (uint32_t d = 0; d < nd; ++d) {
      const uint64_t v = r.get<uint64_t>("tensor '" + t.name + "' shape");
      if (v == 0 || v > (uint64_t(1) << 40)) fail(where, "dimension " + std::to_string(v) + " is out of range");
      t.ne.push_back(static_cast<int64_t>(v));
    }
    t.type = r.get<uint32_t>("tensor '" + t.name + "' type");
    t.offset = r.get<uint64_t>("tensor '" + t.name + "' offset");
    int64_t be = 0, bb = 0;
    if (!ggml_block_layout(t.type, be, bb)) fail(where, "ggml type " + ggml_type_name(t.type) + " is not supported");
    long double elems = 1;
    for (auto d : t.ne) elems *= d;
    if (elems > 1e15L) fail(where, "absurd element count");
    if (t.ne[0] % be != 0)
      fail(where, "first dimension " + std::to_string(t.ne[0]) + " is not a multiple of the " + ggml_type_name(t.type) +
                      " block of " + std::to_string(be) + " elements");
    t.nbytes = static_cast<uint64_t>(t.numel() / be) * static_cast<uint64_t>(bb);
    if (f->index_.count(t.name)) fail(where, "appears twice in the tensor table");
    f->index_[t.name] = f->tensors_.size();
    f->tensors_.push_back(std::move(t));
  }
  const uint64_t header_end = static_cast<uint64_t>(r.p - r.begin);
  const uint64_t data_start = (header_end + alignment - 1) / alignment * alignment;
  const uint64_t fsize = f->map_->size();
  for (auto& t : f->tensors_) {
    const std::string where = path + ": tensor '" + t.name + "'";
    if (t.offset % alignment != 0) fail(where, "data offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(alignment));
    if (data_start > fsize || t.offset > fsize - data_start || t.nbytes > fsize - data_start - t.offset)
      fail(where, ggml_type_name(t.type) + " data of " + std::to_string(t.nbytes) + " bytes at offset " + std::to_string(t.offset) +
                      " runs past the end of the file (size disagrees with its type and shape, or the file is truncated)");
    t.data = f->map_->data() + data_start + t.offset;
    auto os = f->orig_shapes_.find(t.name);
    if (os != f->orig_shapes_.end()) {
      int64_t n = 1;
      for (auto d : os->second) {
        if (d <= 0) fail(where, "comfy.gguf.orig_shape has a non-positive dimension");
        // A product past int64 cannot match the tensor's element count (found by fuzz_gguf: signed overflow).
        if (__builtin_mul_overflow(n, d, &n)) fail(where, "comfy.gguf.orig_shape's element count overflows");
      }
      if (n != t.numel())
        fail(where, "comfy.gguf.orig_shape holds " + std::to_string(n) + " elements but the tensor stores " + std::to_string(t.numel()));
      t.shape = os->second;
    } else {
      t.shape.assign(t.ne.rbegin(), t.ne.rend());
    }
  }
  // Overlapping tensor data means a corrupt table.
  std::vector<const GgufTensor*> order;
  for (const auto& t : f->tensors_) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (std::size_t i = 1; i < order.size(); ++i)
    if (order[i]->offset < order[i - 1]->offset + order[i - 1]->nbytes)
      fail(path + ": tensor '" + order[i]->name + "'", "data overlaps tensor '" + order[i - 1]->name + "'");
  for (const auto& [name, s] : f->orig_shapes_)
    if (!f->index_.count(name)) fail(path, "comfy.gguf.orig_shape." + name + " names no tensor in the file");
  return f;
}

const GgufTensor* GgufFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace focalscope::formats
