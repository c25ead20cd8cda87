// .pth (torch.save zip) reader: the three checkpoint-layout files against the shared safetensors weights, synthetic
// archives for every structural feature (shared storages, strides, 0-dim, compressed entries, other stems, protocol 4
// opcodes), and corrupt / truncated / fuzzed archives that must give a one-line focalscope::Error, never a crash.
#include <caffe2/serialize/inline_container.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/pth.h"
#include "engine/core/safetensors.h"
#include "engine/core/weights.h"
#include "tests/test_util.h"

using namespace focalscope;
using focalscope::testing::shared_fixture;
using focalscope::testing::fixtures_root;
namespace fs = std::filesystem;

namespace {

std::string layout(const std::string& f) { return shared_fixture("wan_checkpoint_layout") + "/" + f; }
const char* kT5 = "models_t5_umt5-xxl-enc-bf16.pth";
const char* kVae = "Wan2.1_VAE.pth";
const char* kClip = "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth";

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void write_file(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}
std::string tmp(const std::string& name) { return focalscope::testing::temp_dir("pth") + "/" + name; }

// Same dtype, shape and bytes.
::testing::AssertionResult bits_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type())
    return ::testing::AssertionFailure() << "dtype " << a.scalar_type() << " vs " << b.scalar_type();
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << b.sizes();
  auto x = a.contiguous(), y = b.contiguous();
  if (std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) != 0)
    return ::testing::AssertionFailure() << "bytes differ";
  return ::testing::AssertionSuccess();
}

// Expects load_pth(path) to throw focalscope::Error whose message names the file and contains `needle`.
::testing::AssertionResult pth_error(const std::string& path, const std::string& needle) {
  try {
    TensorSet s = load_pth(path);
    return ::testing::AssertionFailure() << "loaded " << s.size() << " tensors, expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    const std::string m = e.what();
    if (m.find(path) == std::string::npos) return ::testing::AssertionFailure() << "message does not name the file: " << m;
    if (m.find(needle) == std::string::npos) return ::testing::AssertionFailure() << "message lacks '" << needle << "': " << m;
    if (m.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "message is not one line: " << m;
    std::printf("  error: %s\n", m.c_str());
    return ::testing::AssertionSuccess() << m;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-focalscope exception: " << e.what();
  }
}

// Loading must either succeed or throw focalscope::Error (any other exception or a crash fails the test).
enum class Outcome { Loaded, Error };
Outcome load_or_error(const std::string& path, std::string* msg = nullptr) {
  try {
    TensorSet s = load_pth(path);
    for (const auto& n : s.names())  // touch every tensor (fuzzed stride-0 views may be huge: skip those)
      if (s.get(n).numel() < (int64_t(1) << 24)) (void)s.get(n).contiguous().sum();
    return Outcome::Loaded;
  } catch (const Error& e) {
    if (msg) *msg = e.what();
    return Outcome::Error;
  }
}

// ---- a tiny pickle writer, for synthetic archives -------------------------------------------------------
struct Pickle {
  std::string b;
  Pickle& op(char c) { b.push_back(c); return *this; }
  Pickle& proto(int v = 2) { b.push_back('\x80'); b.push_back(static_cast<char>(v)); return *this; }
  Pickle& global(const std::string& m, const std::string& n) { b += "c" + m + "\n" + n + "\n"; return *this; }
  Pickle& str(const std::string& s) {
    b.push_back('X');
    uint32_t n = static_cast<uint32_t>(s.size());
    for (int k = 0; k < 4; ++k) b.push_back(static_cast<char>((n >> (8 * k)) & 0xff));
    b += s;
    return *this;
  }
  Pickle& integer(int64_t v) {
    if (v >= 0 && v < 256) { b.push_back('K'); b.push_back(static_cast<char>(v)); }
    else if (v >= 0 && v < 65536) { b.push_back('M'); b.push_back(static_cast<char>(v & 0xff)); b.push_back(static_cast<char>(v >> 8)); }
    else { b.push_back('\x8a'); b.push_back(8); for (int k = 0; k < 8; ++k) b.push_back(static_cast<char>((uint64_t(v) >> (8 * k)) & 0xff)); }
    return *this;
  }
  Pickle& int_tuple(const std::vector<int64_t>& v) {
    if (v.empty()) return op(')');
    op('(');
    for (auto x : v) integer(x);
    return op('t');
  }
  Pickle& ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
};

struct TRef {
  std::string name, storage_type, key;
  int64_t numel, offset;
  std::vector<int64_t> size, stride;
};

// Exactly the structure torch.save(state_dict) writes (see the checkpoint-layout README).
std::string state_dict_pickle(const std::vector<TRef>& ts, bool metadata = true) {
  Pickle p;
  p.proto().ordered_dict().op('(');
  for (const auto& t : ts) {
    p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").op('(');
    p.op('(').str("storage").global("torch", t.storage_type).str(t.key).str("cpu").integer(t.numel).op('t').op('Q');
    p.integer(t.offset).int_tuple(t.size).int_tuple(t.stride).op('\x89').ordered_dict().op('t').op('R');
  }
  p.op('u');
  if (metadata) {
    p.op('}').str("_metadata").ordered_dict().str("").op('}').str("version").integer(1).op('s').op('s').op('s').op('b');
  }
  return p.op('.').b;
}

template <typename T>
std::string raw(const std::vector<T>& v) { return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)); }

