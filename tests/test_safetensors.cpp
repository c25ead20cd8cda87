// safetensors reader/writer, sharded checkpoints and WeightLoader: round trips, the checkpoint-layout shards, and one
// test per kind of broken file, each checking that the message names the file (and the tensor where relevant).
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/dtype.h"
#include "engine/core/error.h"
#include "engine/core/safetensors.h"
#include "engine/core/weights.h"
#include "tests/test_util.h"

using namespace focalscope;
using focalscope::testing::shared_fixture;
namespace fs = std::filesystem;

namespace {

std::string tmp(const std::string& name) { return focalscope::testing::temp_dir("safetensors") + "/" + name; }

std::string read_file(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}
void write_file(const std::string& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

// A raw safetensors file: u64 header length, the header text as given, then `data`.
std::string raw_safetensors(const std::string& header, const std::string& data) {
  std::string s(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s + header + data;
}

::testing::AssertionResult bits_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type())
    return ::testing::AssertionFailure() << "dtype " << a.scalar_type() << " vs " << b.scalar_type();
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shape " << a.sizes() << " vs " << b.sizes();
  auto x = a.contiguous(), y = b.contiguous();
  if (x.numel() && std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * x.element_size()) != 0)
    return ::testing::AssertionFailure() << "bytes differ";
  return ::testing::AssertionSuccess();
}

// Runs f, expecting focalscope::Error whose single-line message contains every needle.
template <typename F>
::testing::AssertionResult throws_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    return ::testing::AssertionFailure() << "no exception";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const auto& n : needles)
      if (m.find(n) == std::string::npos) return ::testing::AssertionFailure() << "message lacks '" << n << "': " << m;
    if (m.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "message is not one line: " << m;
    return ::testing::AssertionSuccess() << m;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "non-focalscope exception: " << e.what();
  }
}

std::vector<std::pair<std::string, at::Tensor>> every_dtype() {
  at::manual_seed(7);
  std::vector<std::pair<std::string, at::Tensor>> v;
  v.emplace_back("f64", at::randn({3, 5}, at::kDouble));
  v.emplace_back("f32", at::randn({2, 3, 4}, at::kFloat));
  v.emplace_back("f16", at::randn({7}, at::kFloat).to(at::kHalf));
  v.emplace_back("bf16", at::randn({4, 4}, at::kFloat).to(at::kBFloat16));
  v.emplace_back("i64", at::randint(-1000000, 1000000, {6}, at::kLong));
  v.emplace_back("i32", at::randint(-100000, 100000, {2, 2}, at::kInt));
  v.emplace_back("i16", at::randint(-30000, 30000, {5}, at::kShort));
  v.emplace_back("i8", at::randint(-128, 127, {9}, at::kChar));
  v.emplace_back("u8", at::randint(0, 255, {3, 3}, at::kByte));
  v.emplace_back("bool", at::randint(0, 2, {11}, at::kLong).to(at::kBool));
  v.emplace_back("scalar", at::tensor(3.25f).reshape({}));
  v.emplace_back("empty", at::empty({0, 3}, at::kFloat));
  v.emplace_back("transposed", at::randn({3, 4}, at::kFloat).t());  // non-contiguous input
  return v;
}

}  // namespace

