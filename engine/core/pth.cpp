#include "engine/core/pth.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/limits.h"
#include "engine/core/mapped_file.h"

namespace focalscope {
namespace {

// ---- CRC-32 (zip polynomial), slicing-by-8 -----------------------------------------------------------
struct CrcTables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  CrcTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
};

uint32_t crc32(const uint8_t* p, std::size_t n) {
  static const CrcTables tables;
  const auto& t = tables.t;
  uint32_t c = 0xFFFFFFFFu;
  while (n >= 8) {
    uint32_t a = c ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
    uint32_t b = uint32_t(p[4]) | uint32_t(p[5]) << 8 | uint32_t(p[6]) << 16 | uint32_t(p[7]) << 24;
    c = t[7][a & 0xff] ^ t[6][(a >> 8) & 0xff] ^ t[5][(a >> 16) & 0xff] ^ t[4][a >> 24] ^ t[3][b & 0xff] ^
        t[2][(b >> 8) & 0xff] ^ t[1][(b >> 16) & 0xff] ^ t[0][b >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = t[0][(c ^ *p++) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// ---- zip central directory ---------------------------------------------------------------------------
inline uint16_t rd16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
inline uint32_t rd32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
inline uint64_t rd64(const uint8_t* p) { return uint64_t(rd32(p)) | uint64_t(rd32(p + 4)) << 32; }

struct ZipRecord {
  std::string name;
  uint16_t method = 0;
  uint16_t flags = 0;
  uint32_t crc = 0;
  uint64_t comp_size = 0, size = 0;
  uint64_t local_offset = 0;
  uint64_t data_offset = 0;  // resolved from the local header
};

class ZipIndex {
 public:
  ZipIndex(const std::string& path, const uint8_t* p, uint64_t n) : path_(path), p_(p), n_(n) { parse(); }
  const ZipRecord* find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &records_[it->second];
  }
  const std::vector<ZipRecord>& records() const { return records_; }

 private:
  [[noreturn]] void bad(const std::string& what) const { fail(path_, "corrupt or truncated zip archive: " + what); }
  bool fits(uint64_t off, uint64_t len) const { return off <= n_ && len <= n_ - off; }

  void parse() {
    // End of central directory: 22 bytes + comment (<= 65535), searched backwards from the end.
    if (n_ < 22) bad("file too short for an end-of-central-directory record");
    uint64_t eocd = UINT64_MAX;
    const uint64_t lowest = n_ > 22 + 65535 ? n_ - 22 - 65535 : 0;
    for (uint64_t i = n_ - 22 + 1; i-- > lowest;) {
      if (rd32(p_ + i) == 0x06054b50u && i + 22 + rd16(p_ + i + 20) <= n_) {
        eocd = i;
        break;
      }
    }
    if (eocd == UINT64_MAX) bad("no end-of-central-directory record (file truncated?)");
    uint64_t count = rd16(p_ + eocd + 10);
    uint64_t cd_size = rd32(p_ + eocd + 12);
    uint64_t cd_off = rd32(p_ + eocd + 16);
    if (rd16(p_ + eocd + 4) != 0 || rd16(p_ + eocd + 6) != 0) bad("multi-disk archives are not supported");
    if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
      // zip64: locator right before the EOCD, pointing at the zip64 EOCD record.
      if (eocd < 20 || rd32(p_ + eocd - 20) != 0x07064b50u) bad("zip64 fields without a zip64 locator");
      uint64_t z = rd64(p_ + eocd - 20 + 8);
      if (!fits(z, 56) || rd32(p_ + z) != 0x06064b50u) bad("zip64 end-of-central-directory record missing");
      count = rd64(p_ + z + 32);
      cd_size = rd64(p_ + z + 40);
      cd_off = rd64(p_ + z + 48);
    }
    if (!fits(cd_off, cd_size)) bad("central directory lies outside the file (file truncated?)");
    if (count > limits::kZipMaxEntries)
      fail(path_, "zip archive lists " + std::to_string(count) + " entries, more than the limit of " + std::to_string(limits::kZipMaxEntries));
    if (count > cd_size / 46) bad("the central directory of " + std::to_string(cd_size) + " bytes cannot hold " + std::to_string(count) + " entries");
    records_.reserve(static_cast<std::size_t>(std::min<uint64_t>(count, cd_size / 46)));
    uint64_t pos = cd_off;
    const uint64_t cd_end = cd_off + cd_size;
    for (uint64_t k = 0; k < count; ++k) {
      if (pos + 46 > cd_end || rd32(p_ + pos) != 0x02014b50u) bad("bad central directory entry " + std::to_string(k));
      ZipRecord r;
      r.flags = rd16(p_ + pos + 8);
      r.method = rd16(p_ + pos + 10);
      r.crc = rd32(p_ + pos + 16);
      r.comp_size = rd32(p_ + pos + 20);
      r.size = rd32(p_ + pos + 24);
      const uint64_t name_len = rd16(p_ + pos + 28), extra_len = rd16(p_ + pos + 30), comment_len = rd16(p_ + pos + 32);
      r.local_offset = rd32(p_ + pos + 42);
      const uint64_t var = 46 + name_len + extra_len + comment_len;
      if (pos + var > cd_end) bad("central directory entry " + std::to_string(k) + " runs past the directory");
      r.name.assign(reinterpret_cast<const char*>(p_ + pos + 46), name_len);
      // zip64 extended information: the 0xFFFFFFFF fields, in order size, comp size, local offset.
      const uint8_t* ex = p_ + pos + 46 + name_len;
      for (uint64_t e = 0; e + 4 <= extra_len;) {
        const uint16_t id = rd16(ex + e), len = rd16(ex + e + 2);
        if (e + 4 + len > extra_len) bad("entry '" + r.name + "' has a malformed extra field");
        if (id == 0x0001) {
          uint64_t q = e + 4, qend = e + 4 + len;
          auto take64 = [&](uint64_t& field) {
            if (field != 0xFFFFFFFFu) return;
            if (q + 8 > qend) bad("entry '" + r.name + "' has a short zip64 extra field");
            field = rd64(ex + q);
            q += 8;
          };
          take64(r.size);
          take64(r.comp_size);
          take64(r.local_offset);
        }
        e += 4 + len;
      }
      // Local header: 30 bytes + its own name/extra lengths, then the data.
      if (!fits(r.local_offset, 30) || rd32(p_ + r.local_offset) != 0x04034b50u)
        bad("local header of '" + r.name + "' missing (file truncated?)");
      const uint64_t local_name_len = rd16(p_ + r.local_offset + 26);
      if (!fits(r.local_offset + 30, local_name_len) ||
          std::memcmp(p_ + r.local_offset + 30, r.name.data(), std::min<uint64_t>(local_name_len, r.name.size())) != 0 ||
          local_name_len != r.name.size())
        bad("local header of '" + r.name + "' names another entry");
      r.data_offset = r.local_offset + 30 + local_name_len + rd16(p_ + r.local_offset + 28);
      if (!fits(r.data_offset, r.comp_size))
        fail(path_, "zip entry '" + r.name + "' runs past the end of the file (file truncated?)");
      if (r.data_offset + r.comp_size > cd_off)
        bad("the data of '" + r.name + "' runs into the central directory");
      // Sizes are checked here, from the directory, before anything is read or inflated.
      if (r.method == 0) {
        if (r.comp_size != r.size)
          fail(path_, "zip entry '" + r.name + "' is stored (uncompressed) with inconsistent sizes " + std::to_string(r.comp_size) +
                          " and " + std::to_string(r.size));
      } else if (r.method == 8) {
        // Deflate cannot expand more than ~1032:1; a larger declared size is a lie. And a small archive must not make
        // us allocate gigabytes: the inflated size is bounded by a multiple of the archive's own size.
        const uint64_t cap = limits::kZipMaxInflateRatio * n_ + limits::kZipInflateSlackBytes;
        if (r.size / 1032 > r.comp_size + 1)
          fail(path_, "zip entry '" + r.name + "' declares " + std::to_string(r.size) + " inflated bytes from " +
                          std::to_string(r.comp_size) + " compressed ones, more than deflate can produce");
        if (r.size > cap)
          fail(path_, "zip entry '" + r.name + "' would inflate to " + std::to_string(r.size) + " bytes from a " + std::to_string(n_) +
                          "-byte archive, more than the limit of " + std::to_string(cap) + " (" +
                          std::to_string(limits::kZipMaxInflateRatio) + " x the archive + " +
                          std::to_string(limits::kZipInflateSlackBytes >> 20) + " MiB): refused before inflating (zip bomb?)");
      } else {
        fail(path_, "zip entry '" + r.name + "' uses compression method " + std::to_string(r.method) +
                        " (only stored and deflate are supported)");
      }
      spans_.emplace_back(r.local_offset, r.data_offset + r.comp_size);
      if (!by_name_.emplace(r.name, records_.size()).second) bad("duplicate entry '" + r.name + "'");
      records_.push_back(std::move(r));
      pos += var;
    }
    // No two entries may share bytes (overlapping entries are a zip-bomb technique, never written by torch.save).
    std::sort(spans_.begin(), spans_.end());
    for (std::size_t k = 1; k < spans_.size(); ++k)
      if (spans_[k].first < spans_[k - 1].second)
        bad("two entries overlap (at byte " + std::to_string(spans_[k].first) + ")");
  }

  std::string path_;
  const uint8_t* p_;
  uint64_t n_;
  std::vector<ZipRecord> records_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::vector<std::pair<uint64_t, uint64_t>> spans_;  // [local header, end of data) per entry
};

// ---- pickle values -----------------------------------------------------------------------------------
enum class K { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };

const char* kind_name(K k) {
  switch (k) {
    case K::None: return "None";
    case K::Bool: return "bool";
    case K::Int: return "int";
    case K::Float: return "float";
    case K::Str: return "str";
    case K::Bytes: return "bytes";
    case K::Tuple: return "tuple";
    case K::List: return "list";
    case K::Dict: return "dict";
    case K::Global: return "class/function";
    case K::Storage: return "storage";
    case K::Tensor: return "tensor";
  }
  return "?";
}

struct Obj;
using Val = std::shared_ptr<Obj>;

struct StorageRef {
  std::string key;
  c10::ScalarType dtype = c10::ScalarType::Float;
  int64_t numel = 0;
};

struct TensorRef {
  std::shared_ptr<StorageRef> storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

struct Obj {
  K k = K::None;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                               // Str, Bytes, Global ("module.name")
  std::vector<Val> items;                      // Tuple, List
  std::vector<std::pair<Val, Val>> dict;       // Dict (insertion order)
  std::unordered_map<std::string, std::size_t> str_index;  // Dict: str key -> position
  std::shared_ptr<StorageRef> storage;         // Storage
  std::shared_ptr<TensorRef> tensor;           // Tensor
};

// Maps torch.<T>Storage to the element type.
std::optional<c10::ScalarType> storage_dtype(const std::string& global) {
  static const std::map<std::string, c10::ScalarType> m = {
      {"torch.DoubleStorage", c10::ScalarType::Double},   {"torch.FloatStorage", c10::ScalarType::Float},
      {"torch.HalfStorage", c10::ScalarType::Half},       {"torch.BFloat16Storage", c10::ScalarType::BFloat16},
      {"torch.LongStorage", c10::ScalarType::Long},       {"torch.IntStorage", c10::ScalarType::Int},
      {"torch.ShortStorage", c10::ScalarType::Short},     {"torch.CharStorage", c10::ScalarType::Char},
      {"torch.ByteStorage", c10::ScalarType::Byte},       {"torch.BoolStorage", c10::ScalarType::Bool},
      {"torch.ComplexFloatStorage", c10::ScalarType::ComplexFloat},
      {"torch.ComplexDoubleStorage", c10::ScalarType::ComplexDouble},
  };
  auto it = m.find(global);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

// The globals a state dict saved by torch.save can name (REDUCE callables and persistent-id storage types).
bool allowed_global(const std::string& g) {
  static const char* const fns[] = {"collections.OrderedDict", "builtins.dict", "__builtin__.dict",
                                    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
                                    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"};
  for (const char* f : fns)
    if (g == f) return true;
  return storage_dtype(g).has_value();
}

// A pickle virtual machine for the subset torch.save writes. No recursion anywhere: every container is kept in
// `containers_` and emptied when the machine is destroyed, so neither deep nesting nor reference cycles built
// through the memo can overflow the stack or leak.
class Unpickler {
 public:
  Unpickler(std::string where, const uint8_t* p, std::size_t n) : where_(std::move(where)), p_(p), n_(n) {}
  ~Unpickler() {
    stack_.clear();
    memo_.clear();
    for (auto& c : containers_) {
      std::vector<Val> items;
      items.swap(c->items);
      std::vector<std::pair<Val, Val>> d;
      d.swap(c->dict);
    }
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  Val load() {
    while (true) {
      if (pos_ >= n_) bad("ends without STOP (truncated)");
      op_pos_ = pos_;
      if (++ops_ > limits::kPickleMaxOps) bad("more than " + std::to_string(limits::kPickleMaxOps) + " opcodes (limit)");
      const uint8_t op = p_[pos_++];
      switch (op) {
        case 0x80: {  // PROTO
          uint8_t v = u8();
          if (v > 5) bad("pickle protocol " + std::to_string(v) + " is not supported");
          break;
        }
        case 0x95: need(8); pos_ += 8; break;  // FRAME (length is advisory)
        case '.': {  // STOP
          if (!marks_.empty()) bad("STOP inside an open MARK");
          if (stack_.size() != 1) bad("STOP with " + std::to_string(stack_.size()) + " objects on the stack, expected 1");
          return stack_.back();
        }
        case '(':  // MARK
          if (marks_.size() >= limits::kPickleMaxMarks) bad("more than " + std::to_string(limits::kPickleMaxMarks) + " nested MARKs (limit)");
          marks_.push_back(stack_.size());
          break;
        case '0': pop(); break;                           // POP
        case '1': pop_mark(); break;                      // POP_MARK
        case '2': push(top()); break;                     // DUP
        case 'N': push(make(K::None)); break;
        case 0x88: push(make_bool(true)); break;   // NEWTRUE
        case 0x89: push(make_bool(false)); break;  // NEWFALSE
        case 'I': {  // INT (protocol 0 text): "I<digits>\n", "I01\n" = True, "I00\n" = False
          std::string line = read_line();
          if (line == "01") push(make_bool(true));
          else if (line == "00") push(make_bool(false));
          else push(make_int(parse_decimal(line)));
          break;
        }
        case 'J': push(make_int(static_cast<int32_t>(u32()))); break;  // BININT
        case 'K': push(make_int(u8())); break;                         // BININT1
        case 'M': push(make_int(u16())); break;                        // BININT2
        case 0x8a: push(make_int(read_long(u8()))); break;             // LONG1
        case 0x8b: {                                                   // LONG4
          uint32_t len = u32();
          push(make_int(read_long(len)));
          break;
        }
        case 'G': {  // BINFLOAT (big-endian double)
          need(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = bits << 8 | p_[pos_ + k];
          pos_ += 8;
          double d;
          std::memcpy(&d, &bits, 8);
          auto v = make(K::Float);
          v->f = d;
          push(v);
          break;
        }
        case 'X': push(make_str(K::Str, u32())); break;     // BINUNICODE
        case 0x8c: push(make_str(K::Str, u8())); break;     // SHORT_BINUNICODE
        case 0x8d: push(make_str(K::Str, u64())); break;    // BINUNICODE8
        case 'T': push(make_str(K::Str, u32())); break;     // BINSTRING (py2 str)
        case 'U': push(make_str(K::Str, u8())); break;      // SHORT_BINSTRING
        case 'B': push(make_str(K::Bytes, u32())); break;   // BINBYTES
        case 'C': push(make_str(K::Bytes, u8())); break;    // SHORT_BINBYTES
        case 0x8e: push(make_str(K::Bytes, u64())); break;  // BINBYTES8
        case ')': push(make_container(K::Tuple)); break;    // EMPTY_TUPLE
        case 't': {                                         // TUPLE
          auto v = make_container(K::Tuple);
          v->items = pop_mark();
          push(v);
          break;
        }
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          const std::size_t m = op - 0x84;
          auto v = make_container(K::Tuple);
          v->items.resize(m);
          for (std::size_t k = m; k-- > 0;) v->items[k] = pop();
          push(v);
          break;
        }
        case ']': push(make_container(K::List)); break;  // EMPTY_LIST
        case 'l': {                                      // LIST
          auto v = make_container(K::List);
          v->items = pop_mark();
          push(v);
          break;
        }
        case 'a': {  // APPEND
          Val x = pop();
          Val l = top();
          if (l->k != K::List) bad(std::string("APPEND to a ") + kind_name(l->k));
          l->items.push_back(std::move(x));
          break;
        }
        case 'e': {  // APPENDS
          auto xs = pop_mark();
          Val l = top();
          if (l->k != K::List) bad(std::string("APPENDS to a ") + kind_name(l->k));
          for (auto& x : xs) l->items.push_back(std::move(x));
          break;
        }
        case '}': push(make_container(K::Dict)); break;  // EMPTY_DICT
        case 'd': {                                      // DICT
          auto xs = pop_mark();
          if (xs.size() % 2) bad("DICT with an odd number of items");
          auto v = make_container(K::Dict);
          for (std::size_t k = 0; k < xs.size(); k += 2) set_item(*v, xs[k], xs[k + 1]);
          push(v);
          break;
        }
        case 's': {  // SETITEM
          Val value = pop();
          Val key = pop();
          Val d = top();
          if (d->k != K::Dict) bad(std::string("SETITEM on a ") + kind_name(d->k));
          set_item(*d, key, value);
          break;
        }
        case 'u': {  // SETITEMS
          auto xs = pop_mark();
          if (xs.size() % 2) bad("SETITEMS with an odd number of items");
          Val d = top();
          if (d->k != K::Dict) bad(std::string("SETITEMS on a ") + kind_name(d->k));
          for (std::size_t k = 0; k < xs.size(); k += 2) set_item(*d, xs[k], xs[k + 1]);
          break;
        }
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = read_line();
          std::string name = read_line();
          push(make_global(module + "." + name, "GLOBAL"));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Val name = pop();
          Val module = pop();
          if (name->k != K::Str || module->k != K::Str) bad("STACK_GLOBAL needs two strings");
          push(make_global(module->s + "." + name->s, "STACK_GLOBAL"));
          break;
        }
        case 'R': {  // REDUCE
          Val args = pop();
          Val callable = pop();
          push(reduce(callable, args));
          break;
        }
        case 'b': {  // BUILD
          Val state = pop();
          Val obj = top();
          // state_dict() attaches `_metadata` (module versions) as an attribute of the OrderedDict: ignored.
          if (obj->k != K::Dict) bad(std::string("BUILD on a ") + kind_name(obj->k) + " is not supported");
          (void)state;
          break;
        }
        case 'Q': {  // BINPERSID
          Val pid = pop();
          push(persistent_load(pid));
          break;
        }
        case 'h': push(memo_get(u8())); break;   // BINGET
        case 'j': push(memo_get(u32())); break;  // LONG_BINGET
        case 'q': memo_put(u8()); break;    // BINPUT
        case 'r': memo_put(u32()); break;   // LONG_BINPUT
        case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
        case 'i': {  // INST "module\nname\n": builds an instance of any class
          std::string module = read_line();
          std::string name = read_line();
          make_global(module + "." + name, "INST");  // refuses anything not allowed, by name
          bad("INST of '" + module + "." + name + "' is not used by state dicts and is refused");
        }
        case 'o': {  // OBJ: MARK cls args... -> cls(*args)
          if (marks_.empty() || stack_.size() <= marks_.back()) bad("OBJ without a class");
          const Val& cls = stack_[marks_.back()];
          bad(std::string("OBJ (object construction) of ") + (cls->k == K::Global ? "'" + cls->s + "'" : std::string("a ") + kind_name(cls->k)) +
              " is not used by state dicts and is refused");
        }
        case 0x81: case 0x92: {  // NEWOBJ cls args / NEWOBJ_EX cls args kwargs -> cls.__new__(cls, ...)
          const std::size_t back = op == 0x81 ? 2 : 3;
          std::string what = "a value";
          if (stack_.size() >= back) {
            const Val& cls = stack_[stack_.size() - back];
            what = cls->k == K::Global ? "'" + cls->s + "'" : std::string("a ") + kind_name(cls->k);
          }
          bad(std::string(op == 0x81 ? "NEWOBJ" : "NEWOBJ_EX") + " (object construction) of " + what +
              " is not used by state dicts and is refused");
        }
        case 0x82: case 0x83: case 0x84:  // EXT1/2/4: globals from the copyreg extension registry
          bad("EXT opcodes (copyreg extension registry globals) are refused");
        case 'P':  // PERSID (text persistent id)
          bad("text PERSID is not used by torch.save and is refused");
        default: {
          char buf[8];
          std::snprintf(buf, sizeof buf, "0x%02x", op);
          bad(std::string("unsupported pickle opcode ") + buf);
        }
      }
    }
  }

  [[noreturn]] void bad(const std::string& what) const {
    fail(where_, what + " (at byte " + std::to_string(op_pos_) + ")");
  }

 private:
  // -- raw reads
  void need(uint64_t len) const {
    if (len > n_ - pos_) bad("truncated pickle");
  }
  uint8_t u8() {
    need(1);
    return p_[pos_++];
  }
  uint16_t u16() {
    need(2);
    uint16_t v = rd16(p_ + pos_);
    pos_ += 2;
    return v;
  }
  uint32_t u32() {
    need(4);
    uint32_t v = rd32(p_ + pos_);
    pos_ += 4;
    return v;
  }
  uint64_t u64() {
    need(8);
    uint64_t v = rd64(p_ + pos_);
    pos_ += 8;
    return v;
  }
  std::string read_line() {
    const std::size_t start = pos_;
    while (pos_ < n_ && p_[pos_] != '\n') {
      if (pos_ - start > 1024) bad("text line too long");
      ++pos_;
    }
    if (pos_ >= n_) bad("truncated pickle");
    std::string s(reinterpret_cast<const char*>(p_ + start), pos_ - start);
    ++pos_;
    return s;
  }
  int64_t parse_decimal(const std::string& s) const {
    if (s.empty() || s.size() > 19) bad("bad INT literal");
    std::size_t k = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (k == s.size()) bad("bad INT literal");
    int64_t v = 0;
    for (; k < s.size(); ++k) {
      if (s[k] < '0' || s[k] > '9') bad("bad INT literal");
      v = v * 10 + (s[k] - '0');
    }
    return s[0] == '-' ? -v : v;
  }
  int64_t read_long(uint64_t len) {
    if (len > 8) bad("integer wider than 64 bits");
    need(len);
    uint64_t v = 0;
    for (uint64_t k = 0; k < len; ++k) v |= uint64_t(p_[pos_ + k]) << (8 * k);
    if (len > 0 && len < 8 && (p_[pos_ + len - 1] & 0x80)) v |= ~uint64_t(0) << (8 * len);  // sign-extend
    pos_ += len;
    return static_cast<int64_t>(v);
  }

  // -- stack
  void push(Val v) {
    if (stack_.size() >= limits::kPickleMaxStack) bad("stack deeper than " + std::to_string(limits::kPickleMaxStack) + " values (limit)");
    stack_.push_back(std::move(v));
  }
  void memo_put(uint64_t idx) {
    if (idx > limits::kPickleMaxMemoIndex) bad("memo index " + std::to_string(idx) + " beyond the limit of " + std::to_string(limits::kPickleMaxMemoIndex));
    if (memo_.size() >= limits::kPickleMaxMemo && !memo_.count(static_cast<uint32_t>(idx)))
      bad("more than " + std::to_string(limits::kPickleMaxMemo) + " memo entries (limit)");
    memo_[static_cast<uint32_t>(idx)] = top();
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Val pop() {
    if (stack_.size() <= floor()) bad("stack underflow");
    Val v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const Val& top() const {
    if (stack_.size() <= floor()) bad("stack underflow");
    return stack_.back();
  }
  std::vector<Val> pop_mark() {
    if (marks_.empty()) bad("no MARK on the stack");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Val> out(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                         std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return out;
  }
  Val memo_get(uint32_t idx) const {
    auto it = memo_.find(idx);
    if (it == memo_.end()) bad("memo entry " + std::to_string(idx) + " was never stored");
    return it->second;
  }

  // -- values
  Val make(K k) {
    if (++objects_ > limits::kPickleMaxObjects)
      bad("builds more than " + std::to_string(limits::kPickleMaxObjects) + " objects (limit; a state dict needs far fewer)");
    auto v = std::make_shared<Obj>();
    v->k = k;
    return v;
  }
  Val make_bool(bool b) {
    auto v = make(K::Bool);
    v->b = b;
    return v;
  }
  Val make_int(int64_t i) {
    auto v = make(K::Int);
    v->i = i;
    return v;
  }
  Val make_str(K k, uint64_t len) {
    need(len);
    auto v = make(k);
    v->s.assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(len));
    pos_ += len;
    return v;
  }
  // Only the classes and functions a state dict needs can even be named; anything else (os.system, builtins.eval,
  // subprocess.Popen, ...) is refused here, by name, and so can never be called.
  Val make_global(std::string name, const char* opcode) {
    if (!allowed_global(name) && name.rfind("torch.", 0) == 0 && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0)
      bad("unsupported storage type '" + name + "'");
    if (!allowed_global(name))
      bad("refuses the global '" + name + "' (" + opcode + "): a state dict needs only collections.OrderedDict, "
          "torch._utils._rebuild_tensor* / _rebuild_parameter* and torch.*Storage; nothing was executed");
    auto v = make(K::Global);
    v->s = std::move(name);
    return v;
  }
  Val make_container(K k) {
    auto v = make(k);
    containers_.push_back(v);
    return v;
  }
  void set_item(Obj& d, const Val& key, const Val& value) {
    if (key->k == K::Str) {
      auto it = d.str_index.find(key->s);
      if (it != d.str_index.end()) {
        d.dict[it->second].second = value;
        return;
      }
      d.str_index.emplace(key->s, d.dict.size());
    }
    d.dict.emplace_back(key, value);
  }

  static bool is_int_tuple(const Val& v) {
    if (v->k != K::Tuple) return false;
    for (const auto& x : v->items)
      if (x->k != K::Int) return false;
    return true;
  }

  Val persistent_load(const Val& pid) {
    if (pid->k != K::Tuple || pid->items.size() != 5 || pid->items[0]->k != K::Str || pid->items[0]->s != "storage")
      bad("unsupported persistent id (expected ('storage', type, key, location, numel))");
    const auto& it = pid->items;
    if (it[1]->k != K::Global) bad("persistent id: storage type is not a class");
    auto dt = storage_dtype(it[1]->s);
    if (!dt) bad("unsupported storage type '" + it[1]->s + "'");
    if (it[2]->k != K::Str) bad("persistent id: storage key is not a string");
    if (it[3]->k != K::Str) bad("persistent id: location is not a string");
    if (it[4]->k != K::Int || it[4]->i < 0) bad("persistent id: storage size is not a non-negative integer");
    auto& ref = storages_[it[2]->s];
    if (!ref) {
      ref = std::make_shared<StorageRef>();
      ref->key = it[2]->s;
      ref->dtype = *dt;
      ref->numel = it[4]->i;
    } else if (ref->dtype != *dt || ref->numel != it[4]->i) {
      bad("storage '" + ref->key + "' is used with two different types or sizes");
    }
    auto v = make(K::Storage);
    v->storage = ref;
    return v;
  }

  Val rebuild_tensor(const std::vector<Val>& a) {
    if (a[0]->k != K::Storage) bad("_rebuild_tensor: first argument is not a storage");
    if (a[1]->k != K::Int || a[1]->i < 0) bad("_rebuild_tensor: storage offset is not a non-negative integer");
    if (!is_int_tuple(a[2]) || !is_int_tuple(a[3])) bad("_rebuild_tensor: size/stride are not tuples of integers");
    if (a[2]->items.size() != a[3]->items.size()) bad("_rebuild_tensor: size and stride have different lengths");
    if (a[2]->items.size() > static_cast<std::size_t>(limits::kTensorMaxRank))
      bad("_rebuild_tensor: " + std::to_string(a[2]->items.size()) + " dimensions, more than the limit of " + std::to_string(limits::kTensorMaxRank));
    auto t = std::make_shared<TensorRef>();
    t->storage = a[0]->storage;
    t->offset = a[1]->i;
    for (const auto& x : a[2]->items) t->sizes.push_back(x->i);
    for (const auto& x : a[3]->items) t->strides.push_back(x->i);
    auto v = make(K::Tensor);
    v->tensor = t;
    return v;
  }

  Val reduce(const Val& callable, const Val& args) {
    if (callable->k != K::Global) bad(std::string("REDUCE on a ") + kind_name(callable->k) + ", not a class/function");
    if (args->k != K::Tuple) bad("REDUCE arguments are not a tuple");
    const std::string& fn = callable->s;
    const auto& a = args->items;
    if (fn == "collections.OrderedDict" || fn == "builtins.dict" || fn == "__builtin__.dict") {
      auto d = make_container(K::Dict);
      if (a.empty()) return d;
      if (a.size() == 1 && (a[0]->k == K::List || a[0]->k == K::Tuple)) {
        for (const auto& kv : a[0]->items) {
          if ((kv->k != K::Tuple && kv->k != K::List) || kv->items.size() != 2) bad(fn + "(): items are not pairs");
          set_item(*d, kv->items[0], kv->items[1]);
        }
        return d;
      }
      bad(fn + "() with unsupported arguments");
    }
    if (fn == "torch._utils._rebuild_tensor_v2") {
      // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.size() != 6 && a.size() != 7) bad("_rebuild_tensor_v2 with " + std::to_string(a.size()) + " arguments");
      return rebuild_tensor(a);
    }
    if (fn == "torch._utils._rebuild_tensor") {
      if (a.size() != 4) bad("_rebuild_tensor with " + std::to_string(a.size()) + " arguments");
      return rebuild_tensor(a);
    }
    if (fn == "torch._utils._rebuild_parameter" || fn == "torch._utils._rebuild_parameter_with_state") {
      // (data, requires_grad, backward_hooks[, state]): an nn.Parameter is just its tensor here.
      if (a.size() < 3 || a[0]->k != K::Tensor) bad(fn + " without a tensor");
      return a[0];
    }
    bad("unsupported object '" + fn + "' (only state dicts of tensors can be read)");
  }

  std::string where_;
  const uint8_t* p_;
  std::size_t n_;
  std::size_t pos_ = 0, op_pos_ = 0;
  std::vector<Val> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<uint32_t, Val> memo_;
  std::vector<Val> containers_;
  std::unordered_map<std::string, std::shared_ptr<StorageRef>> storages_;
  uint64_t ops_ = 0, objects_ = 0;
};

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::string first_line(const std::string& s) {
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// Loads records (zero-copy from the mapping when stored and aligned) and builds the tensors.
class PthReader {
 public:
  explicit PthReader(const std::string& path) : path_(path), map_(std::make_shared<MappedFile>(path)) {}

  // entry: "" = the top-level object is the state dict; else the state dict is the top-level dict's value under
  // `entry` (its other values are parsed, bounded and then ignored); `optional` accepts a flat state dict too.
  TensorSet read(const std::string& entry = "", bool optional = false) {
    const uint8_t* p = map_->data();
    const uint64_t n = map_->size();
    if (n == 0) fail(path_, "empty file, not a PyTorch checkpoint");
    if (n >= 4 && !(p[0] == 'P' && p[1] == 'K')) {
      // Legacy serialization (torch < 1.6 or _use_new_zipfile_serialization=False) starts with a pickled magic number.
      if (n >= 2 && p[0] == 0x80 && p[1] <= 5)
        fail(path_, "legacy (non-zip) torch.save format is not supported; re-save it with torch >= 1.6 "
                    "(torch.save(torch.load(f), f)) or convert it to safetensors");
      fail(path_, "not a zip archive, so not a PyTorch .pth checkpoint");
    }
    zip_ = std::make_unique<ZipIndex>(path_, p, n);

    // The folder holding data.pkl (normally the file stem, but never assumed).
    const ZipRecord* pkl = nullptr;
    for (const auto& r : zip_->records()) {
      if (r.name == "data.pkl" || (ends_with(r.name, "/data.pkl") && r.name.find('/') == r.name.size() - 9)) {
        if (pkl) fail(path_, "the archive holds several data.pkl ('" + pkl->name + "', '" + r.name + "')");
        pkl = &r;
      }
    }
    if (!pkl) {
      for (const auto& r : zip_->records())
        if (ends_with(r.name, "constants.pkl") || r.name.find("/code/") != std::string::npos)
          fail(path_, "is a TorchScript archive (torch.jit.save), not a state dict saved with torch.save");
      fail(path_, "zip archive has no <folder>/data.pkl, so it is not a torch.save checkpoint");
    }
    prefix_ = pkl->name.substr(0, pkl->name.size() - 8);  // "<stem>/" or ""
    if (const ZipRecord* bo = zip_->find(prefix_ + "byteorder")) {
      auto bytes = record_bytes(*bo);
      std::string order(static_cast<const char*>(bytes.first.get()), bytes.second);
      if (order != "little") fail(path_, "byteorder '" + order + "' is not supported (only little-endian checkpoints)");
    }

    if (pkl->size > limits::kPickleMaxBytes)
      fail(path_, pkl->name + " is " + std::to_string(pkl->size) + " bytes, more than the limit of " +
                      std::to_string(limits::kPickleMaxBytes) + " for a state dict's pickle");
    auto pkl_bytes = record_bytes(*pkl);
    Unpickler up(path_ + ": " + pkl->name, static_cast<const uint8_t*>(pkl_bytes.first.get()), pkl_bytes.second);
    Val root = up.load();
    if (root->k != K::Dict)
      fail(path_, std::string("data.pkl holds a ") + kind_name(root->k) + ", not a state dict (dict of tensors)");
    if (!entry.empty()) {
      Val inner;
      for (const auto& [key, value] : root->dict)
        if (key->k == K::Str && key->s == entry) inner = value;
      if (inner) {
        if (inner->k != K::Dict)
          fail(path_, "entry '" + entry + "' is a " + kind_name(inner->k) + ", not a state dict (dict of tensors)");
        root = inner;
      } else if (!optional) {
        std::string keys;
        for (const auto& kv : root->dict)
          if (kv.first->k == K::Str && keys.size() < 200) keys += (keys.empty() ? "'" : ", '") + kv.first->s + "'";
        fail(path_, "has no '" + entry + "' entry holding the state dict (top-level keys: " +
                        (keys.empty() ? std::string("none") : keys) + ")");
      }
    }

    TensorSet set;
    set.origin = path_;
    for (const auto& [key, value] : root->dict) {
      if (key->k != K::Str) fail(path_, std::string("state dict has a ") + kind_name(key->k) + " key, expected names");
      if (value->k != K::Tensor) {
        std::string hint = value->k == K::Dict ? " (a nested checkpoint? save the state dict itself)" : "";
        fail(path_, "entry '" + key->s + "' is a " + kind_name(value->k) + ", not a tensor" + hint);
      }
      set.add(key->s, make_tensor(key->s, *value->tensor), path_);
    }
    return set;
  }

 private:
  // Whole record as bytes: a view of the mapping for stored entries, inflated through miniz otherwise.
  // The DataPtr owns nothing for mapped records (the mapping outlives the reader's use of it).
  std::pair<at::DataPtr, std::size_t> record_bytes(const ZipRecord& r) {
    if (r.flags & 1) fail(path_, "zip entry '" + r.name + "' is encrypted");
    if (r.method == 0) {
      if (r.comp_size != r.size) fail(path_, "zip entry '" + r.name + "' is stored with inconsistent sizes");
      const uint8_t* d = map_->data() + r.data_offset;
      if (crc32(d, r.size) != r.crc) fail(path_, "zip entry '" + r.name + "' is corrupted (CRC mismatch)");
      return {at::DataPtr(const_cast<uint8_t*>(d), c10::Device(c10::DeviceType::CPU)), static_cast<std::size_t>(r.size)};
    }
    // Compressed entry (not written by torch.save, but a re-zipped checkpoint is still valid for torch.load).
    if (!stream_) stream_ = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path_);
    const std::string rel = r.name.substr(prefix_.size());
    auto rec = stream_->getRecord(rel);  // inflates and checks the CRC; throws c10::Error on failure
    if (std::get<1>(rec) != r.size) fail(path_, "zip entry '" + r.name + "' inflates to an unexpected size");
    return {std::move(std::get<0>(rec)), std::get<1>(rec)};
  }

  // 1-D tensor over the whole storage, read once per key.
  at::Tensor storage_tensor(const std::string& tensor_name, const StorageRef& s) {
    auto it = storages_.find(s.key);
    if (it != storages_.end()) return it->second;
    const std::string rec_name = prefix_ + "data/" + s.key;
    const ZipRecord* r = zip_->find(rec_name);
    if (!r) fail(path_, "tensor '" + tensor_name + "': storage record '" + rec_name + "' is missing");
    const std::size_t esize = c10::elementSize(s.dtype);
    if (static_cast<uint64_t>(s.numel) > std::numeric_limits<uint64_t>::max() / esize ||
        static_cast<uint64_t>(s.numel) * esize != r->size)
      fail(path_, "tensor '" + tensor_name + "': storage record '" + rec_name + "' has " + std::to_string(r->size) +
                      " bytes, but its " + std::to_string(s.numel) + " x " + c10::toString(s.dtype) + " storage needs " +
                      std::to_string(static_cast<uint64_t>(s.numel) * esize) +
                      (static_cast<uint64_t>(s.numel) * esize < r->size ? " (data of another dtype than declared?)" : ""));
    auto opts = at::TensorOptions().dtype(s.dtype).device(at::kCPU);
    at::Tensor base;
    auto bytes = record_bytes(*r);
    const std::size_t nbytes = static_cast<std::size_t>(s.numel) * esize;
    void* ptr = bytes.first.get();
    if (s.numel == 0) {
      base = at::empty({0}, opts);
    } else if (r->method == 0 && reinterpret_cast<uintptr_t>(ptr) % esize == 0) {
      auto keep = map_;  // zero-copy view of the mapping; the tensor keeps the mapping alive
      base = at::from_blob(ptr, {s.numel}, [keep](void*) mutable { keep.reset(); }, opts);
    } else if (r->method != 0 && reinterpret_cast<uintptr_t>(ptr) % esize == 0) {
      auto owner = std::make_shared<at::DataPtr>(std::move(bytes.first));
      base = at::from_blob(ptr, {s.numel}, [owner](void*) mutable { owner.reset(); }, opts);
    } else {
      base = at::empty({s.numel}, opts);
      std::memcpy(base.data_ptr(), ptr, nbytes);
    }
    storages_.emplace(s.key, base);
    return base;
  }

  at::Tensor make_tensor(const std::string& name, const TensorRef& t) {
    const StorageRef& s = *t.storage;
    at::Tensor base = storage_tensor(name, s);
    // Extent check: offset + sum((size-1)*stride) must lie inside the storage (no negative sizes/strides).
    bool empty = false;
    for (std::size_t d = 0; d < t.sizes.size(); ++d) {
      if (t.sizes[d] < 0 || t.strides[d] < 0)
        fail(path_, "tensor '" + name + "' has a negative size or stride " + shape_str(t.sizes) + "/" + shape_str(t.strides));
      empty = empty || t.sizes[d] == 0;
    }
    if (empty) return at::empty(t.sizes, at::TensorOptions().dtype(s.dtype));
    // Terms are < 2^126 and the running sum is checked after each one, so the 128-bit sum cannot overflow.
    __int128 last = t.offset;
    bool outside = last >= s.numel;
    for (std::size_t d = 0; d < t.sizes.size() && !outside; ++d) {
      last += static_cast<__int128>(t.sizes[d] - 1) * t.strides[d];
      outside = last >= s.numel;
    }
    if (outside)
      fail(path_, "tensor '" + name + "' (size " + shape_str(t.sizes) + ", stride " + shape_str(t.strides) + ", offset " +
                      std::to_string(t.offset) + ") reaches past its storage '" + s.key + "' of " +
                      std::to_string(s.numel) + " elements");
    return base.as_strided(t.sizes, t.strides, t.offset);
  }

  std::string path_;
  std::shared_ptr<MappedFile> map_;
  std::unique_ptr<ZipIndex> zip_;
  std::string prefix_;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> stream_;
  std::unordered_map<std::string, at::Tensor> storages_;
};

}  // namespace

TensorSet load_pth(const std::string& path) { return load_pth_entry(path, ""); }

TensorSet load_pth_entry(const std::string& path, const std::string& entry, bool optional) {
  try {
    return PthReader(path).read(entry, optional);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    fail(path, "cannot read the zip archive: " + first_line(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    fail(path, "out of memory while reading the checkpoint");
  } catch (const std::exception& e) {
    fail(path, first_line(e.what()));
  }
}

}  // namespace focalscope