// Writes a zip archive through libtorch's own writer (folder "archive/" as newer torch does when writing to a buffer).
void write_pth(const std::string& path, const std::string& pkl, const std::vector<std::pair<std::string, std::string>>& records,
               bool compress = false) {
  std::string buf;
  {
    caffe2::serialize::PyTorchStreamWriter w([&](const void* d, size_t n) {
      buf.append(static_cast<const char*>(d), n);
      return n;
    });
    w.writeRecord("data.pkl", pkl.data(), pkl.size(), compress);
    for (const auto& [name, bytes] : records) w.writeRecord(name, bytes.data(), bytes.size(), compress);
    w.writeEndOfFile();
  }
  write_file(path, buf);
}

std::vector<float> iota_f(int n) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = 0.5f * i - 3.0f;
  return v;
}

// ---- a minimal zip writer (stored entries), to build archives libtorch's writer never produces -------------
uint32_t crc32_bitwise(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : s) {
    c ^= ch;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
  }
  return c ^ 0xFFFFFFFFu;
}
void put16(std::string& s, uint64_t v) { for (int k = 0; k < 2; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff)); }
void put32(std::string& s, uint64_t v) { for (int k = 0; k < 4; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff)); }
void put64(std::string& s, uint64_t v) { for (int k = 0; k < 8; ++k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xff)); }

// zip64: every size/offset field is 0xFFFFFFFF with the real value in the zip64 extra field, plus the zip64
// end-of-central-directory record and locator (what a > 4 GB checkpoint such as umT5-XXL's has).
// pad: bytes of an unknown extra field in each local header (shifts the data's alignment).
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries, bool zip64, size_t pad = 0) {
  std::string out, cd;
  for (const auto& [name, data] : entries) {
    const uint64_t local = out.size();
    const uint32_t crc = crc32_bitwise(data);
    std::string lextra;
    if (zip64) { put16(lextra, 1); put16(lextra, 16); put64(lextra, data.size()); put64(lextra, data.size()); }
    if (pad) { put16(lextra, 0xCAFE); put16(lextra, pad); lextra += std::string(pad, 'Z'); }
    put32(out, 0x04034b50); put16(out, zip64 ? 45 : 20); put16(out, 0); put16(out, 0); put16(out, 0); put16(out, 0);
    put32(out, crc); put32(out, zip64 ? 0xFFFFFFFFu : data.size()); put32(out, zip64 ? 0xFFFFFFFFu : data.size());
    put16(out, name.size()); put16(out, lextra.size());
    out += name + lextra + data;
    std::string cextra;
    if (zip64) { put16(cextra, 1); put16(cextra, 24); put64(cextra, data.size()); put64(cextra, data.size()); put64(cextra, local); }
    put32(cd, 0x02014b50); put16(cd, 45); put16(cd, zip64 ? 45 : 20); put16(cd, 0); put16(cd, 0); put16(cd, 0); put16(cd, 0);
    put32(cd, crc); put32(cd, zip64 ? 0xFFFFFFFFu : data.size()); put32(cd, zip64 ? 0xFFFFFFFFu : data.size());
    put16(cd, name.size()); put16(cd, cextra.size()); put16(cd, 0); put16(cd, 0); put16(cd, 0); put32(cd, 0);
    put32(cd, zip64 ? 0xFFFFFFFFu : local);
    cd += name + cextra;
  }
  const uint64_t cd_off = out.size();
  out += cd;
  if (zip64) {
    const uint64_t z = out.size();
    put32(out, 0x06064b50); put64(out, 44); put16(out, 45); put16(out, 45); put32(out, 0); put32(out, 0);
    put64(out, entries.size()); put64(out, entries.size()); put64(out, cd.size()); put64(out, cd_off);
    put32(out, 0x07064b50); put32(out, 0); put64(out, z); put32(out, 1);
  }
  put32(out, 0x06054b50); put16(out, 0); put16(out, 0);
  put16(out, zip64 ? 0xFFFF : entries.size()); put16(out, zip64 ? 0xFFFF : entries.size());
  put32(out, zip64 ? 0xFFFFFFFFu : cd.size()); put32(out, zip64 ? 0xFFFFFFFFu : cd_off); put16(out, 0);
  return out;
}

}  // namespace