// ---- round trip -----------------------------------------------------------------------------------------
TEST(Safetensors, RoundTripEveryDtypeWithMetadata) {
  const auto tensors = every_dtype();
  const std::string p = tmp("roundtrip.safetensors");
  save_safetensors(p, tensors, {{"format", "pt"}, {"note", "round trip"}});
  auto f = SafetensorsFile::open(p);
  EXPECT_EQ(f->path(), p);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "round trip");
  ASSERT_EQ(f->entries().size(), tensors.size());
  for (size_t i = 1; i < f->entries().size(); ++i) EXPECT_LE(f->entries()[i - 1].end, f->entries()[i].begin);
  // The data section starts 8-byte aligned, so tensors come back as zero-copy views.
  uint64_t hlen = 0;
  const std::string bytes = read_file(p);
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ((8 + hlen) % 8, 0u);
  for (const auto& [name, t] : tensors) {
    const TensorEntry* e = f->find(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->shape, t.sizes().vec()) << name;
    EXPECT_EQ(to_scalar_type(e->dtype), t.scalar_type()) << name;
    EXPECT_EQ(e->end - e->begin, static_cast<uint64_t>(t.numel() * t.element_size())) << name;
    EXPECT_TRUE(bits_equal(f->tensor(name), t)) << name;
  }
  EXPECT_EQ(std::string(dtype_name(f->find("bf16")->dtype)), "BF16");
  EXPECT_EQ(std::string(dtype_name(f->find("bool")->dtype)), "BOOL");
  EXPECT_EQ(f->find("nope"), nullptr);
  EXPECT_TRUE(throws_error([&] { (void)f->tensor("nope"); }, {p, "no tensor named 'nope'"}));

  TensorSet set = load_safetensors(p);
  EXPECT_EQ(set.size(), tensors.size());
  EXPECT_EQ(set.origin, p);
  EXPECT_EQ(set.source("f32"), p);
  EXPECT_TRUE(bits_equal(set.get("bf16"), tensors[3].second));
  EXPECT_TRUE(throws_error([&] { (void)set.get("nope"); }, {p, "no tensor named 'nope'"}));
  TensorSet viaext = load_tensor_file(p);
  EXPECT_EQ(viaext.names(), set.names());
}

TEST(Safetensors, DtypeTable) {
  for (DType d : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32, DType::I16, DType::I8,
                  DType::U8, DType::BOOL}) {
    EXPECT_EQ(parse_dtype(dtype_name(d)), d);
    EXPECT_EQ(from_scalar_type(to_scalar_type(d)), d);
    EXPECT_EQ(dtype_size(d), c10::elementSize(to_scalar_type(d)));
  }
  // fp8 (issue 27): parsed, stored as uint8 bytes for engine/formats to decode; kByte still maps back to U8.
  EXPECT_EQ(parse_dtype("F8_E4M3"), DType::F8_E4M3);
  EXPECT_EQ(parse_dtype("F8_E5M2"), DType::F8_E5M2);
  EXPECT_EQ(dtype_size(DType::F8_E4M3), 1u);
  EXPECT_EQ(from_scalar_type(to_scalar_type(DType::F8_E5M2)), DType::U8);
  EXPECT_FALSE(parse_dtype("F8_E8M0").has_value());
  EXPECT_FALSE(from_scalar_type(c10::ScalarType::ComplexFloat).has_value());
}

TEST(Safetensors, WriterRejectsBadInput) {
  const std::string p = tmp("bad_write.safetensors");
  EXPECT_TRUE(throws_error([&] { save_safetensors(p, {{"c", at::zeros({2}, at::kComplexFloat)}}); }, {p, "tensor 'c'", "cannot be stored"}));
  EXPECT_TRUE(throws_error([&] { save_safetensors(p, {{"a", at::zeros({2})}, {"a", at::zeros({2})}}); }, {p, "duplicate tensor name 'a'"}));
  EXPECT_TRUE(throws_error([&] { save_safetensors(p, {{"__metadata__", at::zeros({2})}}); }, {p, "reserved"}));
  EXPECT_TRUE(throws_error([&] { save_safetensors("/nonexistent_dir_xyz/a.safetensors", {{"a", at::zeros({2})}}); },
                           {"/nonexistent_dir_xyz/a.safetensors", "cannot write"}));
}

