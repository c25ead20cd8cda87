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
#include "engine/core/mapped_file.h"

namespace focalscope {

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
  const char* hbeg = reinterpret_cast<const char*>(f->map_->data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hbeg, hbeg + hlen);
  } catch (const std::exception& e) {
    fail(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");
  const uint64_t data_size = fsize - 8 - hlen;
  f->data_ = f->map_->data() + 8 + hlen;

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) fail(path, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(path, "__metadata__ value '" + m.key() + "' is not a string");
        f->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string where = path + ": tensor '" + name + "'";
    const auto& v = *it;
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(where, "entry needs dtype, shape and data_offsets");
    if (!v["dtype"].is_string()) fail(where, "dtype is not a string");
    TensorEntry e;
    e.name = name;
    auto dt = parse_dtype(v["dtype"].get<std::string>());
    if (!dt) fail(where, "unknown dtype '" + v["dtype"].get<std::string>() + "'");
    e.dtype = *dt;
    if (!v["shape"].is_array()) fail(where, "shape is not an array");
    for (const auto& s : v["shape"]) {
      if (!s.is_number_integer() || s.get<int64_t>() < 0) fail(where, "shape has a non-integer or negative dimension");
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
    // numel * size, guarding against overflow of absurd shapes
    long double expect = static_cast<long double>(dtype_size(e.dtype));
    for (auto s : e.shape) expect *= static_cast<long double>(s);
    if (expect != static_cast<long double>(e.end - e.begin))
      fail(where, "shape " + std::string("[") + [&] {
        std::string s;
        for (size_t i = 0; i < e.shape.size(); ++i) s += (i ? "," : "") + std::to_string(e.shape[i]);
        return s;
      }() + "] x " + dtype_name(e.dtype) + " needs " + std::to_string(static_cast<unsigned long long>(expect)) +
               " bytes but data_offsets span " + std::to_string(e.end - e.begin));
    f->entries_.push_back(std::move(e));
  }
  std::sort(f->entries_.begin(), f->entries_.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  // Compare each non-empty span with the furthest-reaching earlier one (not just its neighbour: an empty
  // tensor sorted in between must not hide an overlap).
  const TensorEntry* reach = nullptr;
  for (const auto& b : f->entries_) {
    if (b.end == b.begin) continue;
    if (reach && b.begin < reach->end)
      fail(path + ": tensor '" + b.name + "'", "data overlaps tensor '" + reach->name + "'");
    if (!reach || b.end > reach->end) reach = &b;
  }
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