// ---- the three checkpoint-layout files ------------------------------------------------------------------
TEST(Pth, UmT5Bf16MatchesSharedWeightsRoundedToBf16) {
  TensorSet t5 = load_pth(layout(kT5));
  TensorSet ref = load_safetensors(fixtures_root() + "/umt5_tiny/weights.safetensors");
  ASSERT_EQ(t5.size(), 22u);
  EXPECT_EQ(t5.names(), ref.names());
  EXPECT_EQ(t5.get("token_embedding.weight").sizes(), (std::vector<int64_t>{256, 32}));
  EXPECT_EQ(t5.get("blocks.0.pos_embedding.embedding.weight").sizes(), (std::vector<int64_t>{32, 4}));
  EXPECT_EQ(t5.source("norm.weight"), layout(kT5));
  for (const auto& n : t5.names()) {
    EXPECT_EQ(t5.get(n).scalar_type(), at::kBFloat16) << n;
    EXPECT_TRUE(bits_equal(t5.get(n), ref.get(n).to(at::kBFloat16))) << n;
  }
}

TEST(Pth, VaeIsBitIdenticalToSharedWeights) {
  TensorSet vae = load_pth(layout(kVae));
  TensorSet ref = load_safetensors(fixtures_root() + "/wan_vae_tiny/weights.safetensors");
  ASSERT_EQ(vae.size(), 194u);
  EXPECT_EQ(vae.names(), ref.names());
  EXPECT_TRUE(vae.has("encoder.conv1.weight"));
  EXPECT_TRUE(vae.has("decoder.head.2.bias"));
  for (const auto& n : vae.names()) {
    EXPECT_EQ(vae.get(n).scalar_type(), at::kFloat) << n;
    EXPECT_TRUE(bits_equal(vae.get(n), ref.get(n))) << n;
  }
}

TEST(Pth, ClipVisualIsBitIdenticalAndLogScaleIsZeroDim) {
  TensorSet clip = load_pth(layout(kClip));
  ASSERT_EQ(clip.size(), 68u);
  const at::Tensor& ls = clip.get("log_scale");
  EXPECT_EQ(ls.dim(), 0);
  EXPECT_EQ(ls.scalar_type(), at::kFloat);
  EXPECT_NEAR(ls.item<float>(), std::log(1.0 / 0.07), 1e-6);
  TensorSet visual = clip.with_prefix("visual.");
  TensorSet ref = load_safetensors(fixtures_root() + "/clip_vision_tiny/weights.safetensors");
  ASSERT_EQ(visual.size(), 44u);
  EXPECT_EQ(visual.names(), ref.names());
  for (const auto& n : visual.names()) EXPECT_TRUE(bits_equal(visual.get(n), ref.get(n))) << n;
  int textual = 0;
  for (const auto& n : clip.names()) textual += n.rfind("textual.", 0) == 0;
  EXPECT_EQ(textual, 23);
  EXPECT_EQ(clip.get("visual.patch_embedding.weight").sizes(), (std::vector<int64_t>{64, 3, 8, 8}));
  EXPECT_EQ(clip.get("visual.pos_embedding").sizes(), (std::vector<int64_t>{1, 17, 64}));
}

TEST(Pth, DispatchByExtensionAndWeightLoader) {
  TensorSet vae = load_tensor_file(layout(kVae));
  EXPECT_EQ(vae.size(), 194u);
  TensorSet clip = load_tensor_file(layout(kClip));
  WeightLoader wl(clip, "CLIP");
  at::Tensor w = wl.take("visual.patch_embedding.weight", {64, 3, 8, 8});
  EXPECT_TRUE(w.is_contiguous());
  wl.ignore_prefix("textual.");
  wl.ignore_prefix("visual.");
  EXPECT_THROW(wl.finish(), Error);  // log_scale not claimed
  wl.ignore("log_scale");
  EXPECT_NO_THROW(wl.finish());
}

// ---- synthetic archives ---------------------------------------------------------------------------------
TEST(Pth, SharedStorageStridesOffsetsAndZeroDim) {
  const auto data = iota_f(24);
  const std::vector<TRef> ts = {
      {"full", "FloatStorage", "0", 24, 0, {4, 6}, {6, 1}},
      {"transposed", "FloatStorage", "0", 24, 0, {6, 4}, {1, 6}},      // a .t() view of the same storage
      {"row2", "FloatStorage", "0", 24, 12, {6}, {1}},                 // offset view
      {"every_other", "FloatStorage", "0", 24, 1, {3, 2}, {8, 4}},     // strided
      {"scalar", "FloatStorage", "0", 24, 23, {}, {}},                 // 0-dim
      {"empty", "FloatStorage", "0", 24, 0, {0, 5}, {5, 1}},
      {"half", "HalfStorage", "1", 3, 0, {3}, {1}},
      {"ids", "LongStorage", "2", 2, 0, {2}, {1}},
  };
  const std::vector<uint16_t> half = {0x3c00, 0xc000, 0x3800};  // 1, -2, 0.5
  const std::vector<int64_t> ids = {7, -9};
  for (bool compress : {false, true}) {
    const std::string p = tmp(compress ? "synthetic_deflate.pth" : "synthetic.pth");
    write_pth(p, state_dict_pickle(ts), {{"data/0", raw(data)}, {"data/1", raw(half)}, {"data/2", raw(ids)}}, compress);
    TensorSet s = load_pth(p);
    ASSERT_EQ(s.size(), ts.size()) << compress;
    at::Tensor full = at::tensor(data).reshape({4, 6});
    EXPECT_TRUE(at::equal(s.get("full"), full));
    EXPECT_TRUE(at::equal(s.get("transposed"), full.t()));
    EXPECT_TRUE(at::equal(s.get("row2"), full[2]));
    EXPECT_TRUE(at::equal(s.get("every_other"), full.flatten().as_strided({3, 2}, {8, 4}, 1)));
    EXPECT_EQ(s.get("scalar").dim(), 0);
    EXPECT_EQ(s.get("scalar").item<float>(), data[23]);
    EXPECT_EQ(s.get("empty").sizes(), (std::vector<int64_t>{0, 5}));
    EXPECT_TRUE(at::equal(s.get("half"), at::tensor({1.0f, -2.0f, 0.5f}).to(at::kHalf)));
    EXPECT_TRUE(at::equal(s.get("ids"), at::tensor(ids)));
    // Views of one storage share memory: the record is read once.
    EXPECT_EQ(static_cast<const char*>(s.get("row2").data_ptr()),
              static_cast<const char*>(s.get("full").data_ptr()) + 12 * sizeof(float));
    EXPECT_EQ(s.get("transposed").data_ptr(), s.get("full").data_ptr());
  }
}