// ---- sharded checkpoint ---------------------------------------------------------------------------------
TEST(Safetensors, ShardedCheckpointLayout) {
  const std::string dir = shared_fixture("wan_checkpoint_layout");
  const std::string index = dir + "/diffusion_pytorch_model.safetensors.index.json";
  const std::string shard1 = dir + "/diffusion_pytorch_model-00001-of-00002.safetensors";
  const std::string shard2 = dir + "/diffusion_pytorch_model-00002-of-00002.safetensors";
  TensorSet set = load_sharded_safetensors(index);
  ASSERT_EQ(set.size(), 119u);
  EXPECT_EQ(set.origin, index);
  int64_t total = 0;
  for (const auto& n : set.names()) {
    EXPECT_EQ(set.get(n).scalar_type(), at::kBFloat16) << n;
    total += set.get(n).numel() * 2;
  }
  EXPECT_EQ(total, 4491136);  // "total_size" of the index
  // A weight and its bias in different shards: routed by weight_map, not by module.
  EXPECT_EQ(set.source("blocks.1.cross_attn.k.weight"), shard1);
  EXPECT_EQ(set.source("blocks.1.cross_attn.k.bias"), shard2);
  EXPECT_EQ(set.source("patch_embedding.weight"), shard1);
  EXPECT_EQ(set.source("head.head.weight"), shard2);
  EXPECT_EQ(set.get("patch_embedding.weight").sizes(), (std::vector<int64_t>{96, 36, 1, 2, 2}));
  EXPECT_EQ(SafetensorsFile::open(shard1)->entries().size(), 60u);
  EXPECT_EQ(SafetensorsFile::open(shard1)->metadata().at("format"), "pt");
  EXPECT_EQ(load_tensor_file(index).size(), 119u);
  // The shards hold the shared DiT weights rounded to BF16.
  TensorSet ref = load_safetensors(focalscope::testing::fixtures_root() + "/wan_dit_i2v_tiny/weights.safetensors");
  for (const auto& n : set.names())
    if (ref.has(n)) EXPECT_TRUE(bits_equal(set.get(n), ref.get(n).to(at::kBFloat16))) << n;
  // WeightLoader converts BF16 to the compute dtype.
  WeightLoader wl(set, "DiT");
  at::Tensor w = wl.take("patch_embedding.weight", {96, 36, 1, 2, 2});
  EXPECT_EQ(w.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(w, set.get("patch_embedding.weight").to(at::kFloat)));
}

TEST(Safetensors, ShardedErrors) {
  const std::string dir = focalscope::testing::temp_dir("shards");
  save_safetensors(dir + "/a.safetensors", {{"x", at::ones({2})}, {"y", at::ones({3})}});
  save_safetensors(dir + "/b.safetensors", {{"z", at::ones({4})}});
  auto index = [&](const std::string& name, const nlohmann::json& wm) {
    const std::string p = dir + "/" + name;
    write_file(p, nlohmann::json{{"metadata", {{"total_size", 36}}}, {"weight_map", wm}}.dump());
    return p;
  };
  // Good index.
  std::string p = index("good.index.json", {{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}});
  TensorSet s = load_sharded_safetensors(p);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.source("z"), dir + "/b.safetensors");

  p = index("missing_shard.index.json", {{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "c.safetensors"}});
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(p); }, {p, "shard 'c.safetensors'", "tensor 'z'", "does not exist"}));

  p = index("absent.index.json", {{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}, {"w", "b.safetensors"}});
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(p); }, {dir + "/b.safetensors", "tensor 'w'", "is listed in the index"}));

  p = index("unlisted.index.json", {{"x", "a.safetensors"}, {"z", "b.safetensors"}});
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(p); }, {dir + "/a.safetensors", "tensor 'y'", "is not listed in"}));

  p = index("wrong_shard.index.json", {{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "a.safetensors"}});
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(p); }, {"tensor 'z'"}));

  p = index("escape.index.json", {{"x", "../a.safetensors"}});
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(p); }, {p, "points outside the folder"}));

  p = dir + "/broken.index.json";
  write_file(p, "{\"weight_map\": {\"x\": ");
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(p); }, {p, "not valid JSON"}));
  write_file(p, "{\"metadata\": {}}");
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(p); }, {p, "no \"weight_map\""}));
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(dir + "/none.index.json"); }, {dir + "/none.index.json", "cannot open"}));

  // A corrupt shard is reported with the shard's name.
  write_file(dir + "/a.safetensors", "abc");
  p = index("corrupt_shard.index.json", {{"x", "a.safetensors"}, {"y", "a.safetensors"}, {"z", "b.safetensors"}});
  EXPECT_TRUE(throws_error([&] { load_sharded_safetensors(p); }, {dir + "/a.safetensors", "shorter than the 8-byte header"}));
}

