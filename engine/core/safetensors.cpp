#include "engine/core/safetensors.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/core/error.h"
#include "engine/core/json_io.h"
#include "engine/core/limits.h"
#include "engine/core/mapped_file.h"

namespace focalscope {

namespace {
std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}
}  // namespace

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (auto s : shape)
    if (s == 0) return 0;  // checked first: a zero dimension must not follow an overflowing product
  for (auto s : shape) n *= s;
  return n;
}


std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  f->path_ = path;
  f->map_ = std::make_shared<MappedFile>(path);
  const std::size_t fsize = f->map_->size();
  if (fsize < 8) fail(path, "not a safetensors file: " + std::to_string(fsize) + " bytes, shorter than the 8-byte header length");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | f->map_->data()[i];
  if (hlen > fsize - 8)
    fail(path, "header length " + std::to_string(hlen) + " exceeds the file size " + std::to_string(fsize) + " (truncated or not safetensors)");
  if (hlen > limits::kSafetensorsMaxHeaderBytes)
    fail(path, "header length " + std::to_string(hlen) + " exceeds the limit of " + std::to_string(limits::kSafetensorsMaxHeaderBytes) + " bytes");
  if (hlen < 2) fail(path, "header of " + std::to_string(hlen) + " bytes cannot hold a JSON object (not safetensors)");
  const char* hbeg = reinterpret_cast<const char*>(f->map_->data() + 8);
  JsonReadOptions jo;
  jo.subject = "header";
  jo.max_bytes = limits::kSafetensorsMaxHeaderBytes;
  jo.max_depth = 4;  // {name: {"shape": [..]}} and {"__metadata__": {..}}
  // Duplicate tensor names are refused here (the JSON library would keep the last one silently).
  const nlohmann::json header = parse_json_text(std::string_view(hbeg, hlen), path, jo);
  if (!header.is_object()) fail(path, "header is not a JSON object (it is " + json_kind(header) + ")");
  if (header.size() > limits::kTensorMaxCount + 1)
    fail(path, "header lists " + std::to_string(header.size()) + " tensors, more than the limit of " + std::to_string(limits::kTensorMaxCount));
  const uint64_t data_size = fsize - 8 - hlen;
  f->data_ = f->map_->data() + 8 + hlen;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) fail(path, "__metadata__ is not an object (it is " + json_kind(*it) + ")");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(path, "__metadata__ value '" + m.key() + "' is not a string (it is " + json_kind(*m) + ")");
        f->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    if (name.empty()) fail(path, "a tensor has an empty name");
    if (name.size() > limits::kTensorMaxNameBytes)
      fail(path, "a tensor name of " + std::to_string(name.size()) + " bytes exceeds the limit of " + std::to_string(limits::kTensorMaxNameBytes));
    const std::string where = path + ": tensor '" + name + "'";
    const auto& v = *it;
    if (!v.is_object()) fail(where, "entry is " + json_kind(v) + ", expected an object with dtype, shape and data_offsets");
    for (auto k = v.begin(); k != v.end(); ++k)
      if (k.key() != "dtype" && k.key() != "shape" && k.key() != "data_offsets")
        fail(where, "unexpected field '" + k.key() + "' (a tensor entry has dtype, shape and data_offsets)");
    if (!v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(where, "entry needs dtype, shape and data_offsets");
    if (!v["dtype"].is_string()) fail(where, "dtype is " + json_kind(v["dtype"]) + ", not a string");
    TensorEntry e;
    e.name = name;
    auto dt = parse_dtype(v["dtype"].get<std::string>());
    if (!dt) fail(where, "unknown dtype '" + v["dtype"].get<std::string>() + "'");
    e.dtype = *dt;
    if (!v["shape"].is_array()) fail(where, "shape is " + json_kind(v["shape"]) + ", not an array");
    if (v["shape"].size() > static_cast<std::size_t>(limits::kTensorMaxRank))
      fail(where, "shape has " + std::to_string(v["shape"].size()) + " dimensions, more than the limit of " + std::to_string(limits::kTensorMaxRank));
    for (const auto& s : v["shape"]) {
      if (!s.is_number_integer()) fail(where, "shape has a non-integer dimension (" + json_detail::one_line(s.dump(), 40) + ")");
      if (!s.is_number_unsigned() && s.get<int64_t>() < 0) fail(where, "shape has a negative dimension (" + s.dump() + ")");
      if (s.is_number_unsigned() && s.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        fail(where, "shape has a dimension beyond 2^63 (" + s.dump() + ")");
      e.shape.push_back(s.get<int64_t>());
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(where, "data_offsets must be two non-negative integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end) fail(where, "data_offsets begin > end");
    if (e.end > data_size)
      fail(where, "data_offsets [" + std::to_string(e.begin) + "," + std::to_string(e.end) + ") run past the data section of " +
                      std::to_string(data_size) + " bytes (file truncated?)");
    // numel * size with exact overflow checks: a product beyond 2^64 can never match a span inside the file.
    unsigned __int128 expect = dtype_size(e.dtype);
    bool huge = false;
    for (auto s : e.shape) {
      expect *= static_cast<unsigned __int128>(s);
      if (expect > (static_cast<unsigned __int128>(1) << 64)) huge = true, expect = static_cast<unsigned __int128>(1) << 64;
    }
    if (expect == 0) huge = false;
    if (huge || expect != static_cast<unsigned __int128>(e.end - e.begin))
      fail(where, "shape " + shape_text(e.shape) + " x " + dtype_name(e.dtype) + " needs " +
                      (huge ? std::string("more than 2^64") : std::to_string(static_cast<unsigned long long>(expect))) +
                      " bytes but data_offsets span " + std::to_string(e.end - e.begin));
    f->entries_.push_back(std::move(e));
  }
  std::sort(f->entries_.begin(), f->entries_.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  // The non-empty spans must tile the data section exactly: no overlap (compared with the furthest-reaching earlier
  // span, so an empty tensor sorted in between cannot hide one), no unexplained hole, no trailing bytes.
  const TensorEntry* reach = nullptr;
  uint64_t covered = 0;
  for (const auto& b : f->entries_) {
    if (b.end == b.begin) continue;
    if (reach && b.begin < reach->end)
      fail(path + ": tensor '" + b.name + "'", "data overlaps tensor '" + reach->name + "'");
    if (b.begin != covered)
      fail(path + ": tensor '" + b.name + "'", "data starts at byte " + std::to_string(b.begin) + " of the data section, leaving " +
                                                   std::to_string(b.begin - covered) + " unexplained bytes before it (a hole)");
    covered = b.end;
    if (!reach || b.end > reach->end) reach = &b;
  }
  if (covered != data_size)
    fail(path, "the data section has " + std::to_string(data_size - covered) + " trailing bytes after the last tensor's data (" +
                   std::to_string(data_size) + " bytes, tensors cover " + std::to_string(covered) + ")");
  for (size_t i = 0; i < f->entries_.size(); ++i) f->index_[f->entries_[i].name] = i;
  return f;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorEntry* e = find(name);
  if (!e) fail(path_, "no tensor named '" + name + "'");
  return tensor(*e);
}

at::Tensor SafetensorsFile::tensor(const TensorEntry& e) const {
  auto opts = at::TensorOptions().dtype(to_scalar_type(e.dtype)).device(at::kCPU);
  if (e.numel() == 0) return at::empty(e.shape, opts);
  auto keep = map_;
  // The mapping is read-only (PROT_READ): any in-place write would fault, so callers copy before mutating.
  void* p = const_cast<unsigned char*>(data_ + e.begin);
  if ((reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype)) != 0) {
    // Misaligned data (legal in safetensors): copy into an aligned buffer instead of a view.
    auto t = at::empty(e.shape, opts);
    std::memcpy(t.data_ptr(), p, e.end - e.begin);
    return t;
  }
  return at::from_blob(p, e.shape, [keep](void*) mutable { keep.reset(); }, opts);
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> blobs;
  uint64_t off = 0;
  for (const auto& [name, t0] : tensors) {
    if (name == "__metadata__") fail(path, "tensor name '__metadata__' is reserved");
    if (header.contains(name)) fail(path, "duplicate tensor name '" + name + "'");
    auto dt = from_scalar_type(t0.scalar_type());
    if (!dt) fail(path + ": tensor '" + name + "'", std::string("dtype ") + c10::toString(t0.scalar_type()) + " cannot be stored in safetensors");
    at::Tensor t = t0.detach().to(at::kCPU).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * dtype_size(*dt);
    header[name] = {{"dtype", dtype_name(*dt)}, {"shape", t.sizes().vec()}, {"data_offsets", {off, off + nbytes}}};
    off += nbytes;
    blobs.push_back(t);
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');  // keep the data section 8-byte aligned
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(path, std::string("cannot write: ") + std::strerror(errno));
    uint64_t n = h.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(le), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    // Rows are written in the order of `tensors`, matching the offsets above.
    size_t i = 0;
    for (const auto& [name, t0] : tensors) {
      (void)name;
      const auto& t = blobs[i++];
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
    if (!out) fail(path, "write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, std::string("cannot rename temporary file: ") + std::strerror(errno));
}

}  // namespace focalscope