TEST(Pth, AcceptsProtocol4OpcodesAndParameters) {
  // FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, BINGET/BINPUT, EMPTY_DICT + SETITEM, _rebuild_parameter.
  Pickle p;
  auto sbu = [&](const std::string& s) { p.b.push_back('\x8c'); p.b.push_back(static_cast<char>(s.size())); p.b += s; p.op('\x94'); };
  p.proto(4);
  p.b += std::string("\x95\x00\x00\x00\x00\x00\x00\x00\x00", 9);
  p.op('}').op('\x94');  // memo 0: the dict
  sbu("w");              // memo 1
  sbu("torch._utils");   // memo 2
  sbu("_rebuild_parameter");  // memo 3
  p.op('\x93').op('\x94');    // memo 4
  sbu("torch._utils");
  sbu("_rebuild_tensor_v2");
  p.op('\x93').op('\x94');
  p.op('(').op('(');
  sbu("storage");
  sbu("torch");
  sbu("BFloat16Storage");
  p.op('\x93').op('\x94');
  sbu("0");
  sbu("cuda:0");
  p.integer(4).op('t').op('\x94').op('Q').op('\x94');
  p.integer(0).int_tuple({2, 2}).int_tuple({2, 1}).op('\x89');
  p.global("collections", "OrderedDict").op(')').op('R').op('t').op('R');  // tensor
  p.op('\x88').op('}').op('\x87').op('R');  // _rebuild_parameter(tensor, True, {})
  p.op('s').op('.');
  const std::vector<uint16_t> bf = {0x3f80, 0x4000, 0xbf80, 0x0000};  // 1, 2, -1, 0
  const std::string path = tmp("proto4.pth");
  write_pth(path, p.b, {{"data/0", raw(bf)}});
  TensorSet s = load_pth(path);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(at::equal(s.get("w"), at::tensor({1.0f, 2.0f, -1.0f, 0.0f}).reshape({2, 2}).to(at::kBFloat16)));
}