// ---- corrupt single files ---------------------------------------------------------------------------------
TEST(Safetensors, CorruptFilesNameTheFileAndTensor) {
  const std::string d16(16, '\x01');
  std::string p;
  auto expect = [&](const std::string& name, const std::string& contents, const std::vector<std::string>& needles) {
    p = tmp(name);
    write_file(p, contents);
    std::vector<std::string> n = needles;
    n.push_back(p);
    EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(p); }, n)) << name;
    EXPECT_TRUE(throws_error([&] { load_safetensors(p); }, n)) << name;
  };
  expect("short.safetensors", "abcde", {"5 bytes, shorter than the 8-byte header length"});
  expect("empty.safetensors", "", {"0 bytes"});
  {
    std::string s = raw_safetensors("{}", "");
    s[0] = '\x40';  // header length 64, file has 2 header bytes
    expect("hlen.safetensors", s, {"header length 64 exceeds the file size 10"});
    s[7] = '\x80';  // absurd 2^63+64
    expect("hlen_huge.safetensors", s, {"exceeds the file size"});
  }
  expect("json.safetensors", raw_safetensors("{\"a\": {\"dtype\": \"F32\",", d16), {"header is not valid JSON"});
  expect("notobj.safetensors", raw_safetensors("[1,2]", d16), {"header is not a JSON object"});
  expect("dtype.safetensors",
         raw_safetensors(R"({"w": {"dtype": "F8", "shape": [4], "data_offsets": [0, 4]}})", d16),
         {"tensor 'w'", "unknown dtype 'F8'"});
  expect("fields.safetensors", raw_safetensors(R"({"w": {"dtype": "F32", "shape": [4]}})", d16),
         {"tensor 'w'", "needs dtype, shape and data_offsets"});
  expect("negshape.safetensors",
         raw_safetensors(R"({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}})", d16),
         {"tensor 'w'", "negative dimension"});
  expect("outside.safetensors",
         raw_safetensors(R"({"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}})", d16),
         {"tensor 'w'", "data_offsets [0,32) run past the data section of 16 bytes"});
  expect("backwards.safetensors",
         raw_safetensors(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", d16),
         {"tensor 'w'", "begin > end"});
  expect("negoffset.safetensors",
         raw_safetensors(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", d16),
         {"tensor 'w'", "non-negative integers"});
  expect("overlap.safetensors",
         raw_safetensors(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", d16),
         {"tensor 'b'", "data overlaps tensor 'a'"});
  // An empty tensor sorted between two overlapping ones must not hide the overlap.
  expect("overlap_empty.safetensors",
         raw_safetensors(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                             "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                             "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", d16),
         {"tensor 'b'", "data overlaps tensor 'a'"});
  expect("span.safetensors",
         raw_safetensors(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}})", d16),
         {"tensor 'w'", "shape [4] x F32 needs 16 bytes but data_offsets span 12"});
  expect("span_bf16.safetensors",
         raw_safetensors(R"({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 16]}})", d16),
         {"tensor 'w'", "x BF16 needs 8 bytes but data_offsets span 16"});
  expect("metadata.safetensors",
         raw_safetensors(R"({"__metadata__": {"format": 1}})", ""), {"__metadata__ value 'format' is not a string"});
  // Issue 28: what the format forbids but a lenient reader would accept silently.
  expect("duplicate.safetensors",
         raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", d16),
         {"header is not valid JSON", "duplicate key \"w\""});
  expect("hole.safetensors",
         raw_safetensors(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                             "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", d16),
         {"tensor 'b'", "4 unexplained bytes before it (a hole)"});
  expect("trailing.safetensors",
         raw_safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", d16),
         {"8 trailing bytes after the last tensor's data"});
  expect("rank.safetensors",
         raw_safetensors(R"({"a": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,16], "data_offsets": [0, 16]}})", d16),
         {"tensor 'a'", "17 dimensions, more than the limit of 16"});
  expect("overflow.safetensors",
         raw_safetensors(R"({"a": {"dtype": "F64", "shape": [4294967296, 4294967296, 2], "data_offsets": [0, 16]}})", d16),
         {"tensor 'a'", "needs more than 2^64 bytes"});
  expect("extra_field.safetensors",
         raw_safetensors(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16], "offset": 3}})", d16),
         {"tensor 'a'", "unexpected field 'offset'"});
  expect("deep.safetensors", raw_safetensors(std::string(100000, '[') + std::string(100000, ']'), d16),
         {"header is not valid JSON", "nested deeper than"});

  // A valid file with its last bytes cut off.
  const std::string good = tmp("good.safetensors");
  save_safetensors(good, {{"first", at::ones({4, 4})}, {"last.weight", at::ones({8})}});
  const std::string bytes = read_file(good);
  for (size_t cut : {1, 4, 31}) {
    expect("truncated.safetensors", bytes.substr(0, bytes.size() - cut),
           {"tensor 'last.weight'", "run past the data section", "file truncated?"});
  }
  // Cut inside the header.
  expect("truncated_header.safetensors", bytes.substr(0, 20), {"exceeds the file size"});
  EXPECT_TRUE(throws_error([&] { load_safetensors(tmp("missing.safetensors")); }, {tmp("missing.safetensors"), "cannot open"}));
  EXPECT_TRUE(throws_error([&] { load_safetensors(focalscope::testing::temp_dir("safetensors")); }, {"not a regular file"}));
  EXPECT_TRUE(throws_error([&] { load_tensor_file(tmp("x.onnx")); }, {tmp("x.onnx"), "file not found"}));
  write_file(tmp("x.onnx"), "abc");
  EXPECT_TRUE(throws_error([&] { load_tensor_file(tmp("x.onnx")); }, {tmp("x.onnx"), "unknown weight file type"}));
}