TEST(Pth, StructuralErrorsNameTheFileAndTensor) {
  const auto data = iota_f(8);
  auto one = [](const std::string& type, int64_t numel, int64_t off, std::vector<int64_t> size, std::vector<int64_t> stride) {
    return std::vector<TRef>{{"w", type, "0", numel, off, std::move(size), std::move(stride)}};
  };
  std::string p;

  p = tmp("missing_record.pth");
  write_pth(p, state_dict_pickle(one("FloatStorage", 8, 0, {8}, {1})), {});
  EXPECT_TRUE(pth_error(p, "tensor 'w': storage record 'archive/data/0' is missing"));

  p = tmp("short_record.pth");
  write_pth(p, state_dict_pickle(one("FloatStorage", 8, 0, {8}, {1})), {{"data/0", raw(data).substr(0, 20)}});
  EXPECT_TRUE(pth_error(p, "tensor 'w': storage record 'archive/data/0' has 20 bytes"));

  p = tmp("past_storage.pth");
  write_pth(p, state_dict_pickle(one("FloatStorage", 8, 4, {2, 3}, {3, 1})), {{"data/0", raw(data)}});
  EXPECT_TRUE(pth_error(p, "tensor 'w' (size [2,3], stride [3,1], offset 4) reaches past its storage"));

  p = tmp("huge_stride.pth");
  write_pth(p, state_dict_pickle(one("FloatStorage", 8, 0, {2, 2, 2, 2, 2}, {INT64_MAX / 2, INT64_MAX / 2, INT64_MAX / 2, INT64_MAX / 2, 1})),
            {{"data/0", raw(data)}});
  EXPECT_TRUE(pth_error(p, "reaches past its storage"));

  p = tmp("neg_stride.pth");
  write_pth(p, state_dict_pickle(one("FloatStorage", 8, 7, {8}, {-1})), {{"data/0", raw(data)}});
  EXPECT_TRUE(pth_error(p, "tensor 'w' has a negative size or stride"));

  p = tmp("qint.pth");
  write_pth(p, state_dict_pickle(one("QInt8Storage", 8, 0, {8}, {1})), {{"data/0", raw(data)}});
  EXPECT_TRUE(pth_error(p, "unsupported storage type 'torch.QInt8Storage'"));

  // A list at the top level.
  p = tmp("list.pth");
  write_pth(p, Pickle().proto().op(']').op('.').b, {});
  EXPECT_TRUE(pth_error(p, "holds a list, not a state dict"));

  // A value that is not a tensor, and a nested checkpoint.
  p = tmp("int_value.pth");
  write_pth(p, Pickle().proto().op('}').str("epoch").integer(3).op('s').op('.').b, {});
  EXPECT_TRUE(pth_error(p, "entry 'epoch' is a int, not a tensor"));
  p = tmp("nested.pth");
  write_pth(p, Pickle().proto().op('}').str("state_dict").op('}').op('s').op('.').b, {});
  EXPECT_TRUE(pth_error(p, "entry 'state_dict' is a dict, not a tensor (a nested checkpoint?"));

  // Arbitrary callables are refused (no code execution, no silent garbage).
  p = tmp("evil.pth");
  write_pth(p, Pickle().proto().global("os", "system").str("echo hi").op('\x85').op('R').op('.').b, {});
  EXPECT_TRUE(pth_error(p, "refuses the global 'os.system' (GLOBAL)"));

  p = tmp("opcode.pth");
  write_pth(p, Pickle().proto().op('}').op('\xff').op('.').b, {});
  EXPECT_TRUE(pth_error(p, "unsupported pickle opcode 0xff"));

  p = tmp("no_stop.pth");
  write_pth(p, Pickle().proto().op('}').b, {});
  EXPECT_TRUE(pth_error(p, "ends without STOP"));

  p = tmp("underflow.pth");
  write_pth(p, Pickle().proto().op('s').op('.').b, {});
  EXPECT_TRUE(pth_error(p, "stack underflow"));

  p = tmp("memo.pth");
  write_pth(p, Pickle().proto().op('h').op('\x07').op('.').b, {});
  EXPECT_TRUE(pth_error(p, "memo entry 7 was never stored"));

  p = tmp("wide_int.pth");
  write_pth(p, Pickle().proto().op('\x8a').op('\x09').b + std::string(9, '\x01') + ".", {});
  EXPECT_TRUE(pth_error(p, "integer wider than 64 bits"));

  // Self-referencing and deeply nested containers: an error, without stack overflow or leaks.
  Pickle cyc;
  cyc.proto().op(']').op('q').op('\x00').op('h').op('\x00').op('a').op('.');
  p = tmp("cycle.pth");
  write_pth(p, cyc.b, {});
  EXPECT_TRUE(pth_error(p, "holds a list"));
  Pickle deep;
  deep.proto().op(')');
  for (int k = 0; k < 200000; ++k) deep.op('\x85');
  deep.op('.');
  p = tmp("deep.pth");
  write_pth(p, deep.b, {});
  EXPECT_TRUE(pth_error(p, "holds a tuple"));
}

TEST(Pth, FileLevelErrors) {
  std::string p = tmp("does_not_exist.pth");
  EXPECT_TRUE(pth_error(p, "cannot open"));
  p = tmp("empty.pth");
  write_file(p, "");
  EXPECT_TRUE(pth_error(p, "empty file"));
  p = tmp("text.pth");
  write_file(p, "hello, this is not a checkpoint at all\n");
  EXPECT_TRUE(pth_error(p, "not a zip archive"));
  p = tmp("legacy.pth");
  write_file(p, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15));
  EXPECT_TRUE(pth_error(p, "legacy (non-zip) torch.save format"));
  p = tmp("dir.pth");
  fs::create_directories(p);
  EXPECT_TRUE(pth_error(p, "not a regular file"));

  // A zip without data.pkl; a TorchScript-like archive.
  {
    std::string buf;
    caffe2::serialize::PyTorchStreamWriter w([&](const void* d, size_t n) { buf.append(static_cast<const char*>(d), n); return n; });
    w.writeRecord("something.txt", "abc", 3);
    w.writeEndOfFile();
    p = tmp("nopkl.pth");
    write_file(p, buf);
    EXPECT_TRUE(pth_error(p, "has no <folder>/data.pkl"));
  }
  {
    std::string buf;
    caffe2::serialize::PyTorchStreamWriter w([&](const void* d, size_t n) { buf.append(static_cast<const char*>(d), n); return n; });
    w.writeRecord("constants.pkl", "abc", 3);
    w.writeRecord("code/m.py", "abc", 3);
    w.writeEndOfFile();
    p = tmp("script.pth");
    write_file(p, buf);
    EXPECT_TRUE(pth_error(p, "TorchScript archive"));
  }
  // Big-endian byteorder record.
  {
    const auto data = iota_f(2);
    p = tmp("bigendian.pth");
    write_pth(p, state_dict_pickle({{"w", "FloatStorage", "0", 2, 0, {2}, {1}}}), {{"data/0", raw(data)}, {"byteorder", "big"}});
    EXPECT_TRUE(pth_error(p, "byteorder 'big' is not supported"));
    write_pth(p, state_dict_pickle({{"w", "FloatStorage", "0", 2, 0, {2}, {1}}}), {{"data/0", raw(data)}, {"byteorder", "little"}});
    EXPECT_EQ(load_pth(p).size(), 1u);
  }
}

TEST(Pth, Zip64RootLevelAndMisalignedArchives) {
  const auto data = iota_f(6);
  const std::string pkl = state_dict_pickle({{"a", "FloatStorage", "k0", 6, 0, {2, 3}, {3, 1}},
                                             {"b", "FloatStorage", "k0", 6, 2, {2}, {2}}});
  const at::Tensor full = at::tensor(data).reshape({2, 3});
  struct Case { const char* file; bool zip64; size_t pad; const char* stem; };
  int misaligned = 0;
  for (const Case& c : {Case{"zip64.pth", true, 0, "some_other_name/"}, Case{"zip64_odd.pth", true, 1, "x/"},
                        Case{"root.pth", false, 0, ""}, Case{"odd.pth", false, 3, "m/"}}) {
    const std::string p = tmp(c.file);
    const std::string stem = c.stem;
    const std::string zip = make_zip({{stem + "data.pkl", pkl}, {stem + "data/k0", raw(data)}, {stem + "version", "3\n"}}, c.zip64, c.pad);
    if (c.pad) misaligned += zip.find(raw(data)) % 4 != 0;  // such storages are copied, not mapped
    write_file(p, zip);
    TensorSet s = load_pth(p);
    ASSERT_EQ(s.size(), 2u) << c.file;
    EXPECT_TRUE(at::equal(s.get("a"), full)) << c.file;
    EXPECT_TRUE(at::equal(s.get("b"), at::tensor({data[2], data[4]}))) << c.file;
  }
  EXPECT_EQ(misaligned, 2);
  // Corrupting the zip64 locator / record is reported, not followed.
  std::string z = make_zip({{"s/data.pkl", pkl}, {"s/data/k0", raw(data)}}, true);
  const size_t loc = z.size() - 22 - 20;
  std::string bad = z;
  bad[loc + 8] = '\x7f';  // zip64 EOCD offset far past the end
  write_file(tmp("zip64_bad.pth"), bad);
  EXPECT_TRUE(pth_error(tmp("zip64_bad.pth"), "zip64 end-of-central-directory record missing"));
  bad = z;
  bad[loc] = 'X';
  write_file(tmp("zip64_noloc.pth"), bad);
  EXPECT_TRUE(pth_error(tmp("zip64_noloc.pth"), "zip64 fields without a zip64 locator"));
  // Two top-level data.pkl, and a storage record whose data CRC is wrong.
  write_file(tmp("two.pth"), make_zip({{"a/data.pkl", pkl}, {"b/data.pkl", pkl}}, false));
  EXPECT_TRUE(pth_error(tmp("two.pth"), "several data.pkl"));
  std::string crc = make_zip({{"s/data.pkl", pkl}, {"s/data/k0", raw(data)}}, false);
  crc[crc.find(raw(data)) + 5] ^= 1;
  write_file(tmp("crc.pth"), crc);
  EXPECT_TRUE(pth_error(tmp("crc.pth"), "zip entry 's/data/k0' is corrupted (CRC mismatch)"));
}

// ---- corrupted copies of a real checkpoint --------------------------------------------------------------
TEST(Pth, TruncatedCopiesAlwaysFail) {
  const std::string orig = read_file(layout(kT5));
  ASSERT_GT(orig.size(), 60000u);
  const std::string p = tmp("truncated.pth");
  // Every cut inside the central directory, plus a sweep over the whole file.
  std::vector<size_t> cuts = {0, 1, 3, 4, 21, 22, 100, orig.size() / 2, orig.size() - 1};
  for (size_t c = 0; c + 1 < orig.size(); c += 1999) cuts.push_back(c);
  for (size_t c = orig.size() - 2200; c < orig.size(); c += 31) cuts.push_back(c);
  for (size_t c : cuts) {
    write_file(p, orig.substr(0, c));
    std::string msg;
    EXPECT_EQ(load_or_error(p, &msg), Outcome::Error) << "cut at " << c;
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
  EXPECT_TRUE(pth_error(p, ""));
}

TEST(Pth, ByteFlipsNeverCrashAndCorruptDataIsDetected) {
  const std::string orig = read_file(layout(kT5));
  const std::string p = tmp("flipped.pth");
  std::mt19937 rng(1234);
  int errors = 0, loaded = 0;
  for (int it = 0; it < 200; ++it) {
    std::string s = orig;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) s[rng() % s.size()] ^= static_cast<char>(1 + rng() % 255);
    write_file(p, s);
    (load_or_error(p) == Outcome::Error ? errors : loaded)++;
  }
  EXPECT_GT(errors, 150);  // almost every flip hits CRC-checked bytes
  // A flip in the storage bytes of a tensor is caught by the CRC, naming the record.
  std::string s = orig;
  s[orig.size() / 2] ^= 0x5a;
  write_file(p, s);
  std::string msg;
  ASSERT_EQ(load_or_error(p, &msg), Outcome::Error);
  EXPECT_NE(msg.find("CRC mismatch"), std::string::npos) << msg;
  std::printf("byte flips: %d errors, %d loaded\n", errors, loaded);
}