TEST(Safetensors, MisalignedDataIsCopied) {
  // Header of odd length: the F32 data starts at an address that is not 4-byte aligned.
  std::vector<float> v = {1.5f, -2.0f, 3.25f};
  std::string data(reinterpret_cast<const char*>(v.data()), 12);
  const std::string p = tmp("misaligned.safetensors");
  std::string header = R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}})";
  while ((8 + header.size()) % 4 != 1) header += ' ';
  write_file(p, raw_safetensors(header, data));
  TensorSet s = load_safetensors(p);
  EXPECT_TRUE(at::equal(s.get("w"), at::tensor(v)));
}

// ---- WeightLoader -------------------------------------------------------------------------------------------
TEST(WeightLoader, ReportsMissingMisshapedWronglyTypedNonFiniteAndUnexpected) {
  const std::string p = tmp("model.safetensors");
  at::Tensor nan = at::ones({2, 2});
  nan[1][0].fill_(std::numeric_limits<float>::quiet_NaN());
  at::Tensor inf = at::ones({3}).to(at::kBFloat16);
  inf[2].fill_(std::numeric_limits<float>::infinity());
  save_safetensors(p, {{"enc.weight", at::randn({2, 3})},
                       {"enc.bias", at::randn({2}).to(at::kHalf)},
                       {"enc.ids", at::arange(4, at::kLong)},
                       {"enc.nan", nan},
                       {"enc.inf", inf},
                       {"textual.a", at::zeros({1})},
                       {"textual.b", at::zeros({1})},
                       {"extra.thing", at::zeros({1})}});
  TensorSet set = load_safetensors(p);
  WeightLoader wl(set, "Toy");
  EXPECT_EQ(wl.dtype(), at::kFloat);
  EXPECT_TRUE(wl.has("enc.weight"));
  EXPECT_FALSE(wl.has("enc.nope"));
  EXPECT_EQ(wl.shape_of("enc.weight"), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(throws_error([&] { wl.shape_of("enc.nope"); }, {p, "Toy tensor 'enc.nope' is missing"}));

  at::Tensor w = wl.take("enc.weight", {2, 3});
  EXPECT_TRUE(at::equal(w, set.get("enc.weight")));
  EXPECT_NE(w.data_ptr(), set.get("enc.weight").data_ptr());  // an owned copy, not a view of the mapping
  at::Tensor b = wl.take("enc.bias", {2});
  EXPECT_EQ(b.scalar_type(), at::kFloat);  // F16 converted
  at::Tensor ids = wl.take_raw("enc.ids", {4});
  EXPECT_EQ(ids.scalar_type(), at::kLong);

  EXPECT_TRUE(throws_error([&] { wl.take("enc.missing", {1}); }, {p, "Toy tensor 'enc.missing' is missing"}));
  EXPECT_TRUE(throws_error([&] { wl.take("enc.weight", {3, 2}); }, {p, "Toy tensor 'enc.weight' has shape [2,3], expected [3,2]"}));
  EXPECT_TRUE(throws_error([&] { wl.take_raw("enc.ids", {2, 2}); }, {p, "has shape [4], expected [2,2]"}));
  EXPECT_TRUE(throws_error([&] { wl.take("enc.ids", {4}); }, {p, "Toy tensor 'enc.ids' has dtype Long, expected a floating-point type"}));
  EXPECT_TRUE(throws_error([&] { wl.take("enc.nan", {2, 2}); }, {p, "Toy tensor 'enc.nan' contains NaN or Inf"}));
  EXPECT_TRUE(throws_error([&] { wl.take("enc.inf", {3}); }, {p, "Toy tensor 'enc.inf' contains NaN or Inf"}));

  // finish(): the first tensor nobody claimed, unless ignored.
  WeightLoader strict(set, "Toy");
  strict.take("enc.weight", {2, 3});
  EXPECT_TRUE(throws_error([&] { strict.finish(); }, {p, "unexpected Toy tensor"}));
  WeightLoader wl2(set, "Toy");
  wl2.take("enc.weight", {2, 3});
  wl2.take("enc.bias", {2});
  wl2.take_raw("enc.ids", {4});
  wl2.ignore("enc.nan");
  wl2.ignore("enc.inf");
  wl2.ignore_prefix("textual.");
  EXPECT_TRUE(throws_error([&] { wl2.finish(); }, {p, "unexpected Toy tensor 'extra.thing'"}));
  wl2.ignore("extra.thing");
  EXPECT_NO_THROW(wl2.finish());

  // Other compute dtypes.
  WeightLoader half(set, "Toy", at::kBFloat16);
  EXPECT_EQ(half.take("enc.weight", {2, 3}).scalar_type(), at::kBFloat16);
}

TEST(WeightLoader, TensorSetPrefixAndDuplicates) {
  TensorSet s;
  s.origin = "mem";
  s.add("visual.a", at::zeros({1}), "one.pth");
  s.add("visual.b.c", at::zeros({2}), "one.pth");
  s.add("textual.a", at::zeros({3}), "one.pth");
  EXPECT_TRUE(throws_error([&] { s.add("visual.a", at::zeros({1}), "two.pth"); }, {"two.pth", "tensor 'visual.a' also appears in one.pth"}));
  TensorSet v = s.with_prefix("visual.");
  EXPECT_EQ(v.names(), (std::vector<std::string>{"a", "b.c"}));
  EXPECT_EQ(v.source("b.c"), "one.pth");
  EXPECT_EQ(shape_str(std::vector<int64_t>{96, 36, 1, 2, 2}), "[96,36,1,2,2]");
  EXPECT_EQ(shape_str(std::vector<int64_t>{}), "[]");
}