// data.pkl mutated but re-zipped with valid CRCs: exercises the unpickler itself on garbage.
TEST(Pth, FuzzedPicklesNeverCrash) {
  caffe2::serialize::PyTorchStreamReader r(layout(kT5));
  auto rec = r.getRecord("data.pkl");
  const std::string pkl(static_cast<const char*>(std::get<0>(rec).get()), std::get<1>(rec));
  std::vector<std::pair<std::string, std::string>> storages;
  for (const auto& name : r.getAllRecords()) {
    if (name.rfind("data/", 0) != 0) continue;
    auto d = r.getRecord(name);
    storages.emplace_back(name, std::string(static_cast<const char*>(std::get<0>(d).get()), std::get<1>(d)));
  }
  const std::string p = tmp("fuzz.pth");
  write_pth(p, pkl, storages);
  ASSERT_EQ(load_pth(p).size(), 22u);  // the re-zipped original still loads (stem "archive")

  std::mt19937 rng(42);
  int errors = 0, loaded = 0;
  for (int it = 0; it < 160; ++it) {
    std::string s = pkl;
    switch (it % 4) {
      case 0: s[rng() % s.size()] = static_cast<char>(rng() & 0xff); break;
      case 1: s.resize(rng() % s.size()); break;
      case 2: for (int k = 0; k < 8; ++k) s[rng() % s.size()] = static_cast<char>(rng() & 0xff); break;
      case 3: { size_t a = rng() % s.size(), n = 1 + rng() % 64; s.erase(a, n); break; }
    }
    write_pth(p, s, storages);
    std::string msg;
    if (load_or_error(p, &msg) == Outcome::Error) {
      ++errors;
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    } else {
      ++loaded;
    }
  }
  EXPECT_GT(errors, 80);
  std::printf("fuzzed pickles: %d errors, %d loaded\n", errors, loaded);
}

// ---- issue 28: hostile pickles are refused by name and never run; limits on what a pickle may build -------------
TEST(Pth, HostilePicklesAreRefusedByNameAndNeverRun) {
  const std::string canary = tmp("CANARY_must_not_exist");
  fs::remove(canary);
  const std::string cmd = "touch " + canary;
  struct Case { const char* name; std::string pkl; const char* needle; };
  std::vector<Case> cases;
  // REDUCE on os.system / builtins.eval / subprocess.check_call (GLOBAL and STACK_GLOBAL).
  cases.push_back({"reduce_os_system", Pickle().proto().global("os", "system").str(cmd).op('\x85').op('R').op('.').b,
                   "refuses the global 'os.system' (GLOBAL)"});
  cases.push_back({"reduce_posix_system", Pickle().proto().global("posix", "system").str(cmd).op('\x85').op('R').op('.').b,
                   "refuses the global 'posix.system'"});
  cases.push_back({"stack_global_eval", [&] {
                     Pickle p; p.proto(4); p.b += "\x8c\x08" "builtins" "\x8c\x04" "eval" "\x93"; p.str("__import__('os').system('" + cmd + "')");
                     return p.op('\x85').op('R').op('.').b; }(),
                   "refuses the global 'builtins.eval' (STACK_GLOBAL)"});
  cases.push_back({"reduce_subprocess", [&] {
                     Pickle p; p.proto().global("subprocess", "check_call").op('(').op('(').str("touch").str(canary).op('l').op('t').op('R');
                     return p.op('.').b; }(),
                   "refuses the global 'subprocess.check_call'"});
  // INST names its class inline; OBJ / NEWOBJ / NEWOBJ_EX build instances; BUILD calls __setstate__.
  cases.push_back({"inst_os_system", [&] { Pickle p; p.proto().op('(').str(cmd); p.b += "ios\nsystem\n"; return p.op('.').b; }(),
                   "refuses the global 'os.system' (INST)"});
  cases.push_back({"inst_allowed_class", [&] { Pickle p; p.proto().op('('); p.b += "icollections\nOrderedDict\n"; return p.op('.').b; }(),
                   "INST of 'collections.OrderedDict' is not used by state dicts and is refused"});
  cases.push_back({"obj_subprocess", [&] { Pickle p; p.proto().op('(').global("subprocess", "Popen").str(cmd).op('o'); return p.op('.').b; }(),
                   "refuses the global 'subprocess.Popen'"});
  cases.push_back({"obj_allowed_class", [&] { Pickle p; p.proto().op('(').global("collections", "OrderedDict").op('o'); return p.op('.').b; }(),
                   "OBJ (object construction) of 'collections.OrderedDict'"});
  cases.push_back({"newobj", Pickle().proto().global("collections", "OrderedDict").op(')').op('\x81').op('.').b,
                   "NEWOBJ (object construction) of 'collections.OrderedDict'"});
  cases.push_back({"newobj_ex", Pickle().proto(4).global("collections", "OrderedDict").op(')').op('}').op('\x92').op('.').b,
                   "NEWOBJ_EX (object construction) of 'collections.OrderedDict'"});
  cases.push_back({"build_on_class", Pickle().proto().global("collections", "OrderedDict").op('}').op('b').op('.').b,
                   "BUILD on a class/function is not supported"});
  cases.push_back({"reduce_in_state_dict", [&] {
                     Pickle p; p.proto().ordered_dict().str("w").global("os", "system").str(cmd).op('\x85').op('R').op('s');
                     return p.op('.').b; }(),
                   "refuses the global 'os.system'"});
  cases.push_back({"ext1", Pickle().proto().op('\x82').op('\x01').op('.').b, "EXT opcodes"});
  for (const auto& c : cases) {
    const std::string p = tmp(std::string(c.name) + ".pth");
    write_pth(p, c.pkl, {});
    EXPECT_TRUE(pth_error(p, c.needle)) << c.name;
    EXPECT_FALSE(fs::exists(canary)) << c.name << " ran code";
  }
}

TEST(Pth, PickleLimitsBoundMemoryAndTime) {
  auto expect_limit = [](const std::string& name, const std::string& pkl, const std::string& needle) {
    const std::string p = tmp(name);
    write_pth(p, pkl, {});
    EXPECT_TRUE(pth_error(p, needle)) << name;
  };
  expect_limit("marks.pth", Pickle().proto().b + std::string(5000, '(') + ".", "nested MARKs (limit)");
  expect_limit("stack.pth", Pickle().proto().b + std::string(300000, 'N') + ".", "stack deeper than");
  {
    Pickle p; p.proto().op('N');
    p.b += "r"; p.b += std::string("\xff\xff\xff\x7f", 4);  // LONG_BINPUT 2^31-1
    expect_limit("memo_index.pth", p.op('.').b, "memo index 2147483647 beyond the limit");
  }
  {
    // A small pickle that builds a long list one 2-byte APPEND at a time.
    Pickle p; p.proto().op(']');
    for (int i = 0; i < (1 << 21) + 10; ++i) p.b += "Na";
    expect_limit("objects.pth", p.op('.').b, "objects (limit");
  }
}

TEST(Pth, ZipEntriesAreCheckedBeforeInflating) {
  const std::string pkl = state_dict_pickle({{"w", "FloatStorage", "0", 4, 0, {4}, {1}}});
  const std::vector<float> data = iota_f(4);
  // Two entries sharing bytes, and a method the reader does not inflate.
  std::string z = make_zip({{"archive/data.pkl", pkl}, {"archive/data/0", raw(data)}}, false);
  const std::string good = tmp("zip_good.pth");
  write_file(good, z);
  EXPECT_EQ(load_pth(good).size(), 1u);
  {
    std::string bad = z;
    // central directory of the 2nd entry: method field at +10 from its signature
    const size_t cd2 = bad.rfind(std::string("PK\x01\x02", 4));
    bad[cd2 + 10] = 12;  // bzip2
    const std::string p = tmp("zip_method.pth");
    write_file(p, bad);
    EXPECT_TRUE(pth_error(p, "uses compression method 12"));
  }
  {
    std::string bad = z;
    const size_t cd2 = bad.rfind(std::string("PK\x01\x02", 4));
    bad[cd2 + 10] = 8;  // deflate, declaring 4 GiB inflated from 16 bytes
    bad[cd2 + 24] = bad[cd2 + 25] = bad[cd2 + 26] = '\x00';
    bad[cd2 + 27] = '\x01';
    const std::string p = tmp("zip_bomb.pth");
    write_file(p, bad);
    EXPECT_TRUE(pth_error(p, "more than deflate can produce"));
  }
  {
    std::string bad = z;
    const size_t cd2 = bad.rfind(std::string("PK\x01\x02", 4));
    bad[cd2 + 42] = bad[cd2 + 43] = bad[cd2 + 44] = bad[cd2 + 45] = '\0';  // local offset 0: the first entry again
    const std::string p = tmp("zip_overlap.pth");
    write_file(p, bad);
    EXPECT_TRUE(pth_error(p, "names another entry"));
  }
  {
    const std::string p = tmp("zip_size_mismatch.pth");
    write_pth(p, state_dict_pickle({{"w", "HalfStorage", "0", 4, 0, {4}, {1}}}), {{"data/0", raw(data)}});
    EXPECT_TRUE(pth_error(p, "(data of another dtype than declared?)"));
  }
}
